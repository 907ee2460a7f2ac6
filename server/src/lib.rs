//! The `roster` binary's library: command line, configuration, and the axum router around
//! Roster's core (`roster-shared`) and dashboard (`roster-frontend`).
//!
//! Start reading at [`cli`] (what the binary can do), then [`app`] (what a request meets).

/// `roster --version`: the package version and the commit it was built from.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("ROSTER_COMMIT"), ")");

pub mod api;
pub mod app;
pub mod cli;
pub mod commands;
pub mod http;
pub mod memory;
pub mod scim;
pub mod telemetry;
