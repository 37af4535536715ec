//! An API key that cannot leak by accident: `Debug` and `Display` print only its hint, it is not
//! `Serialize`, and the one way to the raw value, [`Secret::expose`], is easy to grep for.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The raw key, for the `Authorization` header and the database only.
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
