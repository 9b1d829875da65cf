//! Hashes and timestamps in Encord's formats.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

fn digest(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().into()
}

/// An 8-character Encord object hash (standard base64 of 6 bytes) derived from `parts`, so the
/// same detections always get the same hashes and a rerun replaces rather than duplicates.
pub fn object_hash(parts: &[&str]) -> String {
    object_hash_bytes(parts).iter().map(|&b| char::from(b)).collect()
}

/// [`object_hash`] as its 8 ASCII bytes, without allocating.
fn object_hash_bytes(parts: &[&str]) -> [u8; 8] {
    let d = digest(parts);
    // Standard base64 of 6 bytes: two groups of 3 bytes, 4 characters each, no padding.
    let (first, second) = (base64_of_3([d[0], d[1], d[2]]), base64_of_3([d[3], d[4], d[5]]));
    [first[0], first[1], first[2], first[3], second[0], second[1], second[2], second[3]]
}

/// Standard base64 of 3 bytes: 4 characters, no padding.
fn base64_of_3(bytes: [u8; 3]) -> [u8; 4] {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let n = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
    [0, 1, 2, 3].map(|k| ALPHABET[(n >> (18 - 6 * k) & 63) as usize])
}

/// The first 4 characters of the object hash of every pre-label the model named `model` makes
/// (the standard base64 of 3 bytes derived from the name): a merge tells that model's earlier
/// pre-labels by them, whatever detections, tracks or editor calls they came from. Another
/// tool's random object hash starts with them once in 2^24.
pub fn owner_prefix(model: &str) -> [u8; 4] {
    let d = digest(&["prelabel-owner", model]);
    base64_of_3([d[0], d[1], d[2]])
}

/// The object hash, as its 8 ASCII bytes, of a pre-label of the model whose [`owner_prefix`]
/// is `prefix`: the prefix, then the standard base64 of 3 bytes derived from `parts`.
pub(crate) fn owned_object_hash_bytes(prefix: [u8; 4], parts: &[&str]) -> [u8; 8] {
    let d = digest(parts);
    let rest = base64_of_3([d[0], d[1], d[2]]);
    [prefix[0], prefix[1], prefix[2], prefix[3], rest[0], rest[1], rest[2], rest[3]]
}

/// A UUID-formatted id (lower-case, hyphenated, version 8 "custom") derived from `seed`.
pub fn uuid_from_seed(seed: &str) -> String {
    let mut b: [u8; 16] = digest(&["prelabel-uuid", seed])[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// Encord's label timestamp: `Thu, 02 Jan 2025 03:04:05 UTC`.
pub fn encord_timestamp(at: OffsetDateTime) -> String {
    let format = format_description!("[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] UTC");
    at.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

/// The current time in Encord's label timestamp format.
pub fn encord_timestamp_now() -> String {
    encord_timestamp(OffsetDateTime::now_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_hash_is_eight_base64_characters_and_deterministic() {
        let a = object_hash(&["data", "model", "12", "0"]);
        assert_eq!(a.len(), 8);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/'));
        assert_eq!(a, object_hash(&["data", "model", "12", "0"]));
        assert_ne!(a, object_hash(&["data", "model", "12", "1"]));
        // Parts are separated, so shifting a boundary changes the hash.
        assert_ne!(object_hash(&["ab", "c"]), object_hash(&["a", "bc"]));
    }

    #[test]
    fn object_hash_is_the_standard_base64_of_the_digest_s_first_six_bytes() {
        use base64::Engine;
        for i in 0..2000 {
            let parts = ["data", "model", &i.to_string(), "0"];
            let expected = base64::engine::general_purpose::STANDARD.encode(&digest(&parts)[..6]);
            assert_eq!(object_hash(&parts), expected);
        }
        // Pinned: ontology feature hashes made from class names must not change between versions.
        assert_eq!(object_hash(&["D", "model", "7", "0", "0"]), "NZY1oWv8");
    }

    #[test]
    fn owned_hashes_start_with_the_owner_prefix() {
        let prefix = owner_prefix("model");
        // Pinned: rows written by earlier versions must keep being recognised as the model's own.
        assert_eq!(&prefix, b"fanp");
        assert_ne!(prefix, owner_prefix("model-2"));
        let hash = owned_object_hash_bytes(prefix, &["D", "model", "7", "0", "0"]);
        assert_eq!(&hash, b"fanpNZY1", "the prefix, then the first 4 characters of the parts' own hash");
    }

    #[test]
    fn uuid_from_seed_has_the_uuid_shape() {
        let u = uuid_from_seed("clip.mp4");
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        assert_eq!(&u[14..15], "8");
        assert_eq!(u, uuid_from_seed("clip.mp4"));
    }

    #[test]
    fn timestamp_in_encord_format() {
        let at = time::macros::datetime!(2025-01-02 03:04:05 UTC);
        assert_eq!(encord_timestamp(at), "Thu, 02 Jan 2025 03:04:05 UTC");
    }
}
