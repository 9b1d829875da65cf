//! The Encord client's retries against `prelabel serve` failing requests (`--fail-rate 1`, or
//! aimed at one endpoint): reads are retried; a label-row create is not (as the SDK does not: a
//! second create could meet the first one's row), only a connection that was never made would
//! be; a proceed is replayed task by task only when the server rejects the batch.

mod support;

use std::time::Duration;

use prelabel_encord::auth::SigningKey;
use prelabel_encord::client::{EncordClient, RetryPolicy};
use support::*;

/// `prelabel serve` with `server_args` on a project of `videos` copies of vtest.avi, and a client
/// that retries twice, quickly.
fn serve(dir: &std::path::Path, videos: usize, server_args: &[&str]) -> (Server, EncordClient) {
    let key = keygen(dir, "key");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap().trim().to_owned();
    let project = dir.join("project");
    let vtest = data("vtest.avi");
    project_json(&project, &vec![(vtest.as_path(), serde_json::json!({})); videos], &public);
    let server = Server::start(&project, server_args);
    let policy =
        RetryPolicy { max_retries: 2, backoff_base: Duration::from_millis(1), backoff_cap: Duration::from_millis(5), ..Default::default() };
    let client =
        EncordClient::new(&server.base, SigningKey::from_openssh(&std::fs::read_to_string(&key).unwrap()).unwrap(), policy).unwrap();
    (server, client)
}

#[test]
fn reads_are_retried_and_a_create_is_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = serve(dir.path(), 1, &["--fail-rate", "1"]);
    let faults = || server.log().matches("injected fault").count();

    assert!(client.create_label_rows(ids::PROJECT, &[ids::data_hash(0)]).is_err());
    assert_eq!(faults(), 1, "the create was sent once");
    assert!(client.label_row_metadata(ids::PROJECT, &[ids::data_hash(0)]).is_err());
    assert_eq!(faults(), 1 + 3, "the read was sent once and retried twice");
}

#[test]
fn a_proceed_is_replayed_task_by_task_only_when_the_batch_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (server, client) = serve(dir.path(), 3, &["--fail-first", "3", "--fail-matching", "/actions"]);
    let faults = || server.log().matches("injected fault").count();
    let annotate = "00000000-0000-4000-8000-0000000000d1";
    let proceed = |tasks: &[usize]| {
        client.proceed(ids::PROJECT, ids::AGENT_STAGE, &tasks.iter().map(|&i| ids::task(i)).collect::<Vec<_>>(), annotate)
    };

    // Failing (500) after the retries: the batch's error for its task, with no replay.
    let failed = proceed(&[0]);
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].0.as_str(), faults()), (ids::task(0).as_str(), 3), "sent once and retried twice, not replayed");
    // The faults spent (they came before any work), task 0 moves.
    assert!(proceed(&[0]).is_empty());
    // Rejected (400, task 0 has left): each task alone, the one that left counted as moved.
    assert!(proceed(&[0, 1]).is_empty());
    let in_stage = |stage| client.stage_tasks(ids::PROJECT, stage).map(|t| t.unwrap().uuid).collect::<Vec<_>>();
    assert_eq!(in_stage(ids::AGENT_STAGE), [ids::task(2)]);
    assert_eq!(in_stage(ids::ANNOTATE_STAGE).len(), 2);
}
