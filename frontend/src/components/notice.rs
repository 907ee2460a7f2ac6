//! Inline messages: errors and confirmations next to the thing they are about.

use leptos::prelude::*;

/// An error message for a form (announced to screen readers).
#[component]
pub fn ErrorNotice(#[prop(into)] message: String) -> impl IntoView {
    view! {
        <div class="notice notice-error" role="alert">
            <span class="notice-icon" aria-hidden="true">"!"</span>
            <span>{message}</span>
        </div>
    }
}

/// A confirmation that something worked.
#[component]
pub fn SuccessNotice(#[prop(into)] message: String) -> impl IntoView {
    view! {
        <div class="notice notice-success" role="status">
            <span class="notice-icon notice-icon-ok" aria-hidden="true">"✓"</span>
            <span>{message}</span>
        </div>
    }
}
