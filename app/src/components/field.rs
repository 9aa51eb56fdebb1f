//! A labelled form input with its error message right under it.

use leptos::prelude::*;

use crate::error::AppError;

/// `error` is the last action result; the field shows the message if it is about `name`.
#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "")] autocomplete: &'static str,
    #[prop(into)] error: Signal<Option<AppError>>,
) -> impl IntoView {
    let message = move || error.get().and_then(|e| e.for_field(name));
    let id = format!("field-{name}");
    let error_id = format!("{id}-error");
    view! {
        <div class="field">
            <label for=id.clone()>{label}</label>
            <input
                id=id
                name=name
                type=kind
                autocomplete=autocomplete
                required=true
                aria-invalid=move || message().is_some().to_string()
                aria-describedby=error_id.clone()
            />
            <p class="field-error" id=error_id data-testid=format!("error-{name}")>
                {message}
            </p>
        </div>
    }
}

/// A form-level error (anything not about one field), e.g. wrong credentials or throttling.
#[component]
pub fn FormError(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    let message = move || {
        error
            .get()
            .filter(|e| !matches!(e, AppError::Invalid { .. }))
            .map(|e| e.to_string())
    };
    view! {
        <p class="form-error" role="alert" data-testid="form-error">
            {message}
        </p>
    }
}
