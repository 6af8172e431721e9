//! Who is calling: credentials in, a `Principal` out. API keys are random, shown once and
//! stored only as SHA-256 digests; JWTs are short-lived HS256 tokens minted from a key.

use crate::domain::{Permission, WorkspaceId};
use crate::error::{AppError, AppResult};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const ISSUER: &str = "convio";
const AUDIENCE: &str = "convio";

/// Who performs an action, as written to the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The holder of the admin key.
    Admin,
    Workspace(WorkspaceId),
}

/// An authenticated caller and what it may do.
#[derive(Clone, Debug)]
pub struct Principal {
    pub actor: Actor,
    pub permissions: Vec<Permission>,
}

impl Principal {
    pub fn admin() -> Self {
        Principal {
            actor: Actor::Admin,
            permissions: vec![Permission::Admin],
        }
    }

    /// True for the admin key and for workspaces granted `admin`: they see every workspace.
    pub fn is_admin(&self) -> bool {
        self.actor == Actor::Admin || self.permissions.contains(&Permission::Admin)
    }

    pub fn require(&self, permission: Permission) -> AppResult<()> {
        if self.is_admin() || self.permissions.contains(&permission) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "this operation needs the '{}' permission",
                permission.as_str()
            )))
        }
    }

    pub fn require_admin(&self) -> AppResult<()> {
        self.require(Permission::Admin)
    }

    /// The workspace whose data this caller is confined to; `None` means every workspace.
    pub fn scope(&self) -> Option<&WorkspaceId> {
        match &self.actor {
            Actor::Workspace(id) if !self.is_admin() => Some(id),
            _ => None,
        }
    }

    /// The caller's own workspace, if it is one.
    pub fn workspace(&self) -> Option<&WorkspaceId> {
        match &self.actor {
            Actor::Workspace(id) => Some(id),
            Actor::Admin => None,
        }
    }

    /// May this caller see data that belongs to `workspace`?
    pub fn can_see(&self, workspace: &str) -> bool {
        self.scope().is_none_or(|own| own.as_str() == workspace)
    }

    /// The audit log's name for this caller.
    pub fn audit_name(&self) -> String {
        match &self.actor {
            Actor::Admin => "admin".to_owned(),
            Actor::Workspace(id) => format!("workspace:{id}"),
        }
    }
}

/// The caller of one request: who, plus the request id that ties audit entries to logs.
#[derive(Clone, Debug)]
pub struct Caller {
    pub principal: Principal,
    pub request_id: Option<String>,
}

/// Credentials as presented, before they are checked.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub workspace_id: Option<String>,
    pub api_key: Option<String>,
    pub bearer: Option<String>,
}

impl Credentials {
    /// Reads `X-Workspace-ID`, `X-API-Key` and `Authorization: Bearer …` from any
    /// case-insensitive name/value source (HTTP headers or a WebSocket `connection_init` payload).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut creds = Credentials::default();
        for (name, value) in pairs {
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "x-workspace-id" => creds.workspace_id = Some(value.to_owned()),
                "x-api-key" => creds.api_key = Some(value.to_owned()),
                "authorization" => {
                    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
                    if scheme.eq_ignore_ascii_case("bearer") {
                        creds.bearer = Some(rest.trim().to_owned());
                    }
                }
                _ => {}
            }
        }
        creds
    }

    pub fn is_empty(&self) -> bool {
        self.workspace_id.is_none() && self.api_key.is_none() && self.bearer.is_none()
    }
}

/// A new random API key: a recognisable prefix and 256 random bits in hex.
pub fn generate_key(prefix: &str) -> AppResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::Internal(format!("random source failed: {e}")))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{prefix}{hex}"))
}

/// The stored form of a key. Keys carry 256 random bits, so a fast hash is enough: there is
/// nothing to brute-force (a slow password hash would only slow every request).
pub fn hash_key(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two equal-length digests without an early exit.
pub fn digests_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// JWT claims. `sub` is `admin` or `workspace:<id>`.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
}

/// Signs and checks access tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_seconds: i64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_seconds: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_seconds,
        }
    }

    pub fn issue(&self, principal: &Principal) -> AppResult<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: principal.audit_name(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_seconds,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("signing a token failed: {e}")))
    }

    /// Checks a token and returns whom it names: `None` for the admin, else the workspace.
    pub fn verify(&self, token: &str) -> AppResult<Actor> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AppError::Unauthenticated("invalid or expired token".to_owned()))?;
        match data.claims.sub.split_once(':') {
            None if data.claims.sub == "admin" => Ok(Actor::Admin),
            Some(("workspace", id)) => Ok(Actor::Workspace(WorkspaceId::parse("sub", id)?)),
            _ => Err(AppError::Unauthenticated(
                "invalid token subject".to_owned(),
            )),
        }
    }
}

/// Whether a bearer credential looks like a JWT rather than an API key.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.matches('.').count() == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_headers_case_insensitively() {
        let c = Credentials::from_pairs([
            ("x-workspace-id", "w1"),
            ("X-API-KEY", "k"),
            ("Authorization", "bearer t"),
        ]);
        assert_eq!(c.workspace_id.as_deref(), Some("w1"));
        assert_eq!(c.api_key.as_deref(), Some("k"));
        assert_eq!(c.bearer.as_deref(), Some("t"));
    }

    #[test]
    fn keys_are_random_and_hashed() {
        let a = generate_key("convio_").unwrap();
        let b = generate_key("convio_").unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), "convio_".len() + 64);
        assert_eq!(hash_key(&a).len(), 64);
        assert!(digests_equal(&hash_key(&a), &hash_key(&a)));
        assert!(!digests_equal(&hash_key(&a), &hash_key(&b)));
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let keys = TokenKeys::new(b"secret-secret-secret-secret-1234", 60);
        let ws = Principal {
            actor: Actor::Workspace(WorkspaceId::parse("w", "ws_1").unwrap()),
            permissions: vec![Permission::Read],
        };
        let token = keys.issue(&ws).unwrap();
        assert!(looks_like_jwt(&token));
        assert_eq!(keys.verify(&token).unwrap(), ws.actor);
        let other = TokenKeys::new(b"another-secret-another-secret-12", 60);
        assert!(other.verify(&token).is_err());
        let expired = TokenKeys::new(b"secret-secret-secret-secret-1234", -120);
        let old = expired.issue(&ws).unwrap();
        assert!(keys.verify(&old).is_err());
    }

    #[test]
    fn scope_confines_workspaces_but_not_admins() {
        let ws = Principal {
            actor: Actor::Workspace(WorkspaceId::parse("w", "a").unwrap()),
            permissions: vec![Permission::Read],
        };
        assert!(ws.can_see("a") && !ws.can_see("b"));
        assert!(ws.require(Permission::Convert).is_err());
        assert!(Principal::admin().can_see("b"));
    }
}
