//! Query strings as the SDK writes them: repeated keys for lists (`dataHashes=a&dataHashes=b`)
//! and Python's `True`/`False` for booleans.

/// The parameters of a query string in order, percent-decoded (`+` is a space).
pub(crate) fn params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key), decode(value))
        })
        .collect()
}

/// The first value of `key`.
pub(crate) fn first<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Every value of `key`, in order.
pub(crate) fn all(params: &[(String, String)], key: &str) -> Vec<String> {
    params.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
}

/// A boolean as Python prints it (`True`/`False`), or `true`/`false`; case is ignored.
pub(crate) fn boolean(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// Percent-decoding; a `%` not followed by two hex digits is kept as it is.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%').then(|| text.get(i + 1..i + 3)).flatten().and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (byte, None) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_repeat_their_key_and_values_are_decoded() {
        let p = params(Some("userEmails=a%40b.com&dataHashes=d1&dataHashes=d3&dataTitleContains=my+clip&x=%zz"));
        assert_eq!(all(&p, "dataHashes"), ["d1", "d3"]);
        assert_eq!(first(&p, "userEmails"), Some("a@b.com"));
        assert_eq!(first(&p, "dataTitleContains"), Some("my clip"));
        assert_eq!(first(&p, "x"), Some("%zz"));
        assert_eq!(first(&p, "pageToken"), None);
        assert!(params(None).is_empty());
    }

    #[test]
    fn python_booleans() {
        assert_eq!(boolean("True"), Some(true));
        assert_eq!(boolean("FALSE"), Some(false));
        assert_eq!(boolean("1"), None);
    }
}
