//! Sensitive custom data: values under `secret_…` keys of `custom_data` (conversions, and
//! leads' copy of it) and `custom_metadata` (contacts) are sealed before they are stored and
//! revealed only to authorised readers. Every door (REST views, GraphQL types, the live
//! feed) reveals through [`Services::revealed`], so the rule lives here once.
//!
//! Stored form: `{"secret_ssn": {"$enc": "v1:<kid>:<base64>"}}`, sealed with the row's table,
//! id and the key as associated data, so a value copied to another row or key fails to open.
//! A contact's metadata is shared by the workspaces that hold the contact, so each of its
//! values also names the workspace that wrote it (`{"$enc": …, "by": "sales"}`, bound into the
//! associated data too): a workspace that received the contact reads back its own secrets
//! only, the owner and the admin all of them (see `shared`).

use super::Services;
use crate::auth::Principal;
use crate::domain::{SENSITIVE_PREFIX, WorkspaceId, is_sensitive};
use crate::encryption::{Keyring, OpenError};
use crate::error::{AppError, AppResult};
use entity::{contact, conversion, lead};
use serde_json::{Map, Value, json};

/// What a reader without access sees in place of a sensitive value.
pub const MASK: &str = "***";
/// The key of the object that stands for a sealed value in stored JSON.
const ENVELOPE: &str = "$enc";
/// The envelope's other key, on a contact's metadata: the workspace that wrote the value.
const WRITER: &str = "by";

/// A stored row whose custom data may hold sealed values.
pub trait Sealed {
    /// The table, part of every value's binding.
    const TABLE: &'static str;
    /// The column, as clients name it.
    const FIELD: &'static str;
    fn row_id(&self) -> String;
    fn custom(&self) -> Option<&Value>;
    fn custom_mut(&mut self) -> &mut Option<Value>;
}

impl Sealed for conversion::Model {
    const TABLE: &'static str = "conversions";
    const FIELD: &'static str = "custom_data";
    fn row_id(&self) -> String {
        self.id.to_string()
    }
    fn custom(&self) -> Option<&Value> {
        self.custom_data.as_ref()
    }
    fn custom_mut(&mut self) -> &mut Option<Value> {
        &mut self.custom_data
    }
}

impl Sealed for contact::Model {
    const TABLE: &'static str = "contacts";
    const FIELD: &'static str = "custom_metadata";
    fn row_id(&self) -> String {
        self.id.to_string()
    }
    fn custom(&self) -> Option<&Value> {
        self.custom_metadata.as_ref()
    }
    fn custom_mut(&mut self) -> &mut Option<Value> {
        &mut self.custom_metadata
    }
}

impl Sealed for lead::Model {
    const TABLE: &'static str = "leads";
    const FIELD: &'static str = "conversion_metadata";
    fn row_id(&self) -> String {
        self.id.to_string()
    }
    fn custom(&self) -> Option<&Value> {
        self.conversion_metadata.as_ref()
    }
    fn custom_mut(&mut self) -> &mut Option<Value> {
        &mut self.conversion_metadata
    }
}

/// A row whose sensitive values were revealed to, or masked from, one reader. Only
/// [`Services::reveal`] makes one, so a response built from it cannot skip the rule.
pub struct Revealed<T>(T);

impl<T> Revealed<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// The associated data of one value: which table, row and key it belongs to, and (when
/// recorded) which workspace wrote it.
fn binding(table: &str, row: &str, key: &str, writer: Option<&str>) -> Vec<u8> {
    match writer {
        None => format!("convio:{table}:{row}:{key}").into_bytes(),
        Some(by) => format!("convio:{table}:{row}:{key}:by:{by}").into_bytes(),
    }
}

/// Seals the sensitive values of `map`, about to be stored in `field` of row `row` of
/// `table` by `writer` (recorded in each envelope when given). Refuses them when no
/// encryption key is configured: storing a value its sender marked secret in plaintext would
/// be worse than refusing it.
pub(crate) fn seal(
    keyring: &Keyring,
    table: &str,
    field: &str,
    row: &str,
    map: Map<String, Value>,
    writer: Option<&str>,
) -> AppResult<Map<String, Value>> {
    map.into_iter()
        .map(|(key, value)| {
            if !is_sensitive(&key) || value.is_null() {
                return Ok((key, value));
            }
            let plaintext = serde_json::to_vec(&value)
                .map_err(|e| AppError::Internal(format!("serialising a value failed: {e}")))?;
            let sealed = keyring
                .seal(&binding(table, row, &key, writer), &plaintext)
                .ok_or_else(|| {
                    AppError::invalid(
                        field,
                        format!(
                            "'{key}' is sensitive (keys starting with '{SENSITIVE_PREFIX}' are \
                             encrypted at rest), but this server has no encryption keys; set \
                             CONVIO_ENCRYPTION_KEYS or rename the key"
                        ),
                    )
                })?
                .map_err(|e| AppError::Internal(e.to_string()))?;
            Ok(match writer {
                None => (key, json!({ ENVELOPE: sealed })),
                Some(by) => (key, json!({ ENVELOPE: sealed, WRITER: by })),
            })
        })
        .collect()
}

/// The sealed text of a stored value and who wrote it (if recorded), if it is an envelope.
fn envelope(value: &Value) -> Option<(&str, Option<&str>)> {
    let Value::Object(map) = value else {
        return None;
    };
    let sealed = map.get(ENVELOPE)?.as_str()?;
    match (map.len(), map.get(WRITER)) {
        (1, None) => Some((sealed, None)),
        (2, Some(Value::String(by))) => Some((sealed, Some(by.as_str()))),
        _ => None,
    }
}

/// The workspace that wrote a stored sensitive value, when its envelope records one.
pub(crate) fn writer(value: &Value) -> Option<&str> {
    envelope(value).and_then(|(_, by)| by)
}

impl Services {
    /// `row`'s custom data as `principal` may see it: sensitive values opened for authorised
    /// readers, masked for others. A value that does not open (moved from another row,
    /// altered, or sealed with a key no longer configured) is an error, never shown as
    /// something else or dropped silently.
    pub fn revealed<T: Sealed>(&self, principal: &Principal, row: &T) -> AppResult<Option<Value>> {
        let Some(Value::Object(map)) = row.custom() else {
            return Ok(row.custom().cloned());
        };
        let authorised = principal.may_read_sensitive();
        let mut out = Map::with_capacity(map.len());
        for (key, value) in map {
            let shown = match (is_sensitive(key), authorised, envelope(value)) {
                (false, _, _) => value.clone(),
                (true, false, _) => Value::from(MASK),
                (true, true, Some((sealed, by))) => self.open(row, key, sealed, by)?,
                // Stored before encryption existed: plaintext, shown as it is.
                (true, true, None) => value.clone(),
            };
            out.insert(key.clone(), shown);
        }
        Ok(Some(Value::Object(out)))
    }

    /// `row` with its custom data replaced by what `principal` may see.
    pub fn reveal<T: Sealed>(&self, principal: &Principal, mut row: T) -> AppResult<Revealed<T>> {
        let shown = self.revealed(principal, &row)?;
        *row.custom_mut() = shown;
        Ok(Revealed(row))
    }

    fn open<T: Sealed>(
        &self,
        row: &T,
        key: &str,
        sealed: &str,
        writer: Option<&str>,
    ) -> AppResult<Value> {
        let id = row.row_id();
        let failed = |reason: OpenError| {
            tracing::error!(table = T::TABLE, row = %id, key, %reason, "a sealed value did not open");
            AppError::Undecryptable(format!(
                "{}.{key} of {} {id} cannot be decrypted: {reason}",
                T::FIELD,
                T::TABLE
            ))
        };
        let plaintext = self
            .keyring
            .open(&binding(T::TABLE, &id, key, writer), sealed)
            .map_err(failed)?;
        serde_json::from_slice(&plaintext).map_err(|_| failed(OpenError::Malformed))
    }

    /// Seals the sensitive values of custom data about to be stored in `T`'s row `row`.
    pub(crate) fn seal<T: Sealed>(
        &self,
        row: &str,
        map: Map<String, Value>,
    ) -> AppResult<Map<String, Value>> {
        seal(&self.keyring, T::TABLE, T::FIELD, row, map, None)
    }

    /// Like `seal`, recording `writer` as the workspace that wrote each value: for a
    /// contact's metadata, which the workspaces holding the contact share.
    pub(crate) fn seal_by<T: Sealed>(
        &self,
        row: &str,
        map: Map<String, Value>,
        writer: Option<&WorkspaceId>,
    ) -> AppResult<Map<String, Value>> {
        let writer = writer.map(WorkspaceId::as_str);
        seal(&self.keyring, T::TABLE, T::FIELD, row, map, writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::parse(&[format!("k1={}", "A".repeat(43) + "=")]).unwrap()
    }

    #[test]
    fn only_sensitive_values_are_sealed_and_nulls_pass() {
        let Value::Object(map) =
            json!({"secret_ssn": "123-45-6789", "plan": "gold", "secret_gone": null})
        else {
            unreachable!()
        };
        let sealed = seal(&keyring(), "contacts", "custom_metadata", "7", map, None).unwrap();
        assert_eq!(sealed["plan"], "gold");
        assert_eq!(sealed["secret_gone"], Value::Null);
        let (text, by) = envelope(&sealed["secret_ssn"]).expect("an envelope");
        assert!(text.starts_with("v1:k1:") && !text.contains("6789"));
        assert_eq!(by, None);
    }

    #[test]
    fn the_writer_is_recorded_and_bound() {
        let Value::Object(map) = json!({"secret_ssn": "123-45-6789"}) else {
            unreachable!()
        };
        let keys = keyring();
        let sealed = seal(
            &keys,
            "contacts",
            "custom_metadata",
            "7",
            map,
            Some("sales"),
        )
        .unwrap();
        let (text, by) = envelope(&sealed["secret_ssn"]).expect("an envelope");
        assert_eq!(by, Some("sales"));
        assert_eq!(writer(&sealed["secret_ssn"]), Some("sales"));
        let bound = |by| binding("contacts", "7", "secret_ssn", by);
        assert!(keys.open(&bound(Some("sales")), text).is_ok());
        assert!(
            keys.open(&bound(Some("other")), text).is_err(),
            "relabelled"
        );
        assert!(keys.open(&bound(None), text).is_err(), "label dropped");
    }

    #[test]
    fn without_keys_sensitive_values_are_refused() {
        let Value::Object(map) = json!({"secret_ssn": "x"}) else {
            unreachable!()
        };
        let err = seal(
            &Keyring::default(),
            "contacts",
            "custom_metadata",
            "7",
            map,
            None,
        )
        .unwrap_err();
        assert_eq!(err.code(), "BAD_USER_INPUT");
        assert_eq!(err.field(), Some("custom_metadata"));
    }
}
