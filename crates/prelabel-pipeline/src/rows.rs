//! Getting a video's label row from Encord: its metadata, then the row itself (created when the
//! data unit has none yet). Shared by the worker, the batch job's upload and the editor agent.

use prelabel_encord::client::{ApiError, EncordClient, LabelRowMetadata};
use serde_json::Value;

/// Why a data unit's label row could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// The API call failed.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// The project has no such data unit.
    #[error("data unit {0} is not in the project")]
    NotInProject(String),
    /// The data unit is not a video.
    #[error("data unit {data_hash} is a {data_type}, not a video")]
    NotVideo {
        /// The data unit.
        data_hash: String,
        /// Its type, e.g. `IMAGE`.
        data_type: String,
    },
    /// The server answered without the row asked for.
    #[error("no label row came back for data unit {0}")]
    NoRow(String),
}

/// The label-row metadata of a video data unit of `project`.
pub fn video_metadata(client: &EncordClient, project: &str, data_hash: &str) -> Result<LabelRowMetadata, RowError> {
    let metadata = client.label_row_metadata(project, &[data_hash.to_owned()])?;
    let meta = metadata.into_iter().find(|m| m.data_hash == data_hash).ok_or_else(|| RowError::NotInProject(data_hash.to_owned()))?;
    if !meta.data_type.eq_ignore_ascii_case("video") {
        return Err(RowError::NotVideo { data_hash: data_hash.to_owned(), data_type: meta.data_type });
    }
    Ok(meta)
}

/// The label row `meta` describes, as the server has it (with a signed URL in its data unit's
/// `data_link`), created first when the data unit has none.
pub fn label_row(client: &EncordClient, project: &str, meta: &LabelRowMetadata) -> Result<Value, RowError> {
    let rows = match &meta.label_hash {
        Some(label_hash) => client.label_rows(project, std::slice::from_ref(label_hash))?,
        None => client.create_label_rows(project, std::slice::from_ref(&meta.data_hash))?,
    };
    row_of(rows, &meta.data_hash)
}

/// `row` (a label row read earlier) as the server has it now: a save replaces the whole row, so
/// what is merged into must be read just before, not when the work on it began.
pub fn reread_label_row(client: &EncordClient, project: &str, row: &Value) -> Result<Value, RowError> {
    let data_hash = row["data_hash"].as_str().unwrap_or_default();
    let label_hash = row["label_hash"].as_str().ok_or_else(|| RowError::NoRow(data_hash.to_owned()))?;
    row_of(client.label_rows(project, &[label_hash.to_owned()])?, data_hash)
}

/// The row of `data_hash` among the rows the server sent back.
fn row_of(rows: Vec<Value>, data_hash: &str) -> Result<Value, RowError> {
    rows.into_iter().find(|r| r["data_hash"] == data_hash).ok_or_else(|| RowError::NoRow(data_hash.to_owned()))
}
