//! The names of the dashboard's built files.
//!
//! A release build (`./scripts/run.sh`) gives the script, the wasm and the stylesheet names
//! with a hash of their content (`roster.<hash>.css`) and writes the hashes to `hash.txt` next
//! to the server binary (cargo-leptos does both); the server then serves them with a cache
//! lifetime of a year, because a changed file gets a new name. A debug build keeps the plain
//! names (`roster.css`), and the server asks browsers to check them on every load.
//!
//! The pages' code is split into modules (`app::lazy_pages!`), each a few wasm files that
//! cargo-leptos lists in `__wasm_split_manifest.json`. A page the server renders names its
//! module's files in `<link rel="preload">` tags ([`preload_page_module`]), so the browser
//! fetches them beside the main wasm instead of after it.
//!
//! That is Leptos' `prefetch_lazy_fn_on_server` done again, on purpose: Leptos (0.8.23) writes
//! those tags after the render, outside the request's reactive owner, through whatever owner
//! the worker thread last left current. Pages got no tags about half the time, and now and
//! then another page's (a settings page carried the Overview's files, which Chromium then
//! reported as preloaded but unused). Here the tags are written during the render, in the
//! request's own owner, so every page names exactly its own files.

#[cfg(feature = "ssr")]
use std::collections::HashMap;
#[cfg(feature = "ssr")]
use std::sync::{Arc, Mutex, OnceLock};

/// What the release build wrote: the hash of each built file, by kind (`js`, `wasm`, `css`,
/// and the split modules' `manifest` and loader script, `split`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hashes {
    pub js: Option<String>,
    pub wasm: Option<String>,
    pub css: Option<String>,
    pub manifest: Option<String>,
    pub split: Option<String>,
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
                "manifest" => out.manifest = Some(hash.to_string()),
                "split" => out.split = Some(hash.to_string()),
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

    /// The split modules' manifest's file name.
    pub fn manifest(&self) -> String {
        match &self.manifest {
            Some(hash) => format!("__wasm_split_manifest.{hash}.json"),
            None => "__wasm_split_manifest.json".to_string(),
        }
    }

    /// The split modules' loader script's file name (its placeholder name when not hashed).
    pub fn loader(&self) -> String {
        match &self.split {
            Some(hash) => format!("__wasm_split.{hash}.js"),
            None => "__wasm_split.______________________.js".to_string(),
        }
    }
}

/// The files of each split module, from the build's manifest: what a page's `<head>` names for
/// the browser to fetch early.
#[cfg(feature = "ssr")]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageModules {
    /// Each module's files, as URL paths (`/pkg/chunk_9.wasm`).
    files: HashMap<String, Vec<String>>,
    /// The loader script's URL path, which every module's files need.
    loader: String,
}

#[cfg(feature = "ssr")]
impl PageModules {
    /// Reads the manifest of the build in `<site_root>/<pkg_dir>`. A missing or unreadable
    /// manifest (no site built, as in the integration tests) gives no modules: pages then name
    /// nothing to preload, and the browser fetches each module's files when it needs them.
    pub fn load(site_root: &str, pkg_dir: &str, hashes: &Hashes) -> PageModules {
        match PageModules::read(site_root, pkg_dir, hashes) {
            Ok(modules) => modules,
            Err(ManifestError::Missing(_)) => PageModules::default(),
            Err(e) => {
                tracing::warn!(error = %e, "pages preload no split module");
                PageModules::default()
            }
        }
    }

    /// Reads the manifest of the build in `<site_root>/<pkg_dir>` (`roster doctor` says why not).
    pub fn read(site_root: &str, pkg_dir: &str, hashes: &Hashes) -> Result<PageModules, ManifestError> {
        let path = std::path::Path::new(site_root).join(pkg_dir).join(hashes.manifest());
        let text = std::fs::read_to_string(&path).map_err(|_| ManifestError::Missing(path.display().to_string()))?;
        PageModules::parse(&format!("/{pkg_dir}"), &text, &hashes.loader())
            .map_err(|e| ManifestError::Unreadable(path.display().to_string(), e))
    }

    /// How many modules the manifest lists.
    pub fn module_count(&self) -> usize {
        self.files.len()
    }

    /// The files the manifest names (and the loader script) that are not in `site_root`, by
    /// URL path: a partly copied build, whose pages would fail to load their code.
    pub fn missing_files(&self, site_root: &str) -> Vec<String> {
        let mut named: Vec<&String> = self.files.values().flatten().chain([&self.loader]).collect();
        named.sort();
        named.dedup();
        let root = std::path::Path::new(site_root);
        named.into_iter().filter(|href| !root.join(href.trim_start_matches('/')).is_file()).cloned().collect()
    }

    /// The manifest's JSON (`{"module": ["chunk_9", "split_module"], …}`), with the files
    /// under `pkg` (`/pkg`). A name that could leave the folder or the attribute is refused.
    pub fn parse(pkg: &str, manifest: &str, loader: &str) -> Result<PageModules, String> {
        let modules: HashMap<String, Vec<String>> = serde_json::from_str(manifest).map_err(|e| e.to_string())?;
        let plain =
            |name: &str| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        let mut files = HashMap::new();
        for (module, names) in modules {
            if let Some(bad) = names.iter().find(|n| !plain(n) || n.contains("..")) {
                return Err(format!("module {module}: file name {bad:?}"));
            }
            files.insert(module, names.iter().map(|n| format!("{pkg}/{n}.wasm")).collect());
        }
        Ok(PageModules { files, loader: format!("{pkg}/{loader}") })
    }

    /// The URL paths of a module's files (none for a module the manifest does not list).
    pub fn files(&self, module: &str) -> &[String] {
        self.files.get(module).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Why a build's split modules' manifest could not be read.
#[cfg(feature = "ssr")]
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// No manifest at that path (a site built without `--split`, or no site).
    #[error("no split modules' manifest at {0} (build the site with `cargo leptos build --release --split`)")]
    Missing(String),
    /// The manifest is not what cargo-leptos writes.
    #[error("the split modules' manifest {0} is not readable: {1}")]
    Unreadable(String, String),
}

/// One render's view of the modules: which ones its page already named (a support tab and its
/// frame are in one module, named once).
#[cfg(feature = "ssr")]
#[derive(Clone, Debug)]
pub struct PagePreloads {
    modules: Arc<PageModules>,
    named: Arc<Mutex<Vec<&'static str>>>,
}

#[cfg(feature = "ssr")]
impl PagePreloads {
    /// For one render (the server provides it as context to each page's render).
    pub fn new(modules: Arc<PageModules>) -> PagePreloads {
        PagePreloads { modules, named: Arc::default() }
    }
}

/// Names the files of a page's split module in the page's `<head>`, once per render (see the
/// module doc). Called by the page's route while the server renders it, in its owner.
#[cfg(feature = "ssr")]
pub fn preload_page_module(module: &'static str) {
    use leptos::prelude::*;
    use leptos_meta::Link;

    let Some(preloads) = use_context::<PagePreloads>() else { return };
    let files = preloads.modules.files(module);
    let name_loader = {
        let mut named = preloads.named.lock().unwrap_or_else(|e| e.into_inner());
        if files.is_empty() || named.contains(&module) {
            return;
        }
        named.push(module);
        named.len() == 1
    };
    // `to_html` on a meta component registers its tag with the render's `<head>`.
    for href in files {
        let _ = view! { <Link rel="preload" href=href.clone() as_="fetch" type_="application/wasm" crossorigin="anonymous"/> }
            .to_html();
    }
    if name_loader {
        let _ = view! { <Link rel="modulepreload" href=preloads.modules.loader.clone() crossorigin="anonymous"/> }
            .to_html();
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
        assert_eq!(h.manifest(), "__wasm_split_manifest.json");
        assert_eq!(h.loader(), "__wasm_split.______________________.js");
    }

    #[test]
    fn names_the_split_modules_files_of_a_release_build() {
        let h = Hashes::parse("js: a\nwasm: b\ncss: c\nmanifest: M-1\nsplit: S_2\n");
        assert_eq!(h.manifest(), "__wasm_split_manifest.M-1.json");
        assert_eq!(h.loader(), "__wasm_split.S_2.js");
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn reads_the_modules_files_from_the_manifest() {
        let m = PageModules::parse(
            "/pkg",
            r#"{"sign_in_page": ["chunk_9.AbC", "split_sign_in_page.x-Y"], "overview_page": ["chunk_7"]}"#,
            "__wasm_split.S.js",
        )
        .expect("manifest");
        assert_eq!(m.files("sign_in_page"), ["/pkg/chunk_9.AbC.wasm", "/pkg/split_sign_in_page.x-Y.wasm"]);
        assert_eq!(m.files("overview_page"), ["/pkg/chunk_7.wasm"]);
        assert!(m.files("no_such_module").is_empty());
        assert_eq!(m.loader, "/pkg/__wasm_split.S.js");
        assert_eq!(m.module_count(), 2);

        // Which of the named files a site lacks.
        let site = std::env::temp_dir().join(format!("roster-assets-{}", std::process::id()));
        std::fs::create_dir_all(site.join("pkg")).unwrap();
        for f in ["chunk_9.AbC.wasm", "split_sign_in_page.x-Y.wasm", "__wasm_split.S.js"] {
            std::fs::write(site.join("pkg").join(f), "x").unwrap();
        }
        assert_eq!(m.missing_files(site.to_str().unwrap()), ["/pkg/chunk_7.wasm"]);
        std::fs::remove_dir_all(&site).unwrap();
        // Names that could leave the folder or the attribute are not taken.
        for bad in [r#"{"m": ["../x"]}"#, r#"{"m": ["a\"b"]}"#, r#"{"m": ["a/b"]}"#, r#"{"m": [""]}"#, "[1]"] {
            assert!(PageModules::parse("/pkg", bad, "l.js").is_err(), "{bad}");
        }
    }
}
