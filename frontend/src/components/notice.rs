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

/// A server function's error; one that names an existing thing links to it.
#[component]
pub fn UiErrorNotice(error: crate::error::UiError) -> impl IntoView {
    match error {
        crate::error::UiError::Exists { message, href } => view! {
            <div class="notice notice-error" role="alert" data-testid="exists-error">
                <span class="notice-icon" aria-hidden="true">"!"</span>
                <span>{message} " " <a href=href>"Open their page"</a> " or choose another user name."</span>
            </div>
        }
        .into_any(),
        other => view! { <ErrorNotice message=other.to_string()/> }.into_any(),
    }
}
