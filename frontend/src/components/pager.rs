//! "Previous · Page 2 of 7 · Next" under a paged list.

use leptos::prelude::*;

/// How many pages `total` items make at `page_size` a page (at least one).
pub fn page_count(total: i64, page_size: u32) -> i64 {
    let size = i64::from(page_size.max(1));
    ((total + size - 1) / size).max(1)
}

/// The buttons that move `page` (1-based) between 1 and `pages` (further when `more`: a search
/// stopped counting, more pages follow).
#[component]
pub fn PageButtons(current: u32, pages: i64, page: RwSignal<u32>, #[prop(optional)] more: bool) -> impl IntoView {
    let of = if more { format!("{pages}+") } else { pages.to_string() };
    view! {
        <button type="button" class="btn btn-ghost btn-small" disabled={current <= 1}
            on:click=move |_| page.set(current.saturating_sub(1).max(1))>"Previous"</button>
        <span class="muted small">" Page " {current} " of " {of} " "</span>
        <button type="button" class="btn btn-ghost btn-small" disabled={!more && i64::from(current) >= pages}
            on:click=move |_| page.set(current + 1)>"Next"</button>
    }
}

#[cfg(test)]
mod tests {
    use super::page_count;

    #[test]
    fn pages_round_up_and_never_go_below_one() {
        assert_eq!(page_count(0, 50), 1);
        assert_eq!(page_count(50, 50), 1);
        assert_eq!(page_count(51, 50), 2);
        assert_eq!(page_count(10, 0), 10);
    }
}
