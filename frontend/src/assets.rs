//! The names of the dashboard's built files.
//!
//! A release build (`./scripts/run.sh`) gives the script, the wasm and the stylesheet names
//! with a hash of their content (`roster.<hash>.css`) and writes the hashes to `hash.txt` next
//! to the server binary (cargo-leptos does both); the server then serves them with a cache
//! lifetime of a year, because a changed file gets a new name. A debug build keeps the plain
//! names (`roster.css`), and the server asks browsers to check them on every load.

#[cfg(feature = "ssr")]
use std::sync::OnceLock;

/// What the release build wrote: the hash of each built file, by kind (`js`, `wasm`, `css`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hashes {
    pub js: Option<String>,
    pub wasm: Option<String>,
    pub css: Option<String>,
}

impl Hashes {
    /// Reads cargo-leptos' `hash.txt` (`js: …`, `wasm: …`, `css: …`, one per line).
    pub fn parse(text: &str) -> Hashes {
        let mut out = Hashes::default();
        for line in text.lines() {
            let Some((kind, hash)) = line.split_once(':') else { continue };
            let hash = hash.trim();
            // A hash is base64url: anything else is not ours and not used in a file name.
            if hash.is_empty() || !hash.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                continue;
            }
            match kind.trim() {
                "js" => out.js = Some(hash.to_string()),
                "wasm" => out.wasm = Some(hash.to_string()),
                "css" => out.css = Some(hash.to_string()),
                _ => {}
            }
        }
        out
    }

    /// Whether the build hashed its files (all three are named by hash).
    pub fn complete(&self) -> bool {
        self.js.is_some() && self.wasm.is_some() && self.css.is_some()
    }

    /// The stylesheet's file name.
    pub fn stylesheet(&self, output_name: &str) -> String {
        match &self.css {
            Some(hash) => format!("{output_name}.{hash}.css"),
            None => format!("{output_name}.css"),
        }
    }
}

/// The hashes of the build this server runs with: `hash.txt` next to the running binary
/// (where Leptos' own hydration scripts look too), read once. Empty for a debug build.
#[cfg(feature = "ssr")]
pub fn built() -> &'static Hashes {
    static HASHES: OnceLock<Hashes> = OnceLock::new();
    HASHES.get_or_init(|| {
        let path = std::env::current_exe().ok().and_then(|exe| exe.parent().map(|dir| dir.join("hash.txt")));
        path.and_then(|p| std::fs::read_to_string(p).ok()).map(|text| Hashes::parse(&text)).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_hash_file_of_a_release_build() {
        let h = Hashes::parse("js: Ab-1_x\nwasm: Zz9\ncss: c55\n");
        assert!(h.complete());
        assert_eq!(h.stylesheet("roster"), "roster.c55.css");
        assert_eq!(h.js.as_deref(), Some("Ab-1_x"));
    }

    #[test]
    fn without_hashes_files_keep_their_names() {
        let h = Hashes::parse("");
        assert!(!h.complete());
        assert_eq!(h.stylesheet("roster"), "roster.css");
        // Nothing that could leave the file name is taken.
        let h = Hashes::parse("css: ../../etc\njs: a b\n");
        assert_eq!(h, Hashes::default());
    }
}
