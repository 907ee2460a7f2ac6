//! HTTP pieces that are not the dashboard itself: probes and middleware.

pub mod assets;
pub mod body;
pub mod csrf;
pub mod errors;
pub mod export;
pub mod health;
pub mod metrics;
pub mod nul;
pub mod security;
pub mod sso;
pub mod trace;
