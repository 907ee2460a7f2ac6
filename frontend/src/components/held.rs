//! A held change's times, as the safety page and the support console list them.

use leptos::prelude::*;

use super::format::datetime;

/// When the change was first held (`first_ms`) and, below it, when the identity provider asked
/// for it again (`again_ms`: `HeldChange::asked_again_at_ms`).
#[component]
pub fn HeldSince(first_ms: i64, again_ms: Option<i64>) -> impl IntoView {
    let again = again_ms.map(|at| {
        view! { <div class="muted small" data-testid="held-asked-again">{format!("asked again {}", datetime(at))}</div> }
    });
    view! { {datetime(first_ms)} {again} }
}
