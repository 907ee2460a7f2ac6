//! A password field with a show/hide toggle (works once the page is hydrated; without
//! JavaScript it is a plain password field).

use leptos::prelude::*;
use roster_shared::policy::password_shape_problem;

/// What the password policy looks at of a password being typed (`policy::password_shape_problem`):
/// its length in characters and whether it is only whitespace. Two small signals, not a copy of
/// the text: a `String` signal brings code of its own into a page's wasm, where `usize` and
/// `bool` signals share the sign-in page's.
#[derive(Clone, Copy)]
pub struct PasswordShape {
    /// Characters typed.
    pub chars: RwSignal<usize>,
    /// Only whitespace (or nothing) typed.
    pub blank: RwSignal<bool>,
}

impl PasswordShape {
    /// An empty password's shape.
    pub fn new() -> Self {
        Self { chars: RwSignal::new(0), blank: RwSignal::new(true) }
    }

    /// The policy's message for the password typed so far, if it is refused (reactive).
    pub fn problem(self) -> Option<String> {
        password_shape_problem(self.chars.get(), self.blank.get())
    }
}

impl Default for PasswordShape {
    fn default() -> Self {
        Self::new()
    }
}

/// A labelled password input named `name`.
#[component]
pub fn PasswordInput(
    /// The form field name (the server function's argument).
    name: &'static str,
    /// The element id (for the label).
    id: &'static str,
    /// `current-password` or `new-password`.
    autocomplete: &'static str,
    /// Receives the password's shape as it is typed.
    #[prop(optional)]
    shape: Option<PasswordShape>,
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
                    if let Some(shape) = shape {
                        let value = event_target_value(&ev);
                        shape.chars.set(value.chars().count());
                        shape.blank.set(value.trim().is_empty());
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
