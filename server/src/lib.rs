//! The `roster` binary's library: command line, configuration, and the axum router around
//! Roster's core (`roster-shared`) and dashboard (`roster-frontend`).
//!
//! Start reading at [`cli`] (what the binary can do), then [`app`] (what a request meets).

pub mod app;
pub mod cli;
pub mod commands;
pub mod http;
pub mod memory;
pub mod scim;
pub mod telemetry;
