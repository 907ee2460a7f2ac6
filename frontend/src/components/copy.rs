//! A value to copy (a URL, a token) with a Copy button.

use leptos::prelude::*;

/// The value in a monospace box, with a button that copies it to the clipboard and says so.
#[component]
pub fn CopyField(
    /// The value.
    #[prop(into)]
    value: String,
    /// The accessible label of the box and button.
    #[prop(into)]
    label: String,
    /// The test id of the value.
    #[prop(into, optional)]
    testid: String,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let text = value.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let clipboard = window().navigator().clipboard();
            let _ = clipboard.write_text(&text);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
        copied.set(true);
        set_timeout(move || copied.set(false), std::time::Duration::from_millis(2000));
    };
    view! {
        <div class="copy-field">
            <code class="copy-value" aria-label=label.clone() data-testid=testid>{value}</code>
            <button type="button" class="btn btn-ghost btn-small" on:click=copy aria-label=format!("Copy {label}")>
                {move || if copied.get() { "Copied" } else { "Copy" }}
            </button>
        </div>
    }
}
