//! `/admin/users`: every account, newest first, searchable by email, 25 to a page.
//! Search and paging are plain links and a GET form, so the page works before the wasm loads.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::admin_api::list_users;
use crate::components::time::short_utc;

#[component]
pub fn UsersPage() -> impl IntoView {
    let query = use_query_map();
    let q = move || query.read().get("q").unwrap_or_default();
    let page = move || {
        query
            .read()
            .get("page")
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(1)
            .max(1)
    };
    let users = Resource::new(move || (q(), page()), |(q, page)| list_users(q, page - 1));

    view! {
        <h1>"Users"</h1>
        <form method="get" action="/admin/users" class="search" role="search">
            <label for="user-search" class="visually-hidden">"Search by email"</label>
            <input id="user-search" type="search" name="q" placeholder="Search by email" value=q />
            <button type="submit" class="button">"Search"</button>
        </form>
        <Transition fallback=|| view! { <p class="muted">"Loading users…"</p> }>
            {move || Suspend::new(async move {
                match users.await {
                    Ok(list) if list.users.is_empty() => view! {
                        <p class="muted" data-testid="users-empty">"No users match this search."</p>
                    }.into_any(),
                    Ok(list) => {
                        let shown_page = list.page + 1;
                        let link = move |p: u64| format!("/admin/users?q={}&page={p}", q().replace('&', "%26"));
                        view! {
                            <p class="muted">{format!("{} user(s)", list.total)}</p>
                            <table class="table" data-testid="users-table">
                                <thead><tr><th>"Email"</th><th>"Role"</th><th>"Created"</th><th>"Last seen"</th></tr></thead>
                                <tbody>
                                    {list.users.into_iter().map(|u| view! {
                                        <tr>
                                            <td>{u.email}</td>
                                            <td>{u.role}</td>
                                            <td>{short_utc(&u.created_at)}</td>
                                            <td>{u.last_seen_at.as_deref().map(short_utc).unwrap_or_else(|| "never".into())}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                            <nav class="pager" aria-label="Pages">
                                {(shown_page > 1).then(|| view! { <a href=link(shown_page - 1)>"← Newer"</a> })}
                                <span>{format!("Page {shown_page} of {}", list.pages)}</span>
                                {(shown_page < list.pages).then(|| view! { <a href=link(shown_page + 1)>"Older →"</a> })}
                            </nav>
                        }.into_any()
                    }
                    Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                }
            })}
        </Transition>
    }
}
