//! What keeps text from outside from running as script in the dashboard.
//!
//! Text from IdPs, sign-ups and admins reaches the page through Leptos views, which escape text
//! and attribute values, and through hydration data, which Leptos escapes too. Two places need
//! our help:
//! * the page `<title>`: `leptos_meta` writes the title into the server-rendered head without
//!   escaping it, so the one title formatter of the app ([`title`]) escapes it on the server (the
//!   browser sets `document.title` as text, so there it must stay as it is);
//! * the Content-Security-Policy: no inline script runs but Leptos' own hydration scripts, which
//!   carry the nonce Leptos makes for each response ([`content_security_policy`]). A page whose
//!   escaping failed somewhere would still not run an injected `<script>` or `onerror=`.

/// The page title for a page's title text (the app's `<Title formatter>`).
pub fn title(text: String) -> String {
    let full = if text.is_empty() { "Roster".to_string() } else { format!("{text} · Roster") };
    if cfg!(feature = "ssr") {
        escape_html(&full)
    } else {
        full
    }
}

/// `&`, `<`, `>`, `"` and `'` as entities.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The policy of a dashboard page whose inline scripts carry `nonce` (`None`: no inline script
/// at all, for responses Leptos did not render).
pub fn policy(nonce: Option<&str>) -> String {
    let inline = nonce.map(|n| format!(" 'nonce-{n}'")).unwrap_or_default();
    format!(
        "default-src 'self'; script-src 'self'{inline} 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
}

/// Sets the Content-Security-Policy of the page being rendered, with this render's nonce.
/// Called from the shell, on the server; the browser has nothing to do here.
pub fn content_security_policy() {
    #[cfg(feature = "ssr")]
    {
        use leptos::prelude::use_context;
        let nonce = leptos::nonce::use_nonce();
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            if let Ok(value) = http::HeaderValue::from_str(&policy(nonce.as_deref())) {
                res.insert_header(http::header::CONTENT_SECURITY_POLICY, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_escaped_on_the_server() {
        let t = title("</title><script>alert(1)</script>".into());
        assert!(!t.contains('<'), "{t}");
        assert_eq!(t, "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt; · Roster");
        assert_eq!(title(String::new()), "Roster");
    }

    #[test]
    fn the_policy_allows_only_nonced_inline_script() {
        let p = policy(Some("abc"));
        assert!(p.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"));
        let script_src = p.split(';').find(|d| d.trim_start().starts_with("script-src")).unwrap_or_default();
        assert!(!script_src.contains("unsafe-inline"), "{script_src}");
        assert!(p.contains("frame-ancestors 'none'"));
        assert!(!policy(None).contains("nonce"));
    }
}
