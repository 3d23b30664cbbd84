//! Closed sets of values that are stored and sent as fixed words (a
//! deployment's task, an access request's status, a provider's driver):
//! one way to spell each value, and one error, naming the word and the
//! accepted ones, for a word that is none of them.

/// An enum whose every value has one spelling, in stored rows, on the
/// wire and in configuration files.
pub trait Spelled: Copy + Sized + 'static {
    /// What a value of it is, in words (`driver`, `request status`).
    const WHAT: &'static str;
    /// Every value, in the order the accepted words are listed.
    const ALL: &'static [Self];

    /// Its one spelling.
    fn as_str(self) -> &'static str;

    /// The value spelled `word`, or an error naming it and the accepted
    /// words.
    fn parse(word: &str) -> Result<Self, UnknownValue> {
        Self::ALL.iter().copied().find(|v| v.as_str() == word).ok_or_else(|| UnknownValue {
            what: Self::WHAT,
            value: word.to_string(),
            accepted: Self::ALL.iter().map(|v| v.as_str()).collect(),
        })
    }
}

/// A word that spells no value of a [`Spelled`] enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}: use one of {}", accepted.join(", "))]
pub struct UnknownValue {
    /// What was being read (`driver`, `request kind`).
    pub what: &'static str,
    /// The word as given.
    pub value: String,
    /// The words that would have been accepted.
    pub accepted: Vec<&'static str>,
}

impl From<UnknownValue> for crate::Error {
    fn from(e: UnknownValue) -> Self {
        crate::Error::invalid(e.to_string())
    }
}

/// Implements, for [`Spelled`] enums, `Display` (the spelling) and
/// `TryFrom<String>` (the parse that serde's `try_from = "String"` calls,
/// so that a bad word in JSON or TOML is reported as [`UnknownValue`]).
macro_rules! spelled_traits {
    ($($ty:ty),+ $(,)?) => {$(
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($crate::spelled::Spelled::as_str(*self))
            }
        }

        impl ::std::convert::TryFrom<String> for $ty {
            type Error = $crate::spelled::UnknownValue;
            fn try_from(word: String) -> Result<Self, Self::Error> {
                <$ty as $crate::spelled::Spelled>::parse(&word)
            }
        }
    )+};
}
pub(crate) use spelled_traits;

#[cfg(test)]
mod tests {
    use crate::{AttemptState, DriverKind, ProviderSpec, RequestKind, RequestStatus, Task};

    use super::*;

    /// Every value reads back from its spelling, in serde too, and the
    /// spellings are the stored and wire ones.
    fn round_trips<T: Spelled + std::fmt::Debug + PartialEq + serde::Serialize + serde::de::DeserializeOwned>() {
        for value in T::ALL {
            assert_eq!(T::parse(value.as_str()), Ok(*value));
            let json = serde_json::to_value(value).unwrap();
            assert_eq!(json, serde_json::json!(value.as_str()));
            assert_eq!(serde_json::from_value::<T>(json).unwrap(), *value);
        }
    }

    #[test]
    fn every_value_reads_back_from_its_spelling() {
        round_trips::<Task>();
        round_trips::<AttemptState>();
        round_trips::<RequestKind>();
        round_trips::<RequestStatus>();
        round_trips::<DriverKind>();
        let tasks: Vec<&str> = Task::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(tasks, ["NONE", "MONITORING", "QOS", "BROKERING", "DMS", "DEPLOYER", "UNKNOWN"]);
        assert_eq!(Task::Deployer.to_string(), "DEPLOYER");
        assert_eq!(RequestStatus::Pending.to_string(), "pending");
    }

    #[test]
    fn an_unknown_word_is_named_with_the_accepted_ones() {
        let e = Task::parse("deployer").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown deployment task \"deployer\": use one of NONE, MONITORING, QOS, BROKERING, DMS, DEPLOYER, UNKNOWN"
        );
        let e = serde_json::from_str::<RequestKind>("\"planet\"").unwrap_err();
        assert_eq!(e.to_string(), "unknown request kind \"planet\": use one of group, catalogue");
        assert_eq!(crate::Error::from(RequestStatus::parse("").unwrap_err()).http_status(), 400);
        let spec = serde_json::json!({"name": "odd", "driver": "vmware", "endpoint": "https://odd.example"});
        let e = serde_json::from_value::<ProviderSpec>(spec).unwrap_err();
        assert_eq!(e.to_string(), "unknown driver \"vmware\": use one of sim, im, openstack");
    }
}
