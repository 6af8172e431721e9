//! Who is calling: credentials in, a `Principal` out. API keys are random, shown once and
//! stored only as keyed digests (HMAC-SHA256 with a server-side pepper; plain SHA-256 on
//! installs without one); JWTs are short-lived HS256 tokens minted from a key (never from
//! another token), carrying a `kid` so the signing secret can be rotated, and what ties them
//! to the key they were minted from: the id of its `api_keys` row, or, for the configured admin
//! key, a keyed fingerprint of it. Revoking or changing that key cancels them.

use crate::domain::{Permission, WorkspaceId};
use crate::error::{AppError, AppResult};
use chrono::Utc;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

const ISSUER: &str = "convio";
const AUDIENCE: &str = "convio";

/// Who performs an action, as written to the audit log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    /// The holder of the admin key.
    Admin,
    Workspace(WorkspaceId),
}

/// How a caller proved who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proof {
    /// An API key (`X-API-Key` or `Authorization: Bearer <key>`), or an internal job.
    ApiKey,
    /// A JWT from `POST /auth/token`: enough to use the API for its short life, never to mint
    /// longer-lived credentials (API keys, or further tokens).
    Token,
}

/// An authenticated caller and what it may do. Equal principals see the same data (the
/// WebSocket's shared feed relies on it).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal {
    pub actor: Actor,
    pub permissions: Vec<Permission>,
    /// The `api_keys` row the credentials trace back to (directly, or through the JWT
    /// minted from it); `None` for the configured admin key and for internal jobs. Revoking
    /// that row cancels everything derived from it.
    pub key_id: Option<i64>,
    /// Whether the caller presented a key or a token.
    pub proof: Proof,
}

impl Principal {
    /// The admin, through the configured admin key (or an internal job acting as admin).
    pub fn admin() -> Self {
        Principal {
            actor: Actor::Admin,
            permissions: vec![Permission::Admin],
            key_id: None,
            proof: Proof::ApiKey,
        }
    }

    /// Refuses a caller that presented a token: `what` (minting an API key or a token, or
    /// widening what keys may do) needs an API key, so a token, however it leaked, can never
    /// be turned into credentials that outlive it. `FORBIDDEN`.
    pub fn require_api_key(&self, what: &str) -> AppResult<()> {
        match self.proof {
            Proof::ApiKey => Ok(()),
            Proof::Token => Err(AppError::Forbidden(format!(
                "{what} needs an API key, not a token"
            ))),
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

    /// Who reads sensitive custom values in plaintext: the admin, and callers that may write
    /// the data they are attached to (`update` or `convert`). Read-only keys (dashboards,
    /// reporting) see them masked. Which rows a caller sees at all is decided elsewhere.
    pub fn may_read_sensitive(&self) -> bool {
        self.is_admin()
            || self.permissions.contains(&Permission::Update)
            || self.permissions.contains(&Permission::Convert)
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
    /// A credential header came more than once (or, in a `connection_init` payload, under
    /// two spellings of its name): which one is meant cannot be told, so it is refused.
    pub repeated: bool,
}

impl Credentials {
    /// Reads `X-Workspace-ID`, `X-API-Key` and `Authorization: Bearer …` from any
    /// case-insensitive name/value source (HTTP headers or a WebSocket `connection_init` payload).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut creds = Credentials::default();
        for (name, value) in pairs {
            let value = value.trim();
            let (slot, value) = match name.to_ascii_lowercase().as_str() {
                "x-workspace-id" => (&mut creds.workspace_id, value),
                "x-api-key" => (&mut creds.api_key, value),
                "authorization" => match value.split_once(' ') {
                    Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                        (&mut creds.bearer, token.trim())
                    }
                    _ => continue,
                },
                _ => continue,
            };
            let repeated = slot.replace(value.to_owned()).is_some();
            creds.repeated |= repeated;
        }
        creds
    }

    /// Why these credentials cannot name one caller, if they cannot: a credential given twice,
    /// or a key or token in `Authorization` beside an `X-API-Key` (which of the two would
    /// authenticate is a guess no server should make).
    pub fn ambiguity(&self) -> Option<&'static str> {
        if self.repeated {
            Some("a credential header is given more than once: send each once")
        } else if self.api_key.is_some() && self.bearer.is_some() {
            Some("send either X-API-Key or Authorization: Bearer, not both")
        } else {
            None
        }
    }

    pub fn is_empty(&self) -> bool {
        self.workspace_id.is_none() && self.api_key.is_none() && self.bearer.is_none()
    }
}

/// Which kind of credential a request presented: a bearer that looks like a JWT is a token,
/// another bearer a key. Only labels the failed-authentication counter: it says nothing about
/// validity (`Services::authenticate` refuses a request presenting two; see
/// [`Credentials::ambiguity`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialKind {
    /// `X-API-Key` (with or without `X-Workspace-ID`), or an `X-Workspace-ID` alone.
    ApiKey,
    /// `Authorization: Bearer <API key>`.
    BearerKey,
    /// `Authorization: Bearer <JWT>`.
    Jwt,
}

impl CredentialKind {
    pub const ALL: [CredentialKind; 3] = [Self::ApiKey, Self::BearerKey, Self::Jwt];

    /// `None` for a request without any credentials: that is anonymous, not a failed attempt.
    pub fn of(creds: &Credentials) -> Option<Self> {
        match (&creds.bearer, &creds.api_key) {
            _ if creds.is_empty() => None,
            (Some(token), _) if looks_like_jwt(token) => Some(Self::Jwt),
            (_, Some(_)) | (None, None) => Some(Self::ApiKey),
            (Some(_), None) => Some(Self::BearerKey),
        }
    }

    /// The Prometheus label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::BearerKey => "bearer_key",
            Self::Jwt => "jwt",
        }
    }
}

/// The network identity that failed authentication attempts are counted under: an IPv4
/// address, or the /64 prefix of an IPv6 address (one host or subscriber usually holds a whole
/// /64, so counting single IPv6 addresses would hand an attacker 2^64 fresh counters).
/// IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(IpAddr);

impl ClientAddr {
    pub fn new(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => ClientAddr(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientAddr(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientAddr(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientAddr {
    /// `203.0.113.7`, or `2001:db8:1:2::/64`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// An IP network (`10.0.0.0/8`, `2001:db8::/32`) or a single address (`10.1.2.3`), as
/// `--trusted-proxies` lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNetwork {
    base: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Whether `ip` is inside this network. IPv4-mapped IPv6 addresses match IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.base, ip) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNetwork {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let bad = || format!("{raw:?} is not an IP address or network (e.g. 10.0.0.0/8)");
        let (addr, prefix) = raw
            .split_once('/')
            .map_or((raw, None), |(a, p)| (a, Some(p)));
        let base: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(IpNetwork { base, prefix })
    }
}

/// A new random API key: a recognisable prefix and 256 random bits in hex.
pub fn generate_key(prefix: &str) -> AppResult<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| AppError::Internal(format!("random source failed: {e}")))?;
    Ok(format!("{prefix}{}", hex::encode(bytes)))
}

/// Plain SHA-256 of a key, in hex: the legacy stored form, and how the configured admin key
/// is held in memory. Keys carry 256 random bits, so a fast hash is enough: there is nothing
/// to brute-force (a slow password hash would only slow every request).
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Marks a stored digest as HMAC-SHA256 with the pepper. Digests without a scheme prefix are
/// plain SHA-256, as every install stored them before the pepper existed.
const HMAC_SCHEME: &str = "hmac1:";

/// The smallest pepper accepted: as many bytes as the HMAC-SHA256 output.
pub const MIN_PEPPER_LEN: usize = 32;

/// Turns API keys into their stored digests. With a pepper, a stolen `api_keys` table alone
/// cannot even confirm a guessed key; without one (existing installs), keys are stored as
/// plain SHA-256 as before.
#[derive(Clone, Default)]
pub struct KeyHasher {
    pepper: Option<Arc<[u8]>>,
}

impl KeyHasher {
    pub fn new(pepper: Option<&str>) -> AppResult<Self> {
        match pepper {
            Some(p) if p.len() < MIN_PEPPER_LEN => Err(AppError::invalid(
                "key_pepper",
                format!("must be at least {MIN_PEPPER_LEN} bytes"),
            )),
            Some(p) => Ok(KeyHasher {
                pepper: Some(Arc::from(p.as_bytes())),
            }),
            None => Ok(KeyHasher { pepper: None }),
        }
    }

    pub fn is_keyed(&self) -> bool {
        self.pepper.is_some()
    }

    /// The digest to store for a new key: keyed when a pepper is configured.
    pub fn stored_form(&self, key: &str) -> String {
        match self.hmac(key) {
            Some(digest) => digest,
            None => hash_key(key),
        }
    }

    /// Every stored form this key may have: rows written before the pepper was configured
    /// hold plain SHA-256, so both are looked up (one `IN` query) and whichever the row
    /// holds is the one that counts.
    pub fn candidates(&self, key: &str) -> Vec<String> {
        let mut forms = vec![hash_key(key)];
        forms.extend(self.hmac(key));
        forms
    }

    fn hmac(&self, key: &str) -> Option<String> {
        let pepper = self.pepper.as_ref()?;
        // HMAC accepts keys of any length, so this cannot fail; `ok()?` keeps it panic-free.
        let mut mac = Hmac::<Sha256>::new_from_slice(pepper).ok()?;
        mac.update(key.as_bytes());
        Some(format!(
            "{HMAC_SCHEME}{}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }
}

/// Compares two equal-length digests without an early exit.
pub fn digests_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// JWT claims. `sub` is `admin` or `workspace:<id>`; `key` is the id of the API key the
/// token was minted from (absent only for the configured admin key); `akf` fingerprints the
/// configured admin key an admin token without `key` was minted from.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    akf: Option<String>,
}

/// What a valid token says: whom it names and which API key it was minted from. Whether
/// that key still stands is for the caller to check against the database.
#[derive(Debug, PartialEq, Eq)]
pub struct TokenSubject {
    pub actor: Actor,
    pub key_id: Option<i64>,
}

/// The key id of a signing secret: the first 8 hex digits of its SHA-256. Derived, not
/// configured, so every node with the same secret names it the same way, and the id reveals
/// nothing usable about the secret.
pub fn key_id(secret: &[u8]) -> String {
    hex::encode(&Sha256::digest(secret)[..4])
}

/// A secret that verifies tokens, with its raw bytes for the admin-key fingerprint.
struct Verifier {
    key: DecodingKey,
    secret: Arc<[u8]>,
}

/// Signs and checks access tokens. New tokens are signed with the current secret and carry
/// its `kid`; tokens are checked with the secret their `kid` names, which may be a previous
/// one kept for the length of a token's lifetime while a rotation rolls out.
#[derive(Clone)]
pub struct TokenKeys {
    kid: String,
    encoding: EncodingKey,
    decoding: Arc<HashMap<String, Verifier>>,
    validation: Validation,
    pub ttl_seconds: i64,
}

impl TokenKeys {
    pub fn new(secret: &[u8], ttl_seconds: i64) -> Self {
        Self::with_previous(secret, &[], ttl_seconds)
    }

    /// `previous` holds `(kid, secret)` pairs of secrets that verify but no longer sign.
    pub fn with_previous(secret: &[u8], previous: &[(String, Vec<u8>)], ttl_seconds: i64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let kid = key_id(secret);
        let verifier = |secret: &[u8]| Verifier {
            key: DecodingKey::from_secret(secret),
            secret: Arc::from(secret),
        };
        let mut decoding: HashMap<String, Verifier> = previous
            .iter()
            .map(|(kid, secret)| (kid.clone(), verifier(secret)))
            .collect();
        decoding.insert(kid.clone(), verifier(secret));
        TokenKeys {
            kid,
            encoding: EncodingKey::from_secret(secret),
            decoding: Arc::new(decoding),
            validation,
            ttl_seconds,
        }
    }

    /// The key id new tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Mints a token for `principal`, which must have presented an API key: its `api_keys`
    /// row, or the configured admin key whose digest is `admin_key` (SHA-256, as
    /// `hash_key` gives it). The token is tied to that key: `verify` refuses it once the
    /// configured admin key is another; revocation of a row is the caller's to check.
    pub fn issue(&self, principal: &Principal, admin_key: Option<&str>) -> AppResult<String> {
        principal.require_api_key("minting a token")?;
        let akf = match (&principal.actor, principal.key_id, admin_key) {
            (_, Some(_), _) => None,
            (Actor::Admin, None, Some(admin_key)) => {
                let secret = &self
                    .decoding
                    .get(&self.kid)
                    .ok_or_else(|| AppError::Internal("the signing secret has no kid".into()))?
                    .secret;
                Some(admin_key_fingerprint(secret, admin_key))
            }
            _ => {
                return Err(AppError::Forbidden(
                    "tokens are minted from API keys only".into(),
                ));
            }
        };
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: principal.audit_name(),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            nbf: now,
            exp: now + self.ttl_seconds,
            key: principal.key_id,
            akf,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| AppError::Internal(format!("signing a token failed: {e}")))
    }

    /// Checks a token's signature and claims and returns what it says. A token without a
    /// `kid`, or with one no configured secret has, is refused; so is an admin token without
    /// a key id whose fingerprint is not that of the configured admin key (digest
    /// `admin_key`, `None` when there is none): changing the admin key cancels its tokens.
    pub fn verify(&self, token: &str, admin_key: Option<&str>) -> AppResult<TokenSubject> {
        let invalid = || AppError::Unauthenticated("invalid or expired token".to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let verifier = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or_else(invalid)?;
        let data = jsonwebtoken::decode::<Claims>(token, &verifier.key, &self.validation)
            .map_err(|_| invalid())?;
        let actor = match data.claims.sub.split_once(':') {
            None if data.claims.sub == "admin" => Actor::Admin,
            Some(("workspace", id)) => Actor::Workspace(WorkspaceId::parse("sub", id)?),
            _ => {
                return Err(AppError::Unauthenticated(
                    "invalid token subject".to_owned(),
                ));
            }
        };
        if actor == Actor::Admin && data.claims.key.is_none() {
            let expected = admin_key.map(|k| admin_key_fingerprint(&verifier.secret, k));
            let matches = match (expected, data.claims.akf.as_deref()) {
                (Some(expected), Some(claimed)) => digests_equal(&expected, claimed),
                _ => false,
            };
            if !matches {
                return Err(AppError::Unauthenticated(
                    "the admin key this token came from has changed".to_owned(),
                ));
            }
        }
        Ok(TokenSubject {
            actor,
            key_id: data.claims.key,
        })
    }
}

/// What ties an admin token to the configured admin key: HMAC-SHA256 of the key's digest under
/// the signing secret, 128 bits in hex. Keyed, so a token (which anyone holding it can read)
/// does not let its holder test guesses of the admin key offline.
fn admin_key_fingerprint(secret: &[u8], admin_key_digest: &str) -> String {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail here.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(b"convio admin key\0");
    mac.update(admin_key_digest.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
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
    fn credentials_that_could_name_two_callers_are_ambiguous() {
        let kinds = |pairs: &[(&str, &str)]| Credentials::from_pairs(pairs.iter().copied());
        assert!(kinds(&[("x-api-key", "k")]).ambiguity().is_none());
        assert!(
            kinds(&[("authorization", "Bearer k")])
                .ambiguity()
                .is_none()
        );
        assert!(
            kinds(&[("x-api-key", "k"), ("authorization", "Bearer k")])
                .ambiguity()
                .is_some()
        );
        assert!(
            kinds(&[("x-api-key", "a"), ("X-Api-Key", "b")])
                .ambiguity()
                .is_some()
        );
        let ids = [
            ("x-workspace-id", "a"),
            ("x-workspace-id", "a"),
            ("x-api-key", "k"),
        ];
        assert!(kinds(&ids).ambiguity().is_some());
        // Another scheme is not a credential of ours, and so not a second one.
        assert!(
            kinds(&[("x-api-key", "k"), ("authorization", "Basic Zm9v")])
                .ambiguity()
                .is_none()
        );
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
            key_id: Some(42),
            proof: Proof::ApiKey,
        };
        let token = keys.issue(&ws, None).unwrap();
        assert!(looks_like_jwt(&token));
        assert_eq!(
            keys.verify(&token, None).unwrap(),
            TokenSubject {
                actor: ws.actor.clone(),
                key_id: Some(42)
            }
        );
        let other = TokenKeys::new(b"another-secret-another-secret-12", 60);
        assert!(other.verify(&token, None).is_err());
        let expired = TokenKeys::new(b"secret-secret-secret-secret-1234", -120);
        let old = expired.issue(&ws, None).unwrap();
        assert!(keys.verify(&old, None).is_err());
    }

    #[test]
    fn a_token_mints_nothing() {
        let keys = TokenKeys::new(b"secret-secret-secret-secret-1234", 60);
        let from_token = Principal {
            proof: Proof::Token,
            ..Principal::admin()
        };
        assert!(matches!(
            keys.issue(&from_token, Some("digest")),
            Err(AppError::Forbidden(_))
        ));
        assert!(from_token.require_api_key("rotating a key").is_err());
        assert!(Principal::admin().require_api_key("rotating a key").is_ok());
        // An admin without a key row and without a configured admin key has nothing to bind to.
        assert!(keys.issue(&Principal::admin(), None).is_err());
    }

    #[test]
    fn an_admin_token_dies_with_the_admin_key_it_came_from() {
        let keys = TokenKeys::new(b"secret-secret-secret-secret-1234", 60);
        let (old_key, new_key) = (hash_key("admin-key-one"), hash_key("admin-key-two"));
        let token = keys.issue(&Principal::admin(), Some(&old_key)).unwrap();
        assert_eq!(
            keys.verify(&token, Some(&old_key)).unwrap().actor,
            Actor::Admin
        );
        assert!(keys.verify(&token, Some(&new_key)).is_err());
        assert!(keys.verify(&token, None).is_err());
        assert!(
            !token.contains(&old_key),
            "the digest itself is not in the token"
        );
    }

    #[test]
    fn a_previous_secret_verifies_by_kid_but_does_not_sign() {
        let old_secret = b"old-secret-old-secret-old-secret-";
        let old = TokenKeys::new(old_secret, 60);
        let admin_key = hash_key("the-admin-key");
        let token = old.issue(&Principal::admin(), Some(&admin_key)).unwrap();
        let rotated = TokenKeys::with_previous(
            b"new-secret-new-secret-new-secret-",
            &[(key_id(old_secret), old_secret.to_vec())],
            60,
        );
        let verified = rotated.verify(&token, Some(&admin_key)).unwrap();
        assert_eq!(verified.actor, Actor::Admin);
        assert_ne!(rotated.kid(), old.kid());
        let fresh = rotated
            .issue(&Principal::admin(), Some(&admin_key))
            .unwrap();
        assert!(
            old.verify(&fresh, Some(&admin_key)).is_err(),
            "the old node knows no new kid"
        );
    }

    #[test]
    fn peppered_keys_are_keyed_and_legacy_digests_still_match() {
        let key = generate_key("convio_").unwrap();
        let plain = KeyHasher::new(None).unwrap();
        let peppered = KeyHasher::new(Some("pepper-pepper-pepper-pepper-pepper")).unwrap();
        assert_eq!(plain.stored_form(&key), hash_key(&key));
        let stored = peppered.stored_form(&key);
        assert!(stored.starts_with("hmac1:") && !stored.contains(&hash_key(&key)));
        assert!(peppered.candidates(&key).contains(&stored));
        assert!(peppered.candidates(&key).contains(&hash_key(&key)));
        assert!(KeyHasher::new(Some("short")).is_err());
    }

    #[test]
    fn credential_kinds_follow_how_authentication_reads_them() {
        let kind = |pairs: &[(&str, &str)]| {
            CredentialKind::of(&Credentials::from_pairs(pairs.iter().copied()))
        };
        assert_eq!(kind(&[]), None);
        assert_eq!(kind(&[("x-api-key", "k")]), Some(CredentialKind::ApiKey));
        assert_eq!(
            kind(&[("x-workspace-id", "w")]),
            Some(CredentialKind::ApiKey)
        );
        assert_eq!(
            kind(&[("authorization", "Bearer convio_k")]),
            Some(CredentialKind::BearerKey)
        );
        assert_eq!(
            kind(&[("authorization", "Bearer eyJa.b.c")]),
            Some(CredentialKind::Jwt)
        );
        assert_eq!(
            kind(&[("authorization", "Bearer eyJa.b.c"), ("x-api-key", "k")]),
            Some(CredentialKind::Jwt)
        );
    }

    #[test]
    fn client_addresses_count_ipv6_by_its_64_prefix() {
        let addr = |s: &str| ClientAddr::new(s.parse().unwrap());
        assert_eq!(addr("203.0.113.7").to_string(), "203.0.113.7");
        assert_eq!(addr("::ffff:203.0.113.7"), addr("203.0.113.7"));
        assert_eq!(addr("2001:db8:1:2:aaaa::1"), addr("2001:db8:1:2:bbbb::2"));
        assert_ne!(addr("2001:db8:1:2::1"), addr("2001:db8:1:3::1"));
        assert_eq!(addr("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn ip_networks_parse_and_match() {
        let net = |s: &str| s.parse::<IpNetwork>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(net("10.0.0.0/8").contains(ip("10.200.1.1")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("10.1.2.3").contains(ip("10.1.2.3")));
        assert!(!net("10.1.2.3").contains(ip("10.1.2.4")));
        assert!(net("10.1.2.3").contains(ip("::ffff:10.1.2.3")));
        assert!(net("0.0.0.0/0").contains(ip("192.0.2.1")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(!net("2001:db8::/32").contains(ip("10.0.0.1")));
        for bad in ["", "10.0.0.0/33", "10.0.0/8", "proxy.example", "::/129"] {
            assert!(bad.parse::<IpNetwork>().is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_confines_workspaces_but_not_admins() {
        let ws = Principal {
            actor: Actor::Workspace(WorkspaceId::parse("w", "a").unwrap()),
            permissions: vec![Permission::Read],
            key_id: None,
            proof: Proof::ApiKey,
        };
        assert!(ws.can_see("a") && !ws.can_see("b"));
        assert!(ws.require(Permission::Convert).is_err());
        assert!(Principal::admin().can_see("b"));
    }
}
