//! What must stay stable across generations and therefore cannot be derived from the manifest
//! alone: protobuf field and enum numbers (so regeneration never breaks wire compatibility)
//! and the migration history of each service's database (so migrations are forward-only).
//! It is read from and written to `fleet.lock`; [`stabilize`] is the only place that changes it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Numbers handed out for one protobuf message or enum.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Numbering {
    /// Current name → number.
    #[serde(default)]
    pub numbers: BTreeMap<String, u32>,
    /// Numbers of removed names: never handed out again.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub reserved_numbers: BTreeSet<u32>,
    /// Removed names, reserved in the proto until they are used again.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub reserved_names: BTreeSet<String>,
}

impl Numbering {
    /// Numbers `names` (in order): known names keep their number, new ones get the next free
    /// number above every number ever used, and names that disappeared are reserved.
    /// `first` is the lowest number (1 for message fields, 1 for enum values since 0 is the
    /// UNSPECIFIED value).
    #[must_use]
    pub(crate) fn assign(&self, names: &[&str], first: u32) -> Numbering {
        let mut next = self
            .numbers
            .values()
            .chain(&self.reserved_numbers)
            .copied()
            .max()
            .map_or(first, |max| max + 1)
            .max(first);
        let mut out = Numbering {
            numbers: BTreeMap::new(),
            reserved_numbers: self.reserved_numbers.clone(),
            reserved_names: self.reserved_names.clone(),
        };
        for name in names {
            let number = if let Some(n) = self.numbers.get(*name) {
                *n
            } else {
                let n = next;
                next += 1;
                // Protobuf's implementation range is not assignable.
                if (19_000..20_000).contains(&next) {
                    next = 20_000;
                }
                n
            };
            out.reserved_names.remove(*name);
            out.numbers.insert((*name).to_owned(), number);
        }
        for (name, number) in &self.numbers {
            if !out.numbers.contains_key(name) {
                out.reserved_numbers.insert(*number);
                out.reserved_names.insert(name.clone());
            }
        }
        out
    }
}

/// Everything `fleet.lock` remembers besides file hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Field numbers per fully qualified message name (`shop.orders.v1.Order`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub messages: BTreeMap<String, Numbering>,
    /// Value numbers per fully qualified enum name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub enums: BTreeMap<String, Numbering>,
    /// Migration history per service.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub migrations: BTreeMap<String, crate::model::migrations::History>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_stable_when_fields_are_added_reordered_and_removed() {
        let first = Numbering::default().assign(&["id", "name", "price"], 1);
        assert_eq!(first.numbers["price"], 3);
        let reordered = first.assign(&["price", "id", "sku", "name"], 1);
        assert_eq!(reordered.numbers["price"], 3);
        assert_eq!(reordered.numbers["sku"], 4);
        let removed = reordered.assign(&["id", "sku", "price"], 1);
        assert!(removed.reserved_numbers.contains(&2));
        assert!(removed.reserved_names.contains("name"));
        // A name used again gets a new number; its old number stays reserved.
        let back = removed.assign(&["id", "sku", "price", "name"], 1);
        assert_eq!(back.numbers["name"], 5);
        assert!(back.reserved_numbers.contains(&2) && !back.reserved_names.contains("name"));
    }
}
