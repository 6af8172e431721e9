//! Encryption at rest: XChaCha20-Poly1305 under named keys, so keys can rotate.
//!
//! A sealed value is the text `v1:<kid>:<base64 of nonce ‖ ciphertext ‖ tag>`. The first
//! configured key seals; every configured key opens, chosen by the `kid` the value carries.
//! The caller passes a *binding* (the row and field the value belongs to) as associated
//! data: it is not stored in the value but must be the same to open it, so a ciphertext
//! copied to another row or field fails to open instead of showing the wrong data.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use std::collections::HashMap;
use std::sync::Arc;

const VERSION: &str = "v1";
/// XChaCha20's 192-bit nonce: random nonces never collide in practice, so no counter has
/// to be kept (or shared between nodes).
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

/// Why a keyring could not be built from configuration. Never contains key material.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    #[error("each entry must be kid=base64key (kid: letters, digits, '-' or '_')")]
    Malformed,
    #[error("key '{0}' must be {KEY_LEN} bytes, base64-encoded")]
    BadKey(String),
    #[error("key id '{0}' is listed twice")]
    Duplicate(String),
}

/// Why a sealed value could not be opened.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("it is not a value this server sealed")]
    Malformed,
    #[error("its key '{0}' is not configured")]
    UnknownKey(String),
    /// Wrong binding (moved from another row or field), altered, or a different key under
    /// the same id: AEAD cannot tell these apart, and need not.
    #[error("it does not authenticate: altered, or moved from another row or field")]
    Inauthentic,
}

/// The configured keys. Cheap to clone; `Debug` shows key ids only.
#[derive(Clone, Default)]
pub struct Keyring {
    /// The key id that seals new values; `None` when no key is configured.
    current: Option<String>,
    ciphers: Arc<HashMap<String, XChaCha20Poly1305>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<&String> = self.ciphers.keys().collect();
        kids.sort();
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("kids", &kids)
            .finish()
    }
}

impl Keyring {
    /// Builds the keyring from `kid=base64key` entries; the first one seals.
    pub fn parse(entries: &[String]) -> Result<Self, KeyringError> {
        let mut current = None;
        let mut ciphers = HashMap::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let (kid, key) = entry.split_once('=').ok_or(KeyringError::Malformed)?;
            let kid = kid.trim();
            let valid_kid = !kid.is_empty()
                && kid.len() <= 32
                && kid
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid_kid {
                return Err(KeyringError::Malformed);
            }
            let bytes = BASE64
                .decode(key.trim())
                .ok()
                .filter(|b| b.len() == KEY_LEN)
                .ok_or_else(|| KeyringError::BadKey(kid.to_owned()))?;
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|_| KeyringError::BadKey(kid.to_owned()))?;
            if ciphers.insert(kid.to_owned(), cipher).is_some() {
                return Err(KeyringError::Duplicate(kid.to_owned()));
            }
            current.get_or_insert_with(|| kid.to_owned());
        }
        Ok(Keyring {
            current,
            ciphers: Arc::new(ciphers),
        })
    }

    /// The key id new values are sealed with, if any key is configured.
    pub fn current_kid(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Every configured key id, sorted (for the start-up log).
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.ciphers.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }

    /// Seals `plaintext` bound to `binding` with the current key; `None` without keys.
    pub fn seal(&self, binding: &[u8], plaintext: &[u8]) -> Option<Result<String, SealError>> {
        let kid = self.current.as_deref()?;
        let cipher = self.ciphers.get(kid)?;
        Some(seal_with(kid, cipher, binding, plaintext))
    }

    /// Opens a sealed value with the key it names, checking it belongs to `binding`.
    pub fn open(&self, binding: &[u8], sealed: &str) -> Result<Vec<u8>, OpenError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(VERSION), Some(kid), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(OpenError::Malformed);
        };
        let cipher = self
            .ciphers
            .get(kid)
            .ok_or_else(|| OpenError::UnknownKey(kid.to_owned()))?;
        let bytes = BASE64.decode(body).map_err(|_| OpenError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| OpenError::Malformed)?;
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: binding,
                },
            )
            .map_err(|_| OpenError::Inauthentic)
    }
}

/// The random source or the cipher failed: nothing a client did.
#[derive(Debug, thiserror::Error)]
#[error("sealing failed: {0}")]
pub struct SealError(String);

fn seal_with(
    kid: &str,
    cipher: &XChaCha20Poly1305,
    binding: &[u8],
    plaintext: &[u8],
) -> Result<String, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| SealError(e.to_string()))?;
    let ciphertext = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: binding,
            },
        )
        .map_err(|e| SealError(e.to_string()))?;
    let mut body = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    body.extend_from_slice(&nonce);
    body.extend_from_slice(&ciphertext);
    Ok(format!("{VERSION}:{kid}:{}", BASE64.encode(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kid: &str, byte: u8) -> String {
        format!("{kid}={}", BASE64.encode([byte; KEY_LEN]))
    }

    #[test]
    fn seals_with_the_first_key_and_opens_with_any_listed_one() {
        let old = Keyring::parse(&[entry("k1", 1)]).unwrap();
        let sealed = old.seal(b"row-1", b"123-45-6789").unwrap().unwrap();
        assert!(sealed.starts_with("v1:k1:"), "{sealed}");
        assert!(!sealed.contains("123-45-6789"));

        let rotated = Keyring::parse(&[entry("k2", 2), entry("k1", 1)]).unwrap();
        assert_eq!(rotated.current_kid(), Some("k2"));
        assert_eq!(rotated.open(b"row-1", &sealed).unwrap(), b"123-45-6789");
        let fresh = rotated.seal(b"row-1", b"x").unwrap().unwrap();
        assert!(fresh.starts_with("v1:k2:"));
        assert_eq!(
            old.open(b"row-1", &fresh),
            Err(OpenError::UnknownKey("k2".into()))
        );
    }

    #[test]
    fn a_value_opens_only_under_its_own_binding() {
        let ring = Keyring::parse(&[entry("k1", 1)]).unwrap();
        let sealed = ring.seal(b"row-1", b"secret").unwrap().unwrap();
        assert_eq!(ring.open(b"row-2", &sealed), Err(OpenError::Inauthentic));
        let same_kid_other_key = Keyring::parse(&[entry("k1", 9)]).unwrap();
        assert_eq!(
            same_kid_other_key.open(b"row-1", &sealed),
            Err(OpenError::Inauthentic)
        );
        assert_eq!(ring.open(b"row-1", "v1:k1"), Err(OpenError::Malformed));
        assert_eq!(ring.open(b"row-1", "v1:k1:AAAA"), Err(OpenError::Malformed));
    }

    #[test]
    fn bad_configuration_is_refused_without_echoing_keys() {
        assert!(Keyring::parse(&[]).unwrap().seal(b"", b"").is_none());
        assert_eq!(
            Keyring::parse(&["nokey".into()]).unwrap_err(),
            KeyringError::Malformed
        );
        assert_eq!(
            Keyring::parse(&["k1=c2hvcnQ=".into()]).unwrap_err(),
            KeyringError::BadKey("k1".into())
        );
        assert_eq!(
            Keyring::parse(&[entry("k1", 1), entry("k1", 2)]).unwrap_err(),
            KeyringError::Duplicate("k1".into())
        );
        let debug = format!("{:?}", Keyring::parse(&[entry("k1", 1)]).unwrap());
        assert!(!debug.contains(&BASE64.encode([1u8; KEY_LEN])), "{debug}");
    }
}
