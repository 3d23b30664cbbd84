//! What the app's integration tests share.

pub mod accounting;
