//! One module per page.

pub mod activity;
pub mod home;
pub mod import;
pub mod integrations;
pub mod mappings;
pub mod my_access;
pub mod not_found;
pub mod safety;
pub mod scim;
pub mod sign_in;
pub mod sign_up;
pub mod sso;
pub mod support;
pub mod team;
pub mod user_detail;
pub mod user_groups;
pub mod users;
