//! Integration tests: the real router, in process, against SQLite and PostgreSQL.
//!
//! One test binary (so one throwaway PostgreSQL cluster serves every test); each test gets its
//! own database. Every behaviour is checked on both backends through [`both_backends!`].

mod common;

mod assets;
mod auth;
mod cli;
mod connections;
mod dashboard;
mod email;
mod events;
mod forms;
mod health;
mod jit;
mod jobs;
mod mappings;
mod operations;
mod safety;
mod scim_api;
mod scim_idp;
mod security;
mod sso;
mod stress;
mod support;
mod upgrade;
