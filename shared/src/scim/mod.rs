//! SCIM 2.0, the protocol (RFC 7643 resources and schemas, RFC 7644 operations), as a pure
//! library: no I/O, no async, no database; it compiles for `wasm32-unknown-unknown`.
//!
//! * [`schema`]: schemas as data (every attribute's characteristics), the core User, Enterprise
//!   User and Group schemas, resource types, and the discovery representations;
//! * [`path`]: attribute paths (`name.givenName`, URN-qualified, `emails[type eq "work"].value`);
//! * [`filter`]: the filter grammar (parser, printer, schema check, reference evaluator);
//! * [`patch`]: PATCH operations, with the forms real identity providers send;
//! * [`projection`]: `attributes` / `excludedAttributes` and the `returned` rules;
//! * [`validate`]: checking created and replaced resources against their schema;
//! * [`messages`]: ListResponse, SearchRequest, PatchOp, Bulk, Error, meta;
//! * [`error`]: the SCIM error (status, `scimType`, detail).
//!
//! Resources are `serde_json::Value` objects inside this module: a tenant can add attributes and
//! extensions at run time, so the shape of a resource is data, not a Rust type. Everything that
//! leaves this module has been checked against the schema and uses the schema's canonical
//! attribute names, so code outside never guesses at casing.
//!
//! Written here rather than taken from a crate: the SCIM crates on crates.io (`scim_v2`,
//! `scim-filter`, …) cover the types but not a schema-checked filter AST we can compile to SQL,
//! nor the IdP quirks of PATCH (Entra ID's dotted and URN keys, string booleans, Okta's member
//! removal by value list).

pub mod error;
pub mod filter;
pub mod messages;
pub mod patch;
pub mod path;
pub mod projection;
pub mod schema;
pub mod validate;
mod value;

pub use error::{ScimError, ScimType};
pub use value::{holds_nul, may_hold_nul};
