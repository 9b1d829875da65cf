//! Signed video URLs: `<public url>/files/<storage item uuid>?sig=<hex sha256(secret + uuid)>`,
//! fetched with no auth headers (as encord-agents downloads them), streamed from disk, with
//! single byte ranges (`bytes=a-b`, `a-`, `-n`).

use std::io::SeekFrom;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use crate::App;
use crate::error::ApiError;
use crate::query;

/// Bytes read from disk per chunk sent.
const CHUNK: usize = 64 * 1024;

/// Makes and checks the signed URLs of storage items.
pub(crate) struct UrlSigner {
    base: String,
    secret: String,
}

impl UrlSigner {
    /// URLs under `public_url`, signed with `secret`.
    pub(crate) fn new(public_url: String, secret: String) -> Self {
        Self { base: public_url.trim_end_matches('/').to_owned(), secret }
    }

    fn signature(&self, uuid: &str) -> String {
        format!("{:x}", Sha256::digest(format!("{}{uuid}", self.secret)))
    }

    /// The URL anyone holding it may download the item from.
    pub(crate) fn signed_url(&self, uuid: &str) -> String {
        format!("{}/files/{uuid}?sig={}", self.base, self.signature(uuid))
    }

    /// Whether `sig` is the signature of `uuid` (compared in constant time).
    fn verify(&self, uuid: &str, sig: &str) -> bool {
        let expected = self.signature(uuid);
        expected.len() == sig.len() && expected.bytes().zip(sig.bytes()).fold(0, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// The unsigned download route.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new().route("/files/{uuid}", get(download))
}

/// Which bytes of a file a request asks for.
#[derive(Debug, PartialEq, Eq)]
enum Span {
    /// The whole file: no `Range`, or one this server ignores (malformed, or several ranges).
    Whole,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// A range that starts past the end.
    Unsatisfiable,
}

fn requested_span(range: Option<&str>, len: u64) -> Span {
    let Some(spec) = range.and_then(|r| r.trim().strip_prefix("bytes=")) else {
        return Span::Whole;
    };
    let Some((first, last)) = spec.split_once('-').filter(|_| !spec.contains(',')) else {
        return Span::Whole;
    };
    let number = |text: &str| text.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), number(first), number(last)) {
        (true, _, Some(0)) => Span::Unsatisfiable,
        (true, _, Some(_)) if len == 0 => Span::Unsatisfiable,
        (true, _, Some(suffix)) => Span::Part { start: len.saturating_sub(suffix), end: len - 1 },
        (false, Some(start), _) if start >= len => Span::Unsatisfiable,
        (false, Some(start), None) if last.trim().is_empty() => Span::Part { start, end: len - 1 },
        (false, Some(start), Some(end)) if end >= start => Span::Part { start, end: end.min(len - 1) },
        _ => Span::Whole,
    }
}

async fn download(State(app): State<Arc<App>>, Path(uuid): Path<String>, RawQuery(raw): RawQuery, headers: HeaderMap) -> Response {
    let params = query::params(raw.as_deref());
    if !query::first(&params, "sig").is_some_and(|sig| app.urls.verify(&uuid, sig)) {
        return ApiError::Forbidden(format!("bad or missing signature for /files/{uuid}")).into_v2_response();
    }
    let Some(video) = app.project.video_by_storage_item(&uuid) else {
        return ApiError::NotFound(format!("no storage item {uuid}")).into_v2_response();
    };
    let range = headers.get(header::RANGE).and_then(|r| r.to_str().ok());
    match send_file(&video.path, &video.mime_type, range).await {
        Ok(response) => response,
        Err(cause) => ApiError::Internal(format!("{}: cannot read ({cause})", video.path.display())).into_v2_response(),
    }
}

async fn send_file(path: &std::path::Path, mime_type: &str, range: Option<&str>) -> std::io::Result<Response> {
    let mut file = tokio::fs::File::open(path).await?;
    let len = file.metadata().await?.len();
    let (status, body, length, content_range) = match requested_span(range, len) {
        Span::Whole => (StatusCode::OK, Body::from_stream(ReaderStream::with_capacity(file, CHUNK)), len, None),
        Span::Part { start, end } => {
            file.seek(SeekFrom::Start(start)).await?;
            let count = end - start + 1;
            let body = Body::from_stream(ReaderStream::with_capacity(file.take(count), CHUNK));
            (StatusCode::PARTIAL_CONTENT, body, count, Some(format!("bytes {start}-{end}/{len}")))
        }
        Span::Unsatisfiable => (StatusCode::RANGE_NOT_SATISFIABLE, Body::empty(), 0, Some(format!("bytes */{len}"))),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    // Project loading checked that the MIME type is a valid header value.
    if status != StatusCode::RANGE_NOT_SATISFIABLE
        && let Ok(value) = HeaderValue::from_str(mime_type)
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Some(value) = content_range.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::CONTENT_RANGE, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges() {
        let span = |r: &str| requested_span(Some(r), 100);
        assert_eq!(requested_span(None, 100), Span::Whole);
        assert_eq!(span("bytes=0-9"), Span::Part { start: 0, end: 9 });
        assert_eq!(span("bytes=90-"), Span::Part { start: 90, end: 99 });
        assert_eq!(span("bytes=90-500"), Span::Part { start: 90, end: 99 });
        assert_eq!(span("bytes=-10"), Span::Part { start: 90, end: 99 });
        assert_eq!(span("bytes=-500"), Span::Part { start: 0, end: 99 });
        assert_eq!(span("bytes=100-"), Span::Unsatisfiable);
        assert_eq!(span("bytes=-0"), Span::Unsatisfiable);
        assert_eq!(requested_span(Some("bytes=0-"), 0), Span::Unsatisfiable);
        // Malformed, reversed or multiple ranges are ignored: the whole file is sent.
        for ignored in ["bytes=9-0", "bytes=a-b", "items=0-1", "bytes=0-1,5-6", "bytes=-"] {
            assert_eq!(span(ignored), Span::Whole, "{ignored}");
        }
    }

    #[test]
    fn signatures_depend_on_secret_and_item() {
        let signer = UrlSigner::new("http://127.0.0.1:9/".into(), "s1".into());
        let url = signer.signed_url("item");
        let sig = url.rsplit_once("sig=").map(|(_, s)| s).unwrap_or_default();
        assert!(url.starts_with("http://127.0.0.1:9/files/item?sig="));
        assert!(signer.verify("item", sig));
        assert!(!signer.verify("other", sig));
        assert!(!UrlSigner::new("http://x".into(), "s2".into()).verify("item", sig));
    }
}
