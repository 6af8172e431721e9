//! Standard Webhooks signing: a secret is `whsec_` followed by base64 of random bytes, and
//! `webhook-signature` is `v1,` followed by base64 of HMAC-SHA256, keyed with the secret's
//! decoded bytes, over `{webhook-id}.{webhook-timestamp}.{body}`.

use crate::error::{AppError, AppResult};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What every secret's text starts with.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (Standard Webhooks asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A signing secret. Its `Debug` never shows it, so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A new random secret.
    pub fn generate() -> AppResult<Secret> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| AppError::Internal(format!("no randomness for a secret: {e}")))?;
        Ok(Secret(bytes))
    }

    /// Reads `whsec_<base64>`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Secret> {
        let bytes = BASE64.decode(text.strip_prefix(SECRET_PREFIX)?).ok()?;
        (!bytes.is_empty()).then_some(Secret(bytes))
    }

    /// `whsec_<base64>`: what its owner is shown, once.
    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.0))
    }

    /// The `webhook-signature` header's value for one attempt: `v1,<base64>`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &str) -> String {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(format!("{message_id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_as_the_standard_webhooks_reference_does() {
        // The test vector of the Standard Webhooks reference libraries.
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_round_trip_and_never_show_in_debug() {
        let secret = Secret::generate().unwrap();
        let text = secret.to_text();
        assert!(text.starts_with("whsec_"));
        assert_eq!(Secret::parse(&text), Some(secret.clone()));
        assert!(!format!("{secret:?}").contains(&text[6..]));
        assert_eq!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), None);
    }
}
