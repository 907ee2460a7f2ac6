//! The dashboard's built files (`/pkg/…`: script, wasm, stylesheet), compressed and cached.
//!
//! The release build writes each file also as `.br` and `.gz`; the browser gets the smallest
//! one its `Accept-Encoding` allows (the wasm shrinks to about a third). When the build named
//! its files by content hash (see [`roster_frontend::assets`]), they are cached for a year
//! (`immutable`): a new build has new names. Otherwise (debug builds) browsers revalidate on
//! every load, so a rebuilt dashboard is never mixed with a cached one.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Version};
use axum::Router;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// `Cache-Control` of content-hashed files.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of files that keep their name from build to build.
pub const REVALIDATE: &str = "no-cache";

/// Serves `<site_root>/<pkg_dir>` under `/<pkg_dir>`.
pub fn router(site_root: &str, pkg_dir: &str, hashed: bool) -> Router {
    let dir = std::path::Path::new(site_root).join(pkg_dir);
    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    let cache = HeaderValue::from_static(if hashed { IMMUTABLE } else { REVALIDATE });
    Router::new()
        .nest_service(&format!("/{pkg_dir}"), files)
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, cache))
        // Caches between Roster and the browser keep one copy per encoding.
        .layer(SetResponseHeaderLayer::if_not_present(header::VARY, HeaderValue::from_static("accept-encoding")))
}

/// Compression of the dashboard's pages (HTML shrinks about 5:1).
///
/// Server function answers (JSON) are not compressed: one of them carries a new SCIM token,
/// and a compressed secret next to text an attacker can choose leaks through its length
/// (BREACH). Pages carry no secrets. CSV exports are left alone: they are downloads, and a
/// compressed download was cancelled by Chromium.
pub fn compress_pages() -> CompressionLayer<impl Predicate> {
    let documents = |_: StatusCode, _: Version, headers: &HeaderMap, _: &axum::http::Extensions| {
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/html"))
    };
    CompressionLayer::new().br(true).gzip(true).compress_when(DefaultPredicate::new().and(documents))
}
