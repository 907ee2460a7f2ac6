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
    /// Receives the password's length in characters as it is typed (with `blank`, what
    /// `policy::password_shape_problem` looks at).
    #[prop(optional)]
    chars: Option<RwSignal<usize>>,
    /// Receives whether the password typed so far is only whitespace.
    #[prop(optional)]
    blank: Option<RwSignal<bool>>,
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
                    if chars.is_some() || blank.is_some() {
                        let value = event_target_value(&ev);
                        if let Some(c) = chars {
                            c.set(value.chars().count());
                        }
                        if let Some(b) = blank {
                            b.set(value.trim().is_empty());
                        }
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
