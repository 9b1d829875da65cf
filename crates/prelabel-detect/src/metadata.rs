//! Reading Ultralytics-style `metadata_props` values (Python literals written as strings).

/// Parses a Python dict literal of class names, e.g. `{0: 'person', 1: "o'clock"}`, into names
/// ordered by their integer key. Returns `None` when the text is not such a dict or the keys are
/// not exactly `0..n`.
pub(crate) fn parse_names(text: &str) -> Option<Vec<String>> {
    let body = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut entries: Vec<(usize, String)> = Vec::new();
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let (key, after_key) = rest.split_once(':')?;
        let key: usize = key.trim().parse().ok()?;
        let (name, after_name) = parse_quoted(after_key.trim_start())?;
        entries.push((key, name));
        rest = after_name.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    entries.sort_by_key(|(k, _)| *k);
    entries.iter().enumerate().all(|(i, (k, _))| i == *k).then(|| entries.into_iter().map(|(_, n)| n).collect())
}

/// Parses one Python string literal in single or double quotes at the start of `text`;
/// returns the string and the text after it.
fn parse_quoted(text: &str) -> Option<(String, &str)> {
    let quote = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            c if c == quote => return Some((out, &text[i + 1..])),
            c => out.push(c),
        }
    }
    None
}

/// Parses `imgsz`: `[640, 640]` (height, width) or a single `640`.
pub(crate) fn parse_imgsz(text: &str) -> Option<(u32, u32)> {
    let inner = text.trim().trim_start_matches('[').trim_end_matches(']');
    // A zero side would leave no input to scale a frame into.
    let sizes: Vec<u32> = inner.split(',').map(|s| s.trim().parse().ok().filter(|&n| n > 0)).collect::<Option<_>>()?;
    match sizes[..] {
        [s] => Some((s, s)),
        [h, w] => Some((h, w)),
        _ => None,
    }
}

/// Parses a Python boolean (`True`/`False`, any case).
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_dict_in_ultralytics_format() {
        let names = parse_names("{0: 'person', 1: 'traffic light', 2: \"o'clock\", 3: 'a\\'b'}").unwrap();
        assert_eq!(names, ["person", "traffic light", "o'clock", "a'b"]);
    }

    #[test]
    fn names_dict_with_gaps_or_junk_is_rejected() {
        assert_eq!(parse_names("{0: 'a', 2: 'b'}"), None);
        assert_eq!(parse_names("['a', 'b']"), None);
        assert_eq!(parse_names("{0: 'a"), None);
    }

    #[test]
    fn imgsz_as_pair_or_single() {
        assert_eq!(parse_imgsz("[480, 640]"), Some((480, 640)));
        assert_eq!(parse_imgsz("320"), Some((320, 320)));
        assert_eq!(parse_imgsz("[1, 2, 3]"), None);
        assert_eq!(parse_imgsz("0"), None, "no input to scale into");
        assert_eq!(parse_imgsz("[0, 640]"), None);
    }
}
