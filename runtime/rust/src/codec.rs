//! How field values travel: ids are UUIDs, timestamps RFC 3339 text, dates ISO 8601
//! (`2026-01-31`), enums their names; over gRPC as their protobuf forms ([`Wire`]). Generated
//! code calls these by a field's shape (one value, optional, list), never by its type, so a new
//! field type is one impl here rather than a branch in every template.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{Date, OffsetDateTime};

use crate::error::AppError;

/// A value with one canonical text form, as stored and sent over JSON.
pub trait Text: Sized {
    fn to_text(&self) -> String;
    /// Parses the text form; `field` names the field in the error.
    ///
    /// # Errors
    /// [`AppError::Invalid`] naming the field and what it expects.
    fn from_text(text: &str, field: &str) -> Result<Self, AppError>;
}

impl Text for uuid::Uuid {
    fn to_text(&self) -> String {
        self.to_string()
    }
    fn from_text(text: &str, field: &str) -> Result<Self, AppError> {
        text.parse().map_err(|_| AppError::Invalid(format!("`{field}` is not a UUID: {text:?}")))
    }
}

impl Text for OffsetDateTime {
    fn to_text(&self) -> String {
        self.format(&Rfc3339).unwrap_or_default()
    }
    fn from_text(text: &str, field: &str) -> Result<Self, AppError> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map_err(|_| AppError::Invalid(format!("`{field}` is not an RFC 3339 timestamp: {text:?}")))
    }
}

impl Text for Date {
    fn to_text(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year(), u8::from(self.month()), self.day())
    }
    fn from_text(text: &str, field: &str) -> Result<Self, AppError> {
        Date::parse(text, &Iso8601::DATE)
            .map_err(|_| AppError::Invalid(format!("`{field}` is not a date (YYYY-MM-DD): {text:?}")))
    }
}

/// An enum field's type: its values with their names and stable protobuf numbers. Text,
/// JSON, database and protobuf forms all follow from this one table.
pub trait Enumeration: Copy + PartialEq + 'static {
    /// Every value: (value, name, protobuf number).
    const VALUES: &'static [(Self, &'static str, i32)];

    fn as_str(self) -> &'static str {
        Self::VALUES.iter().find(|(value, ..)| *value == self).map_or("", |(_, name, _)| name)
    }

    fn number(self) -> i32 {
        Self::VALUES.iter().find(|(value, ..)| *value == self).map_or(0, |(.., number)| *number)
    }

    /// The value of a protobuf number; 0 (unspecified) and unknown numbers are refused.
    ///
    /// # Errors
    /// [`AppError::Invalid`] naming the field.
    fn from_number(number: i32, field: &str) -> Result<Self, AppError> {
        Self::VALUES
            .iter()
            .find(|(.., n)| *n == number)
            .map(|(value, ..)| *value)
            .ok_or_else(|| AppError::Invalid(format!("`{field}` has no valid value ({number})")))
    }
}

impl<T: Enumeration> Text for T {
    fn to_text(&self) -> String {
        self.as_str().to_owned()
    }
    fn from_text(text: &str, field: &str) -> Result<Self, AppError> {
        Self::VALUES.iter().find(|(_, name, _)| *name == text).map(|(value, ..)| *value).ok_or_else(|| {
            let names: Vec<&str> = Self::VALUES.iter().map(|(_, name, _)| *name).collect();
            AppError::Invalid(format!("`{field}` must be one of {}: {text:?}", names.join(", ")))
        })
    }
}

/// The current time, truncated to microseconds so it survives every database round trip.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000).unwrap_or(now)
}

/// A value's protobuf form, as prost generates it.
pub trait Wire: Sized {
    type Pb;
    fn to_pb(&self) -> Self::Pb;
    /// # Errors
    /// [`AppError::Invalid`] naming `field` when the protobuf value has no domain value.
    fn from_pb(pb: Self::Pb, field: &str) -> Result<Self, AppError>;
}

macro_rules! same_on_the_wire {
    ($($ty:ty),*) => {$(
        impl Wire for $ty {
            type Pb = $ty;
            fn to_pb(&self) -> $ty {
                self.clone()
            }
            fn from_pb(pb: $ty, _: &str) -> Result<Self, AppError> {
                Ok(pb)
            }
        }
    )*};
}
same_on_the_wire!(String, bool, i32, i64, f64);

macro_rules! text_on_the_wire {
    ($($ty:ty),*) => {$(
        impl Wire for $ty {
            type Pb = String;
            fn to_pb(&self) -> String {
                self.to_text()
            }
            fn from_pb(pb: String, field: &str) -> Result<Self, AppError> {
                Self::from_text(&pb, field)
            }
        }
    )*};
}
text_on_the_wire!(uuid::Uuid, Date);

impl Wire for OffsetDateTime {
    type Pb = prost_types::Timestamp;
    fn to_pb(&self) -> prost_types::Timestamp {
        prost_types::Timestamp { seconds: self.unix_timestamp(), nanos: self.nanosecond().cast_signed() }
    }
    fn from_pb(pb: prost_types::Timestamp, field: &str) -> Result<Self, AppError> {
        let nanos = i128::from(pb.seconds) * 1_000_000_000 + i128::from(pb.nanos);
        OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map_err(|_| AppError::Invalid(format!("`{field}` is out of range")))
    }
}

/// Enums travel as their protobuf numbers.
impl<T: Enumeration> Wire for T {
    type Pb = i32;
    fn to_pb(&self) -> i32 {
        self.number()
    }
    fn from_pb(pb: i32, field: &str) -> Result<Self, AppError> {
        Self::from_number(pb, field)
    }
}

/// The protobuf form of a required message field (a timestamp): present.
pub fn some_pb<T: Wire>(value: &T) -> Option<T::Pb> {
    Some(value.to_pb())
}

pub fn option_pb<T: Wire>(value: Option<&T>) -> Option<T::Pb> {
    value.map(Wire::to_pb)
}

pub fn list_pb<T: Wire>(values: &[T]) -> Vec<T::Pb> {
    values.iter().map(Wire::to_pb).collect()
}

/// A required message field (a timestamp), refused when absent.
///
/// # Errors
/// [`AppError::Invalid`] when absent or invalid.
pub fn from_some_pb<T: Wire>(pb: Option<T::Pb>, field: &str) -> Result<T, AppError> {
    let pb = pb.ok_or_else(|| AppError::Invalid(format!("`{field}` is required")))?;
    T::from_pb(pb, field)
}

/// # Errors
/// [`AppError::Invalid`] when the value is invalid.
pub fn from_option_pb<T: Wire>(pb: Option<T::Pb>, field: &str) -> Result<Option<T>, AppError> {
    pb.map(|pb| T::from_pb(pb, field)).transpose()
}

/// # Errors
/// [`AppError::Invalid`] when an item is invalid.
pub fn from_list_pb<T: Wire>(pb: Vec<T::Pb>, field: &str) -> Result<Vec<T>, AppError> {
    pb.into_iter().map(|pb| T::from_pb(pb, field)).collect()
}

/// `#[serde(with = "fleetwright_runtime::codec::text")]` for a [`Text`] field.
pub mod text {
    use super::{Deserialize, Deserializer, Serializer, Text};

    /// # Errors
    /// Never, beyond the serializer's own.
    pub fn serialize<T: Text, S: Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_text())
    }

    /// # Errors
    /// When the text is not a valid value.
    pub fn deserialize<'de, T: Text, D: Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        let text = String::deserialize(deserializer)?;
        T::from_text(&text, "value").map_err(serde::de::Error::custom)
    }
}

/// `#[serde(default, with = "fleetwright_runtime::codec::text_option")]` for an optional [`Text`] field.
pub mod text_option {
    use super::{Deserialize, Deserializer, Serializer, Text};

    /// # Errors
    /// Never, beyond the serializer's own.
    #[allow(clippy::ref_option)] // serde's `with` passes `&Option<T>`
    pub fn serialize<T: Text, S: Serializer>(value: &Option<T>, serializer: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_some(&value.to_text()),
            None => serializer.serialize_none(),
        }
    }

    /// # Errors
    /// When the text is not a valid value.
    pub fn deserialize<'de, T: Text, D: Deserializer<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| T::from_text(&text, "value").map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// `#[serde(default, with = "fleetwright_runtime::codec::text_list")]` for a list of [`Text`] values.
pub mod text_list {
    use super::{Deserialize, Deserializer, Serialize, Serializer, Text};

    /// # Errors
    /// Never, beyond the serializer's own.
    pub fn serialize<T: Text, S: Serializer>(values: &[T], serializer: S) -> Result<S::Ok, S::Error> {
        values.iter().map(Text::to_text).collect::<Vec<_>>().serialize(serializer)
    }

    /// # Errors
    /// When an item is not a valid value.
    pub fn deserialize<'de, T: Text, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<T>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| T::from_text(text, "value").map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Status {
        Draft,
        Paid,
    }

    impl Enumeration for Status {
        const VALUES: &'static [(Self, &'static str, i32)] = &[(Self::Draft, "draft", 1), (Self::Paid, "paid", 3)];
    }

    #[test]
    fn enums_follow_their_table_in_every_form() {
        assert_eq!(Status::Paid.to_text(), "paid");
        assert_eq!(Status::from_text("draft", "status").unwrap(), Status::Draft);
        let error = Status::from_text("lost", "status").unwrap_err().to_string();
        assert_eq!(error, "`status` must be one of draft, paid: \"lost\"");
        assert_eq!(Status::Paid.to_pb(), 3);
        assert_eq!(Status::from_pb(1, "status").unwrap(), Status::Draft);
        assert!(Status::from_pb(0, "status").is_err(), "unspecified is not a value");
        assert!(Status::from_pb(2, "status").is_err(), "a retired number is not a value");
    }

    #[test]
    fn timestamps_and_dates_round_trip_as_text_and_protobuf() {
        let at = OffsetDateTime::from_text("2026-01-02T03:04:05.123456Z", "at").unwrap();
        assert_eq!(at.to_text(), "2026-01-02T03:04:05.123456Z");
        assert_eq!(OffsetDateTime::from_pb(at.to_pb(), "at").unwrap(), at);
        let day = Date::from_text("2026-01-31", "day").unwrap();
        assert_eq!(day.to_text(), "2026-01-31");
        assert!(Date::from_text("31.01.2026", "day").is_err());
        assert!(OffsetDateTime::from_text("yesterday", "at").is_err());
    }

    #[test]
    fn shapes_of_a_field_on_the_wire() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(from_list_pb::<uuid::Uuid>(list_pb(&[id]), "ids").unwrap(), vec![id]);
        assert_eq!(from_option_pb::<i64>(option_pb(Some(&5_i64)), "n").unwrap(), Some(5));
        assert_eq!(from_option_pb::<i64>(None, "n").unwrap(), None);
        let missing = from_some_pb::<OffsetDateTime>(None, "placed_at").unwrap_err();
        assert_eq!(missing.to_string(), "`placed_at` is required");
        assert!(from_list_pb::<uuid::Uuid>(vec!["x".into()], "ids").is_err());
    }

    #[test]
    fn now_survives_a_text_round_trip() {
        let now = now();
        assert_eq!(OffsetDateTime::from_text(&now.to_text(), "now").unwrap(), now);
    }
}
