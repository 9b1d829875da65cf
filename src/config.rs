//! `--config FILE`: a TOML file of long flags, e.g.
//!
//! ```toml
//! project = "00000000-0000-4000-8000-0000000000a1"
//! stage = "Pre-Labeling Agent"
//! model = "models/ssdlite_mobilenet_v2_coco_300.onnx"
//! alias = ["person=Pedestrian"]
//! concurrency = 2
//! once = true
//! ```
//!
//! The file's entries become flags placed right after the subcommand, so flags given on the
//! command line come later and override them (lists add up). A switch the file turns on (`once =
//! true`) is turned off again by `--no-once` on the command line. Unknown keys are reported by
//! the normal flag parser, like unknown flags.

use std::ffi::OsString;
use std::path::PathBuf;

/// The config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--config` has no value.
    #[error("--config needs a file")]
    MissingPath,
    /// The file could not be read.
    #[error("{path}: cannot read the config file ({cause})")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file is not TOML, or holds a value that is not a flag value.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Expands the first `--config FILE` / `--config=FILE` of `args` (program name, subcommand,
/// flags…) in place.
pub fn expand(args: Vec<OsString>) -> Result<Vec<OsString>, ConfigError> {
    let Some(position) = args.iter().position(|a| a == "--config" || a.to_string_lossy().starts_with("--config=")) else {
        return Ok(args);
    };
    let mut rest = args;
    let flag = rest.remove(position).to_string_lossy().into_owned();
    let path = match flag.strip_prefix("--config=") {
        Some(p) => PathBuf::from(p),
        None if position < rest.len() => PathBuf::from(rest.remove(position)),
        None => return Err(ConfigError::MissingPath),
    };
    let text = std::fs::read_to_string(&path).map_err(|cause| ConfigError::Read { path: path.clone(), cause })?;
    let invalid = |reason: String| ConfigError::Invalid { path: path.clone(), reason };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| invalid(e.message().to_owned()))?;
    let mut flags: Vec<OsString> = Vec::new();
    for (key, value) in table {
        let name = format!("--{}", key.replace('_', "-"));
        let values = match value {
            toml::Value::Array(items) => items,
            single => vec![single],
        };
        for value in values {
            match value {
                toml::Value::Boolean(true) => {
                    // `--no-<key>` on the command line turns the switch off again.
                    let negation = format!("--no-{}", key.replace('_', "-"));
                    match rest.iter().position(|a| *a == *negation) {
                        Some(at) => {
                            rest.remove(at);
                        }
                        None => flags.push(name.clone().into()),
                    }
                }
                toml::Value::Boolean(false) => {}
                toml::Value::String(s) => flags.extend([name.clone().into(), s.into()]),
                toml::Value::Integer(i) => flags.extend([name.clone().into(), i.to_string().into()]),
                toml::Value::Float(f) => flags.extend([name.clone().into(), f.to_string().into()]),
                other => return Err(invalid(format!("`{key}`: a {} is not a flag value", other.type_str()))),
            }
        }
    }
    // After the program name and the subcommand.
    let insert_at = 2.min(rest.len());
    rest.splice(insert_at..insert_at, flags);
    Ok(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn entries_become_flags_before_the_command_line_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prelabel.toml");
        std::fs::write(
            &path,
            "stage = \"Agent\"\nalias = [\"person=Pedestrian\", \"car=Vehicle\"]\nonce = true\nverbose = false\npoll_interval_secs = 5\n",
        )
        .unwrap();
        let expanded = expand(args(&["prelabel", "worker", "--config", path.to_str().unwrap(), "--stage", "Other"])).unwrap();
        assert_eq!(
            expanded,
            args(&[
                "prelabel",
                "worker",
                "--alias",
                "person=Pedestrian",
                "--alias",
                "car=Vehicle",
                "--once",
                "--poll-interval-secs",
                "5",
                "--stage",
                "Agent",
                "--stage",
                "Other"
            ])
        );
    }

    #[test]
    fn a_switch_the_file_turns_on_is_turned_off_by_its_negation_on_the_command_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prelabel.toml");
        std::fs::write(&path, "once = true\nlinear_interpolation = true\n").unwrap();
        let config = format!("--config={}", path.display());
        let expanded = expand(args(&["prelabel", "run", &config, "--no-once", "--track"])).unwrap();
        assert_eq!(expanded, args(&["prelabel", "run", "--linear-interpolation", "--track"]));
        // A negation of a switch the file does not turn on is left to the flag parser.
        let expanded = expand(args(&["prelabel", "worker", &config, "--no-track"])).unwrap();
        assert_eq!(expanded, args(&["prelabel", "worker", "--linear-interpolation", "--once", "--no-track"]));
    }

    #[test]
    fn a_broken_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "stage = ").unwrap();
        let err = expand(args(&["prelabel", "worker", &format!("--config={}", path.display())])).unwrap_err();
        assert!(err.to_string().starts_with(&path.display().to_string()), "{err}");
        assert!(matches!(expand(args(&["prelabel", "worker", "--config"])), Err(ConfigError::MissingPath)));
    }
}
