//! An embed laid out as Discord lays it out: the colour bar, author, linked title, description
//! (markdown), fields (inline ones three to a row), thumbnail on the right, image, footer and
//! time. The page's CSP forbids inline styles, so the bar's colour is an SVG `fill` made from the
//! embed's integer colour.

use leptos::prelude::*;

use crate::components::message_body::{Names, markdown};
use crate::components::time::LocalTime;
use crate::embed::{Embed, Named};

const LINK_REL: &str = "noopener noreferrer nofollow";

#[component]
pub fn Embeds(embeds: Vec<Embed>, names: Names) -> impl IntoView {
    embeds
        .into_iter()
        .map(|e| view! { <EmbedView e names=names.clone() /> })
        .collect_view()
}

#[component]
fn EmbedView(e: Embed, names: Names) -> impl IntoView {
    let bar = e.colour.clone().map(|fill| {
        view! {
            <svg class="embed-bar" aria-hidden="true" viewBox="0 0 4 4" preserveAspectRatio="none">
                <rect width="4" height="4" fill=fill />
            </svg>
        }
    });
    let title = e.title.clone().map(|t| match e.url.clone() {
        Some(href) => view! {
            <p class="embed-title"><a href=href target="_blank" rel=LINK_REL>{t}</a></p>
        }
        .into_any(),
        None => view! { <p class="embed-title">{t}</p> }.into_any(),
    });
    let description = e
        .description
        .as_deref()
        .map(|d| view! { <div class="embed-description">{markdown(d, &names)}</div> });
    let fields = (!e.fields.is_empty()).then(|| {
        let items = e
            .fields
            .iter()
            .map(|f| {
                let class = if f.inline { "embed-field inline" } else { "embed-field" };
                view! {
                    <div class=class data-testid="embed-field">
                        <div class="embed-field-name">{f.name.clone()}</div>
                        <div class="embed-field-value">{markdown(&f.value, &names)}</div>
                    </div>
                }
            })
            .collect_view();
        view! { <div class="embed-fields">{items}</div> }
    });
    let footer = (e.footer.is_some() || e.timestamp.is_some()).then(|| {
        view! {
            <p class="embed-footer">
                {e.footer.clone().map(|f| view! { {icon(&f)}<span>{f.text}</span> })}
                {(e.footer.is_some() && e.timestamp.is_some()).then_some(" • ")}
                {e.timestamp.map(|unix| view! { <LocalTime unix style='f' /> })}
            </p>
        }
    });
    view! {
        <article class="embed" data-testid="embed" data-colour=e.colour.clone()>
            {bar}
            <div class="embed-body">
                <div class="embed-main">
                    {e.author.clone().map(|a| view! { <p class="embed-author">{icon(&a)}{author_name(a)}</p> })}
                    {title}
                    {description}
                    {fields}
                </div>
                {e.thumbnail.clone().map(|src| view! {
                    <img class="embed-thumbnail" src=src alt="" loading="lazy" width="80" height="80" />
                })}
            </div>
            {e.image.clone().map(|src| view! { <img class="embed-image" src=src alt="Embedded image" loading="lazy" /> })}
            {footer}
        </article>
    }
}

fn icon(n: &Named) -> Option<impl IntoView + use<>> {
    n.icon
        .clone()
        .map(|src| view! { <img class="embed-icon" src=src alt="" width="20" height="20" loading="lazy" /> })
}

fn author_name(a: Named) -> AnyView {
    match a.url {
        Some(href) => view! { <a href=href target="_blank" rel=LINK_REL>{a.text}</a> }.into_any(),
        None => view! { <span>{a.text}</span> }.into_any(),
    }
}
