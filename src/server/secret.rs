//! Secrets the server holds (Dify API keys today, judge keys later): a [`Secret`] that cannot leak
//! by accident, and how secrets are kept at rest — sealed under a master key ([`sealer`]), which
//! is read or created at start-up ([`key_source`], [`master_key`]).
//!
//! A [`Secret`]'s `Debug` and `Display` print only its hint, it is not `Serialize`, and the one way
//! to the raw value, [`Secret::expose`], is easy to grep for.
//!
//! What is sealed where (which tables, snapshots, rotation) is the store's business, not this
//! module's.

pub mod key_source;
pub mod master_key;
pub mod sealer;

pub use key_source::{KeyOrigin, SecretKeyConfig};
pub use master_key::MasterKey;
pub use sealer::{OpenError, Purpose, Sealer};

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The raw key, for the `Authorization` header and the sealer only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `app-…abcd`: what pages, logs and responses show instead.
    pub fn hint(&self) -> String {
        crate::model::key_hint(&self.0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.hint())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hint())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_key() {
        let s = Secret::new("app-0123456789abcdefWXYZ");
        assert_eq!(format!("{s:?}"), "Secret(app-…WXYZ)");
        assert_eq!(s.to_string(), "app-…WXYZ");
        assert!(!format!("{s:?}{s}").contains("0123456789"));
    }
}
