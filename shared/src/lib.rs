//! Roster's core, shared by the `roster` server and the dashboard.
//!
//! The crate has two layers:
//!
//! * a pure layer that compiles everywhere, wasm included: the DTOs the dashboard and the server
//!   exchange ([`dto`]) and the rules both sides check ([`policy`]);
//! * behind the `ssr` feature, the domain services ([`accounts`]) and the storage layer
//!   ([`store`]) on SQLite and PostgreSQL.
//!
//! Nothing here knows about HTTP frameworks or Leptos: the server crate and the dashboard's server
//! functions call into this crate, never the other way round.

pub mod dto;
pub mod mapping;
pub mod policy;
pub mod scim;

#[cfg(feature = "ssr")]
pub mod accounts;
#[cfg(feature = "ssr")]
pub mod activity;
#[cfg(feature = "ssr")]
pub mod clock;
#[cfg(feature = "ssr")]
pub mod credentials;
#[cfg(feature = "ssr")]
pub mod directory;
#[cfg(feature = "ssr")]
pub mod error;
#[cfg(feature = "ssr")]
pub mod ids;
#[cfg(feature = "ssr")]
pub mod mappings;
#[cfg(feature = "ssr")]
pub mod overview;
#[cfg(feature = "ssr")]
pub mod passwords;
#[cfg(feature = "ssr")]
pub mod provisioning;
#[cfg(feature = "ssr")]
pub mod scim_setup;
#[cfg(feature = "ssr")]
pub mod services;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod support;
#[cfg(feature = "ssr")]
pub mod user_groups;
