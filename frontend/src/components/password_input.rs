//! A password field with a show/hide toggle (works once the page is hydrated; without
//! JavaScript it is a plain password field).

use leptos::prelude::*;

/// A labelled password input named `name`.
#[component]
pub fn PasswordInput(
    /// The form field name (the server function's argument).
    name: &'static str,
    /// The element id (for the label).
    id: &'static str,
    /// `current-password` or `new-password`.
    autocomplete: &'static str,
    /// Receives the value as it is typed.
    #[prop(optional)]
    value: Option<RwSignal<String>>,
    /// The minimum length the browser enforces, if any.
    #[prop(optional)]
    minlength: Option<usize>,
) -> impl IntoView {
    let shown = RwSignal::new(false);
    view! {
        <div class="password-field">
            <input
                id=id
                name=name
                type=move || if shown.get() { "text" } else { "password" }
                autocomplete=autocomplete
                required=true
                minlength=minlength
                on:input=move |ev| {
                    if let Some(v) = value {
                        v.set(event_target_value(&ev));
                    }
                }
            />
            <button
                type="button"
                class="password-toggle"
                aria-controls=id
                aria-pressed=move || if shown.get() { "true" } else { "false" }
                on:click=move |_| shown.update(|s| *s = !*s)
            >
                {move || if shown.get() { "Hide" } else { "Show" }}
            </button>
        </div>
    }
}
