//! The Encord client's retries against `prelabel serve` failing every request (`--fail-rate 1`):
//! reads are retried; a label-row create is not (as the SDK does not: a second create could meet
//! the first one's row), only a connection that was never made would be.

mod support;

use std::time::Duration;

use prelabel_encord::auth::SigningKey;
use prelabel_encord::client::{EncordClient, RetryPolicy};
use support::*;

#[test]
fn reads_are_retried_and_a_create_is_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    let key = keygen(dir.path(), "key");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap().trim().to_owned();
    let project = dir.path().join("project");
    project_json(&project, &[(&data("vtest.avi"), serde_json::json!({}))], &public);
    let server = Server::start(&project, &["--fail-rate", "1"]);
    let policy =
        RetryPolicy { max_retries: 2, backoff_base: Duration::from_millis(1), backoff_cap: Duration::from_millis(5), ..Default::default() };
    let client =
        EncordClient::new(&server.base, SigningKey::from_openssh(&std::fs::read_to_string(&key).unwrap()).unwrap(), policy).unwrap();
    let faults = || server.log().matches("injected fault").count();

    assert!(client.create_label_rows(ids::PROJECT, &[ids::data_hash(0)]).is_err());
    assert_eq!(faults(), 1, "the create was sent once");
    assert!(client.label_row_metadata(ids::PROJECT, &[ids::data_hash(0)]).is_err());
    assert_eq!(faults(), 1 + 3, "the read was sent once and retried twice");
}
