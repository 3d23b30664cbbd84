//! What the accounting's integration tests share.

pub mod accounting;
