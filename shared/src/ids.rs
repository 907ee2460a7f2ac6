//! Identifiers: typed, random, opaque.
//!
//! Tenant keys appear in SCIM URLs, so they must not be guessable from a name or a sequence:
//! they are random UUIDs (122 random bits).

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new random id.
            pub fn random() -> Self {
                Self(uuid::Uuid::new_v4().to_string())
            }

            /// Wraps an id read from the store or a URL; parses it as a UUID so that garbage
            /// never reaches a query.
            pub fn parse(s: &str) -> Option<Self> {
                uuid::Uuid::parse_str(s).ok().map(|u| Self(u.to_string()))
            }

            /// Wraps an id that came from our own store.
            #[allow(dead_code)]
            pub(crate) fn from_store(s: String) -> Self {
                Self(s)
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// The key of a tenant (organization).
    TenantId
);
id_type!(
    /// The id of a console account (organization admin or support staff).
    AccountId
);
id_type!(
    /// The id of a SCIM credential (token, client).
    CredentialId
);
id_type!(
    /// The id of a SCIM resource (User or Group).
    ResourceId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_parse_back() {
        let a = TenantId::random();
        let b = TenantId::random();
        assert_ne!(a, b);
        assert_eq!(TenantId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(TenantId::parse("acme"), None);
        assert_eq!(TenantId::parse("' or 1=1 --"), None);
        // Upper-case input is normalized, so one tenant has one key.
        assert_eq!(TenantId::parse(&a.as_str().to_uppercase()), Some(a));
    }
}
