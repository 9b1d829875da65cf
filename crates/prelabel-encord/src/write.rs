//! Writing files so that a reader never sees half a file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// An output file could not be written; nothing was left at its path.
#[derive(Debug, thiserror::Error)]
#[error("{path}: cannot write ({cause})")]
pub struct WriteError {
    /// The output path.
    pub path: PathBuf,
    /// The I/O cause.
    pub cause: std::io::Error,
}

/// Serialises `value` into a temporary file beside `path`, then renames it over `path`: the file
/// is either complete or not there (an existing file is only replaced by a complete one).
pub fn write_json_atomically(path: &Path, value: &impl Serialize) -> Result<(), WriteError> {
    write_atomically(path, |writer| serde_json::to_writer(writer, value).map_err(io::Error::from))
}

/// Lets `write` fill a temporary file beside `path` (through a buffer), syncs it and renames it
/// over `path`: the file is either complete or not there. The temporary file is removed when
/// `write` or anything after it fails.
pub(crate) fn write_atomically(path: &Path, write: impl FnOnce(&mut BufWriter<&mut File>) -> io::Result<()>) -> Result<(), WriteError> {
    let error = |cause| WriteError { path: path.to_path_buf(), cause };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut file = tempfile::Builder::new().prefix(".prelabel-").suffix(".tmp").tempfile_in(dir).map_err(error)?;
    let mut writer = BufWriter::new(file.as_file_mut());
    write(&mut writer).map_err(error)?;
    writer.flush().map_err(error)?;
    drop(writer);
    file.as_file().sync_all().map_err(error)?;
    file.persist(path).map_err(|e| error(e.error))?;
    Ok(())
}
