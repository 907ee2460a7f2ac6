//! Pieces several pages use.

pub mod action_form;
pub mod copy;
pub mod diagnostics;
pub mod format;
pub mod held;
pub mod layout;
pub mod notice;
pub mod pager;
pub mod password_input;
