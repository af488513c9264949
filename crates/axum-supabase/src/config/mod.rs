//! Configuration: the vocabulary every part shares ([`settings`]), the one
//! environment reader ([`env`]), and the verifier's builder ([`builder`]).
//! The builder's `build()` lives beside what it builds, in `verifier.rs`.

pub(crate) mod builder;
pub(crate) mod env;
pub(crate) mod settings;
mod urls;
