//! Roster's core, shared by the `roster` server and the dashboard.
//!
//! The crate has two layers:
//!
//! * a pure layer that compiles everywhere, wasm included: SCIM 2.0 itself ([`scim`]), the
//!   DTOs the dashboard and the server exchange ([`dto`]), the mapping rules' evaluation
//!   ([`rules`]) and the rules both sides check ([`policy`]);
//! * behind the `ssr` feature, the domain services ([`service`]: one module per area, each a
//!   set of functions over the [`store`]) and the storage layer ([`store`]) on SQLite and
//!   PostgreSQL.
//!
//! Nothing here knows about HTTP frameworks or Leptos: the server crate and the dashboard's server
//! functions call into this crate, never the other way round.

pub mod dto;
pub mod policy;
pub mod rules;
pub mod scim;

#[cfg(feature = "ssr")]
pub mod clock;
#[cfg(feature = "ssr")]
pub mod error;
#[cfg(feature = "ssr")]
pub mod ids;
#[cfg(feature = "ssr")]
pub mod memory;
#[cfg(feature = "ssr")]
pub mod metrics;
#[cfg(feature = "ssr")]
pub mod passwords;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;
