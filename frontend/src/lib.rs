//! Roster's dashboard: a Leptos app rendered on the server and hydrated in the browser.
//!
//! * [`app`]: the HTML shell and the routes;
//! * [`pages`]: one module per page;
//! * [`components`]: pieces several pages use;
//! * [`api`]: server functions, grouped by area. They are thin: check the session, call a
//!   domain service of `roster-shared`, return a DTO.

pub mod api;
pub mod app;
pub mod assets;
pub mod components;
pub mod error;
pub mod pages;
pub mod resource;
pub mod security;

/// The browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}
