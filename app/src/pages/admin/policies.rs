//! `/admin/policies`: what each Sell.app product (or variant) buys. A variant's own policy wins
//! over its product's; an order with no policy waits in the webhook inbox until one is added.

use leptos::prelude::*;

use crate::components::field::FormError;
use crate::payments_api::{CreatePolicy, DeletePolicy, UpdatePolicy, list_policies};

#[component]
pub fn PoliciesPage() -> impl IntoView {
    let create = ServerAction::<CreatePolicy>::new();
    let delete = ServerAction::<DeletePolicy>::new();
    let update = ServerAction::<UpdatePolicy>::new();
    let data = Resource::new(
        move || (create.version().get(), delete.version().get(), update.version().get()),
        |_| list_policies(),
    );
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    let field_error = move |name: &'static str| move || error.get().and_then(|e| e.for_field(name));
    view! {
        <h1>"Access policies"</h1>
        <p class="muted">"Which tier, for how many days, each Sell.app product buys. Leave the variant empty for the whole product."</p>
        <Transition fallback=|| view! { <p class="muted">"Loading policies…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(v) => {
                        let tiers = v.tiers.clone();
                        view! {
                        <ActionForm action=create attr:class="form">
                            <div class="field">
                                <label for="policy-product">"Sell.app product id"</label>
                                <input id="policy-product" name="product_id" required=true />
                                <p class="field-error" data-testid="error-product_id">{field_error("product_id")}</p>
                            </div>
                            <div class="field">
                                <label for="policy-variant">"Variant id (optional)"</label>
                                <input id="policy-variant" name="variant_id" />
                                <p class="field-error" data-testid="error-variant_id">{field_error("variant_id")}</p>
                            </div>
                            <div class="field">
                                <label for="policy-tier">"Tier"</label>
                                <select id="policy-tier" name="tier">
                                    {v.tiers.into_iter().map(|t| view! { <option value=t.id>{t.name}</option> }).collect_view()}
                                </select>
                            </div>
                            <div class="field">
                                <label for="policy-days">"Days"</label>
                                <input id="policy-days" name="days" type="number" min="1" max="3650" value="30" required=true />
                                <p class="field-error" data-testid="error-days">{field_error("days")}</p>
                            </div>
                            <FormError error />
                            <button type="submit" class="button primary" data-testid="create-policy" disabled=create.pending()>
                                {move || if create.pending().get() { "Saving…" } else { "Add policy" }}
                            </button>
                        </ActionForm>
                        {if v.policies.is_empty() {
                            view! { <p class="muted" data-testid="policies-empty">"No policies yet: paid orders will wait in the webhook inbox until one matches."</p> }.into_any()
                        } else {
                            view! {
                                <table class="table" data-testid="policies">
                                    <thead><tr><th>"Product"</th><th>"Variant"</th><th>"Tier"</th><th>"Days"</th><th>"Change"</th><th></th></tr></thead>
                                    <tbody>
                                        {v.policies.into_iter().map(|p| {
                                            let options: Vec<(String, String, bool)> = tiers
                                                .iter()
                                                .map(|t| (t.id.clone(), t.name.clone(), t.id == p.tier_id))
                                                .collect();
                                            let (update_id, delete_id) = (p.id.clone(), p.id.clone());
                                            view! {
                                            <tr data-testid="policy">
                                                <td>{p.product_id}</td>
                                                <td>{if p.variant_id.is_empty() { "any".to_owned() } else { p.variant_id }}</td>
                                                <td>{p.tier}</td>
                                                <td>{p.days}</td>
                                                <td>
                                                    <ActionForm action=update attr:class="inline">
                                                        <input type="hidden" name="id" value=update_id />
                                                        <select name="tier" aria-label="New tier">
                                                            {options.into_iter().map(|(id, name, selected)| view! {
                                                                <option value=id selected=selected>{name}</option>
                                                            }).collect_view()}
                                                        </select>
                                                        <input name="days" type="number" min="1" max="3650" value=p.days.to_string() aria-label="New days" />
                                                        <button type="submit" class="button small">"Save"</button>
                                                    </ActionForm>
                                                </td>
                                                <td>
                                                    <ActionForm action=delete>
                                                        <input type="hidden" name="id" value=delete_id />
                                                        <button type="submit" class="button small">"Remove"</button>
                                                    </ActionForm>
                                                </td>
                                            </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                        }.into_any()
                    }
                    Err(e) => view! { <crate::components::load_error::LoadError e /> }.into_any(),
                }
            })}
        </Transition>
    }
}
