//! Encord request signing (PROTOCOL.md §2): an OpenSSH Ed25519 key signs legacy `/public` calls
//! (`Authorization: <public key hex>:<hex(Ed25519(SHA-256(body)))>`) and v2 calls (HTTP message
//! signatures over method, target and `Content-Digest`). Verification is here too, for the
//! Encord-compatible server. Key material never appears in an error or a `Debug` output.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// A key or signature problem. Messages never contain key material.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// Neither `ENCORD_SSH_KEY_FILE` nor `ENCORD_SSH_KEY` is set.
    #[error("no Encord key: set ENCORD_SSH_KEY_FILE (a path) or ENCORD_SSH_KEY (the key text)")]
    NoKey,
    /// The key file could not be read.
    #[error("{path}: cannot read the Encord key ({cause})")]
    KeyFile {
        /// The key file.
        path: String,
        /// The I/O error's text.
        cause: String,
    },
    /// The key is not an unencrypted OpenSSH Ed25519 private key.
    #[error("the Encord key is not an unencrypted OpenSSH Ed25519 private key ({0})")]
    BadKey(&'static str),
    /// A signature header is missing or malformed.
    #[error("malformed signature: {0}")]
    Malformed(&'static str),
    /// The key id is not registered.
    #[error("unknown public key {0}")]
    UnknownKey(String),
    /// The signature does not verify.
    #[error("signature does not verify for key {0}")]
    BadSignature(String),
    /// The v2 `created` time is too far from now.
    #[error("signature created {skew_secs} s away from the server clock")]
    Stale {
        /// |created - now| in seconds.
        skew_secs: i64,
    },
}

/// An Ed25519 signing key loaded from an OpenSSH private key.
pub struct SigningKey {
    key: ed25519_dalek::SigningKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", self.public_key_hex())
    }
}

/// The three headers of a v2 signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Signature {
    /// `Content-Digest` value.
    pub content_digest: String,
    /// `Signature-Input` value.
    pub signature_input: String,
    /// `Signature` value.
    pub signature: String,
}

/// `sha-256=:<base64(sha256(body))>:`
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", BASE64.encode(Sha256::digest(body)))
}

fn signature_params(created: i64, keyid: &str) -> String {
    format!(r#"("@method" "@request-target" "content-digest");created={created};keyid="{keyid}";alg="ed25519""#)
}

fn signature_base(method: &str, request_target: &str, digest: &str, params: &str) -> String {
    format!(
        "\"@method\": {}\n\"@request-target\": {request_target}\n\"content-digest\": {digest}\n\"@signature-params\": {params}",
        method.to_ascii_uppercase()
    )
}

/// Reads an SSH wire-format string (u32 big-endian length + bytes) off the front of `data`.
fn ssh_string<'a>(data: &mut &'a [u8]) -> Result<&'a [u8], AuthError> {
    let bad = AuthError::BadKey("truncated key data");
    let (len, rest) = data.split_first_chunk::<4>().ok_or(bad.clone())?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(bad);
    }
    let (value, rest) = rest.split_at(len);
    *data = rest;
    Ok(value)
}

impl SigningKey {
    /// A key from its 32-byte Ed25519 seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self { key: ed25519_dalek::SigningKey::from_bytes(&seed) }
    }

    /// Parses an unencrypted OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`).
    pub fn from_openssh(text: &str) -> Result<Self, AuthError> {
        let body: String = text
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != "-----BEGIN OPENSSH PRIVATE KEY-----")
            .skip(1)
            .take_while(|l| *l != "-----END OPENSSH PRIVATE KEY-----")
            .collect();
        if body.is_empty() {
            return Err(AuthError::BadKey("no OPENSSH PRIVATE KEY block"));
        }
        let raw = BASE64.decode(body).map_err(|_| AuthError::BadKey("the key block is not base64"))?;
        let mut data = raw.strip_prefix(b"openssh-key-v1\0".as_slice()).ok_or(AuthError::BadKey("not an openssh-key-v1 key"))?;
        let cipher = ssh_string(&mut data)?;
        let _kdf = ssh_string(&mut data)?;
        let _kdf_options = ssh_string(&mut data)?;
        if cipher != b"none" {
            return Err(AuthError::BadKey("the key is encrypted"));
        }
        let (count, rest) = data.split_first_chunk::<4>().ok_or(AuthError::BadKey("truncated key data"))?;
        if u32::from_be_bytes(*count) != 1 {
            return Err(AuthError::BadKey("the file holds more than one key"));
        }
        data = rest;
        let _public_blob = ssh_string(&mut data)?;
        let mut private = ssh_string(&mut data)?;
        let (check, rest) = private.split_first_chunk::<8>().ok_or(AuthError::BadKey("truncated key data"))?;
        if check[..4] != check[4..] {
            return Err(AuthError::BadKey("corrupt private section"));
        }
        private = rest;
        if ssh_string(&mut private)? != b"ssh-ed25519" {
            return Err(AuthError::BadKey("not an Ed25519 key"));
        }
        let public = ssh_string(&mut private)?;
        let secret = ssh_string(&mut private)?;
        let seed: [u8; 32] = secret.get(..32).and_then(|s| s.try_into().ok()).ok_or(AuthError::BadKey("short secret"))?;
        let key = Self::from_seed(seed);
        if key.key.verifying_key().as_bytes().as_slice() != public {
            return Err(AuthError::BadKey("public and private parts do not match"));
        }
        Ok(key)
    }

    /// Loads the key Encord's SDK would: `ENCORD_SSH_KEY_FILE` (a path) first, then
    /// `ENCORD_SSH_KEY` (the key text).
    pub fn from_env() -> Result<Self, AuthError> {
        if let Some(path) = std::env::var_os("ENCORD_SSH_KEY_FILE") {
            let path_text = path.to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).map_err(|e| AuthError::KeyFile { path: path_text, cause: e.kind().to_string() })?;
            return Self::from_openssh(&text);
        }
        match std::env::var("ENCORD_SSH_KEY") {
            Ok(text) => Self::from_openssh(&text),
            Err(_) => Err(AuthError::NoKey),
        }
    }

    /// The public key as 64 lower-case hex characters (Encord's key id).
    pub fn public_key_hex(&self) -> String {
        hex(self.key.verifying_key().as_bytes())
    }

    /// The legacy `Authorization` header value for a `/public` request body.
    pub fn legacy_authorization(&self, body: &[u8]) -> String {
        let signature = self.key.sign(&Sha256::digest(body));
        format!("{}:{}", self.public_key_hex(), hex(&signature.to_bytes()))
    }

    /// The v2 signature headers for a request; `request_target` is the path and query exactly as
    /// sent, `created` the Unix time in seconds.
    pub fn v2_signature(&self, method: &str, request_target: &str, body: &[u8], created: i64) -> V2Signature {
        let digest = content_digest(body);
        let params = signature_params(created, &self.public_key_hex());
        let base = signature_base(method, request_target, &digest, &params);
        let signature = self.key.sign(base.as_bytes());
        V2Signature {
            content_digest: digest,
            signature_input: format!("encord-sig={params}"),
            signature: format!("encord-sig=:{}:", BASE64.encode(signature.to_bytes())),
        }
    }
}

/// A registered public key, for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// Parses 64 hex characters or an OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let text = text.trim();
        let bytes = if let Some(rest) = text.strip_prefix("ssh-ed25519 ") {
            let blob = BASE64
                .decode(rest.split_whitespace().next().unwrap_or_default())
                .map_err(|_| AuthError::BadKey("the public key is not base64"))?;
            let mut data = blob.as_slice();
            if ssh_string(&mut data)? != b"ssh-ed25519" {
                return Err(AuthError::BadKey("not an Ed25519 public key"));
            }
            ssh_string(&mut data)?.to_vec()
        } else {
            unhex(text).ok_or(AuthError::BadKey("not 64 hex characters"))?
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| AuthError::BadKey("an Ed25519 public key has 32 bytes"))?;
        VerifyingKey::from_bytes(&bytes).map(Self).map_err(|_| AuthError::BadKey("not a valid Ed25519 point"))
    }

    /// 64 lower-case hex characters.
    pub fn hex(&self) -> String {
        hex(self.0.as_bytes())
    }
}

/// Verifies a legacy `Authorization` header over `body`; returns the key id that signed.
pub fn verify_legacy(authorization: &str, body: &[u8], lookup: impl Fn(&str) -> Option<PublicKey>) -> Result<String, AuthError> {
    let (keyid, sig_hex) = authorization.trim().split_once(':').ok_or(AuthError::Malformed("Authorization is not key:signature"))?;
    let key = lookup(keyid).ok_or_else(|| AuthError::UnknownKey(keyid.to_owned()))?;
    let sig_bytes: [u8; 64] =
        unhex(sig_hex).and_then(|b| b.try_into().ok()).ok_or(AuthError::Malformed("the signature is not 128 hex characters"))?;
    key.0.verify(&Sha256::digest(body), &Signature::from_bytes(&sig_bytes)).map_err(|_| AuthError::BadSignature(keyid.to_owned()))?;
    Ok(keyid.to_owned())
}

/// Verifies v2 signature headers of a received request (method, target as received, raw
/// body); `created` must be within `max_skew_secs` of `now`. Returns the key id that signed.
pub fn verify_v2(
    method: &str,
    request_target: &str,
    body: &[u8],
    headers: &V2Signature,
    now: i64,
    max_skew_secs: i64,
    lookup: impl Fn(&str) -> Option<PublicKey>,
) -> Result<String, AuthError> {
    if headers.content_digest != content_digest(body) {
        return Err(AuthError::Malformed("Content-Digest does not match the body"));
    }
    let params = headers.signature_input.strip_prefix("encord-sig=").ok_or(AuthError::Malformed("Signature-Input label"))?;
    let field =
        |name: &str| params.split(';').find_map(|p| p.strip_prefix(name).and_then(|v| v.strip_prefix('='))).map(|v| v.trim_matches('"'));
    let keyid = field("keyid").ok_or(AuthError::Malformed("no keyid"))?;
    let created: i64 = field("created").and_then(|c| c.parse().ok()).ok_or(AuthError::Malformed("no created"))?;
    if params != signature_params(created, keyid) {
        return Err(AuthError::Malformed("unexpected signature parameters"));
    }
    let skew_secs = (created - now).abs();
    if skew_secs > max_skew_secs {
        return Err(AuthError::Stale { skew_secs });
    }
    let key = lookup(keyid).ok_or_else(|| AuthError::UnknownKey(keyid.to_owned()))?;
    let sig_b64 = headers
        .signature
        .strip_prefix("encord-sig=:")
        .and_then(|s| s.strip_suffix(':'))
        .ok_or(AuthError::Malformed("Signature is not encord-sig=:…:"))?;
    let sig_bytes: [u8; 64] =
        BASE64.decode(sig_b64).ok().and_then(|b| b.try_into().ok()).ok_or(AuthError::Malformed("the signature is not 64 base64 bytes"))?;
    let base = signature_base(method, request_target, &headers.content_digest, params);
    key.0.verify(base.as_bytes(), &Signature::from_bytes(&sig_bytes)).map_err(|_| AuthError::BadSignature(keyid.to_owned()))?;
    Ok(keyid.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn vectors() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/signing_test_vectors.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    fn key() -> SigningKey {
        let v = vectors();
        SigningKey::from_seed(unhex(v["ed25519_seed_hex"].as_str().unwrap()).unwrap().try_into().unwrap())
    }

    fn registered(keyid: &str) -> Option<PublicKey> {
        PublicKey::parse(vectors()["openssh_public_key"].as_str().unwrap()).ok().filter(|k| k.hex() == keyid)
    }

    #[test]
    fn v2_signatures_are_byte_exact() {
        let v = vectors();
        for name in ["v2_get_project", "v2_get_tasks_page2", "v2_post_actions"] {
            let t = &v[name];
            let s = |k: &str| t[k].as_str().unwrap();
            let created = 1_795_894_144;
            let sig = key().v2_signature(s("method"), s("request_target"), s("body").as_bytes(), created);
            assert_eq!(sig.content_digest, s("content_digest"), "{name}");
            assert_eq!(sig.signature_input, s("signature_input"), "{name}");
            assert_eq!(sig.signature, s("signature"), "{name}");
            let base =
                signature_base(s("method"), s("request_target"), &sig.content_digest, &signature_params(created, &key().public_key_hex()));
            assert_eq!(base, s("signature_base"), "{name}");
            let who = verify_v2(s("method"), s("request_target"), s("body").as_bytes(), &sig, created + 10, 300, registered);
            assert_eq!(who.unwrap(), v["public_key_hex"].as_str().unwrap());
        }
    }

    #[test]
    fn legacy_authorization_is_byte_exact() {
        let t = &vectors()["v1_list_label_rows"];
        let body = t["body"].as_str().unwrap().as_bytes();
        let auth = key().legacy_authorization(body);
        assert_eq!(auth, t["authorization"].as_str().unwrap());
        assert!(verify_legacy(&auth, body, registered).is_ok());
    }

    #[test]
    fn tampering_is_rejected() {
        let t = &vectors()["v2_post_actions"];
        let body = t["body"].as_str().unwrap().as_bytes();
        let created = 1_795_894_144;
        let sig = key().v2_signature("POST", "/v2/public/x", body, created);
        assert!(matches!(verify_v2("POST", "/v2/public/y", body, &sig, created, 300, registered), Err(AuthError::BadSignature(_))));
        assert!(matches!(verify_v2("POST", "/v2/public/x", b"[]", &sig, created, 300, registered), Err(AuthError::Malformed(_))));
        assert!(matches!(verify_v2("POST", "/v2/public/x", body, &sig, created + 301, 300, registered), Err(AuthError::Stale { .. })));
        let stranger = SigningKey::from_seed([7; 32]).v2_signature("POST", "/v2/public/x", body, created);
        assert!(matches!(verify_v2("POST", "/v2/public/x", body, &stranger, created, 300, registered), Err(AuthError::UnknownKey(_))));
        let auth = key().legacy_authorization(b"{}");
        assert!(matches!(verify_legacy(&auth, b"{ }", registered), Err(AuthError::BadSignature(_))));
    }

    #[test]
    fn openssh_private_keys_from_ssh_keygen_load_and_never_leak() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
            .arg(&path)
            .status()
            .expect("ssh-keygen");
        assert!(status.success());
        let text = std::fs::read_to_string(&path).unwrap();
        let key = SigningKey::from_openssh(&text).unwrap();
        let public = PublicKey::parse(&std::fs::read_to_string(path.with_extension("pub")).unwrap()).unwrap();
        assert_eq!(key.public_key_hex(), public.hex());
        assert!(!format!("{key:?}").contains(&text[40..80]));

        // A damaged key (the private part's bytes changed) fails without echoing any of it.
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let body_line = lines.len() - 3;
        lines[body_line] = lines[body_line].chars().rev().collect();
        let damaged = lines.join("\n");
        let err = SigningKey::from_openssh(&damaged).unwrap_err().to_string();
        assert!(lines[1..lines.len() - 1].iter().all(|l| !err.contains(&l[..16])), "{err}");
        assert!(matches!(SigningKey::from_openssh("ssh-rsa AAAA"), Err(AuthError::BadKey(_))));
    }
}
