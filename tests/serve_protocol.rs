//! `prelabel serve` at the wire level: signatures, keyset paging, all-or-nothing proceeds, save
//! validation, signed file URLs, persistence across a restart, and injected faults. Requests are
//! made with a minimal signing HTTP client (tests/serve_support), so every byte is under the
//! test's control.

mod serve_support;
mod support;

use prelabel_encord::auth::SigningKey;
use serde_json::{Value, json};
use serve_support::{
    AGENT, ANNOTATE, Client, EMAIL, Fixture, HUMAN_ROW, PERSON, PROJECT, REVIEW, Response, Server, TO_ANNOTATE, now, send, videos,
};

fn tasks_url(stage: &str) -> String {
    format!("/v2/public/projects/{PROJECT}/workflow/stages/{stage}/tasks")
}

fn actions_url(stage: &str) -> String {
    format!("/v2/public/projects/{PROJECT}/workflow/stages/{stage}/actions")
}

/// Proceeds `tasks` out of the agent stage along "Annotate 1" (by name).
fn proceed(client: &Client, tasks: &[&str]) -> Response {
    let actions: Vec<Value> =
        tasks.iter().map(|t| json!({"taskUuid": t, "action": "PATHWAY_ACTION", "pathwayName": "Annotate 1"})).collect();
    client.v2("POST", &actions_url(AGENT), Some(&json!(actions)))
}

/// The legacy envelope's error code, or `None` for success.
fn envelope_error(response: &Response) -> Option<String> {
    assert_eq!(response.status, 200, "legacy answers travel in an HTTP 200 envelope");
    let envelope = response.json();
    (envelope["status"] != 200).then(|| envelope["response"][0].as_str().unwrap_or("?").to_owned())
}

/// The `response` of a successful legacy call.
fn legacy_ok(response: &Response) -> Value {
    assert_eq!(envelope_error(response), None, "{}", String::from_utf8_lossy(&response.body));
    response.json()["response"].clone()
}

/// A label row JSON with one box on `frame` added (its author left null, as the SDK sends it).
fn with_box(row: &Value, frame: u64, feature: &str) -> Value {
    let mut row = row.clone();
    let data_hash = row["data_hash"].as_str().expect("data hash").to_owned();
    let object_hash = format!("box{frame:05}");
    let object = json!({"name": "Person", "color": "#E27300", "shape": "bounding_box", "value": "person",
        "createdAt": "Thu, 02 Jan 2025 03:04:05 UTC", "createdBy": null, "confidence": 0.75, "objectHash": object_hash,
        "featureHash": feature, "manualAnnotation": false, "lastEditedAt": "Thu, 02 Jan 2025 03:04:05 UTC",
        "boundingBox": {"h": 0.2, "w": 0.1, "x": 0.3, "y": 0.4}});
    row["data_units"][&data_hash]["labels"][frame.to_string()] = json!({"objects": [object], "classifications": []});
    row["object_answers"][&object_hash] = json!({"classifications": [], "objectHash": object_hash});
    row
}

fn save(client: &Client, rows: &[Value]) -> Response {
    let uids: Vec<&Value> = rows.iter().map(|r| &r["label_hash"]).collect();
    client.legacy("labelrow", "POST", json!(uids), json!({"multi_request": true, "labels": rows, "validate_before_saving": false}))
}

/// Creates (or fetches) the rows of these videos; returns them as the server sends them.
fn create_rows(client: &Client, data_hashes: &[&str]) -> Vec<Value> {
    let response = client.legacy(
        "labelrow",
        "PUT",
        json!(data_hashes),
        json!({"multi_request": true, "get_signed_url": false, "branch_name": "main"}),
    );
    legacy_ok(&response).as_array().expect("rows").clone()
}

fn get_row(client: &Client, label_hash: &Value, signed_url: bool) -> Value {
    let response = client.legacy("labelrow", "GET", json!([label_hash]), json!({"get_signed_url": signed_url, "multi_request": true}));
    legacy_ok(&response)[0].clone()
}

fn frame_objects(row: &Value) -> Vec<(String, Value)> {
    let unit = row["data_units"].as_object().and_then(|u| u.values().next()).expect("one data unit");
    let labels = unit["labels"].as_object().expect("labels");
    labels.iter().flat_map(|(frame, l)| l["objects"].as_array().into_iter().flatten().map(|o| (frame.clone(), o.clone()))).collect()
}

#[test]
fn requests_need_a_valid_signature_by_a_registered_key_over_the_raw_body_and_target() {
    let fixture = Fixture::new();
    let server = Server::start(&fixture.project_dir(), &[]);
    let client = Client { port: server.port, key: &fixture.key };
    let project_url = format!("/v2/public/projects/{PROJECT}");
    assert_eq!(client.v2("GET", &project_url, None).status, 200);

    let unsigned = send(server.port, "GET", &project_url, &[], b"").expect("response");
    assert_eq!(unsigned.status, 401);
    assert!(unsigned.json()["message"].as_str().is_some_and(|m| m.contains("not authenticated")));

    let actions =
        serde_json::to_vec(&json!([{"taskUuid": videos()[0].task, "action": "PATHWAY_ACTION", "pathwayName": "Annotate 1"}])).unwrap();
    let tampered =
        serde_json::to_vec(&json!([{"taskUuid": videos()[1].task, "action": "PATHWAY_ACTION", "pathwayName": "Annotate 1"}])).unwrap();
    let url = actions_url(AGENT);
    let v2_status = |target: &str, body: &[u8], signed_target: &str, signed_body: &[u8], created: i64| {
        client.try_v2_raw("POST", target, body, signed_target, signed_body, created).expect("response").status
    };
    assert_eq!(v2_status(&url, &tampered, &url, &actions, now()), 401, "tampered v2 body");
    assert_eq!(v2_status(&format!("{url}?x=1"), &actions, &url, &actions, now()), 401, "tampered request target");
    assert_eq!(v2_status(&url, &actions, &url, &actions, now() - 1000), 401, "stale signature");

    let legacy_body = Client::legacy_body("labelrowmetadata", "GET", Value::Null, json!({"data_hashes": null}));
    let tampered_legacy = Client::legacy_body("labelrowmetadata", "GET", Value::Null, json!({"data_hashes": []}));
    let response = client.try_legacy_raw(&legacy_body, &tampered_legacy).expect("response");
    assert_eq!(envelope_error(&response).as_deref(), Some("AUTHENTICATION_ERROR"), "tampered legacy body");
    assert_eq!(response.json(), json!({"status": 401, "response": ["AUTHENTICATION_ERROR"], "payload": null}));

    let stranger_key = SigningKey::from_seed([7; 32]);
    let stranger = Client { port: server.port, key: &stranger_key };
    assert_eq!(stranger.v2("GET", &project_url, None).status, 401, "unknown key, v2");
    let response = stranger.legacy("labelrowmetadata", "GET", Value::Null, Value::Null);
    assert_eq!(envelope_error(&response).as_deref(), Some("AUTHENTICATION_ERROR"), "unknown key, legacy");

    // Nothing of the rejected requests happened: no task moved.
    assert_eq!(client.all_tasks(AGENT), videos().map(|v| v.task.to_owned()));
    let response = client.legacy("labelrow", "DELETE", json!([HUMAN_ROW]), Value::Null);
    assert_eq!(envelope_error(&response).as_deref(), Some("INVALID_ARGUMENTS_ERROR"), "unknown legacy query");
    server.stop();

    let open = Server::start(&fixture.project_dir(), &["--accept-any-key", "--public-url", "https://files.example:8443/"]);
    let stranger = Client { port: open.port, key: &stranger_key };
    assert_eq!(stranger.v2("GET", &project_url, None).status, 200, "any valid key under --accept-any-key");
    let item = stranger.v2("GET", &format!("/v2/public/storage/items/{}?signUrl=True", videos()[0].item), None).json();
    let signed_url = item["signedUrl"].as_str().unwrap_or_default();
    assert!(signed_url.starts_with(&format!("https://files.example:8443/files/{}?sig=", videos()[0].item)), "{signed_url}");
    let response = stranger.try_v2_raw("POST", &url, &tampered, &url, &actions, now()).expect("response");
    assert_eq!(response.status, 401, "a signature must still verify under --accept-any-key");
    open.stop();
}

#[test]
fn task_pages_use_a_keyset_cursor_so_tasks_leaving_between_pages_skip_nothing() {
    let fixture = Fixture::new();
    let server = Server::start(&fixture.project_dir(), &["--page-size", "2"]);
    let client = Client { port: server.port, key: &fixture.key };
    let [first, second, third] = videos();

    let page = client.v2("GET", &tasks_url(AGENT), None).json();
    let uuids: Vec<&str> = page["results"].as_array().unwrap().iter().map(|t| t["uuid"].as_str().unwrap()).collect();
    assert_eq!(uuids, [first.task, second.task]);
    let token = page["nextPageToken"].as_str().expect("a second page").to_owned();
    let task = &page["results"][0];
    for key in ["createdAt", "updatedAt", "status", "dataHash", "dataTitle", "labelBranchName"] {
        assert!(task[key].is_string(), "{key} in {task}");
    }
    assert!(task["assignee"].is_null() && task["lastActionedBy"].is_null(), "null keys are present: {task}");

    // A worker proceeds the first page before fetching the next, as the Runner does.
    assert_eq!(proceed(&client, &[first.task, second.task]).status, 204);
    let page = client.v2("GET", &format!("{}?pageToken={token}", tasks_url(AGENT)), None).json();
    assert_eq!(page["results"][0]["uuid"], third.task, "the third task is not skipped: {page}");
    assert!(page.get("nextPageToken").is_none_or(Value::is_null), "the last page ends the listing: {page}");

    assert_eq!(client.all_tasks(ANNOTATE), [first.task, second.task]);
    let filtered =
        client.v2("GET", &format!("{}?dataHashes={}&dataHashes={}", tasks_url(ANNOTATE), second.data_hash, third.data_hash), None);
    let filtered: Vec<Value> = filtered.json()["results"].as_array().unwrap().iter().map(|t| t["uuid"].clone()).collect();
    assert_eq!(filtered, [second.task], "dataHashes filter");
    let by_email = client.v2("GET", &format!("{}?userEmails=a%40b.com", tasks_url(ANNOTATE)), None).json();
    assert_eq!(by_email["results"], json!([]), "no task has an assignee");
    server.stop();
}

#[test]
fn proceed_checks_every_task_first_and_moves_all_or_none() {
    let fixture = Fixture::new();
    let server = Server::start(&fixture.project_dir(), &[]);
    let client = Client { port: server.port, key: &fixture.key };
    let [first, second, third] = videos();

    assert_eq!(proceed(&client, &[first.task]).status, 204);
    let rejected = proceed(&client, &[second.task, first.task]);
    assert_eq!(rejected.status, 400, "one task has left the stage");
    assert!(rejected.json()["message"].as_str().is_some_and(|m| m.contains(first.task)), "{}", rejected.json());
    assert_eq!(client.all_tasks(AGENT), [second.task, third.task], "the other task of the rejected request did not move");
    assert_eq!(proceed(&client, &[first.task]).status, 400, "a replayed proceed of a moved task");
    assert_eq!(proceed(&client, &[second.task, second.task]).status, 400, "the same task twice");

    let by_uuid = json!([{"taskUuid": second.task, "action": "PATHWAY_ACTION", "pathwayUuid": TO_ANNOTATE}]);
    let unknown = json!([{"taskUuid": second.task, "action": "PATHWAY_ACTION", "pathwayName": "annotate 1"}]);
    let mismatch = json!([{"taskUuid": second.task, "action": "PATHWAY_ACTION", "pathwayName": "Failed", "pathwayUuid": TO_ANNOTATE}]);
    assert_eq!(client.v2("POST", &actions_url(AGENT), Some(&unknown)).status, 400, "names match exactly");
    assert_eq!(client.v2("POST", &actions_url(AGENT), Some(&mismatch)).status, 400, "name and uuid disagree");
    assert_eq!(client.v2("POST", &actions_url(AGENT), Some(&by_uuid)).status, 204);
    assert_eq!(client.all_tasks(ANNOTATE), [first.task, second.task]);

    let failed = json!([{"taskUuid": third.task, "action": "PATHWAY_ACTION", "pathwayName": "Failed"}]);
    assert_eq!(client.v2("POST", &actions_url(AGENT), Some(&failed)).status, 204);
    assert_eq!(client.all_tasks(REVIEW), [third.task]);

    let move_url = format!("/v2/public/projects/{PROJECT}/workflow/stages/{ANNOTATE}/move-tasks");
    let back = json!({"taskUuids": [first.task, third.task], "destinationStageUuid": AGENT});
    assert_eq!(client.v2("POST", &move_url, Some(&back)).status, 400, "the third task is not in Annotate 1");
    let back = json!({"taskUuids": [first.task], "destinationStageUuid": AGENT});
    assert_eq!(client.v2("POST", &move_url, Some(&back)).status, 204);
    assert_eq!(client.all_tasks(AGENT), [first.task]);
    server.stop();
}

#[test]
fn concurrent_proceeds_of_one_task_move_it_once() {
    let fixture = Fixture::new();
    let server = Server::start(&fixture.project_dir(), &[]);
    let task = videos()[0].task;
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let workers: Vec<_> =
            (0..4).map(|_| scope.spawn(|| proceed(&Client { port: server.port, key: &fixture.key }, &[task]).status)).collect();
        workers.into_iter().map(|w| w.join().expect("worker")).collect()
    });
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, [204, 400, 400, 400], "exactly one worker moves the task: {statuses:?}");
    server.stop();
}

#[test]
fn saves_are_checked_whole_and_fill_in_the_callers_email() {
    let fixture = Fixture::new();
    let server = Server::start(&fixture.project_dir(), &[]);
    let client = Client { port: server.port, key: &fixture.key };
    let [_, second, third] = videos();
    let rows = create_rows(&client, &[second.data_hash, third.data_hash]);
    assert_eq!(create_rows(&client, &[second.data_hash]), rows[..1], "creating again returns the same row");
    let (row2, row3) = (&rows[0], &rows[1]);

    let past_end = save(&client, &[with_box(row2, 10, PERSON), with_box(row3, third.frames, PERSON)]);
    assert_eq!(envelope_error(&past_end).as_deref(), Some("CORRUPTED_LABEL_ERROR"));
    let unknown_feature = save(&client, &[with_box(row2, 10, PERSON), with_box(row3, 5, "noSuchFt")]);
    assert_eq!(envelope_error(&unknown_feature).as_deref(), Some("FEATURE_DOES_NOT_EXIST_ERROR"));
    assert!(frame_objects(&get_row(&client, &row2["label_hash"], false)).is_empty(), "nothing of a rejected request was saved");

    let mut sent = with_box(row2, second.frames - 1, PERSON);
    let unit = &mut sent["data_units"][second.data_hash];
    unit["data_link"] = json!("https://example.com/elsewhere.mp4");
    unit["width"] = json!(1);
    unit["data_fps"] = json!(1000.0);
    assert_eq!(legacy_ok(&save(&client, &[sent])), json!(true));

    let stored = get_row(&client, &row2["label_hash"], false);
    let objects = frame_objects(&stored);
    assert_eq!(objects.len(), 1);
    let (frame, object) = &objects[0];
    assert_eq!(frame, &(second.frames - 1).to_string());
    assert_eq!((object["createdBy"].as_str(), object["lastEditedBy"].as_str()), (Some(EMAIL), Some(EMAIL)));
    assert_eq!(object["confidence"], 0.75);
    let unit = &stored["data_units"][second.data_hash];
    assert!(unit["data_link"].as_str().is_some_and(|l| l.starts_with("file://") && l.ends_with("vtest.avi")), "{unit}");
    assert_eq!((unit["width"].as_u64(), unit["data_fps"].as_f64()), (Some(768), Some(10.0)), "the server's facts are kept");

    let priorities = format!("/v2/public/projects/{PROJECT}/priorities");
    let priority = |p: f64| client.v2("POST", &priorities, Some(&json!({"priorities": [[second.data_hash, p]]}))).status;
    assert_eq!((priority(1.5), priority(0.9)), (400, 204));
    let metadata = client.legacy(
        "labelrowmetadata",
        "GET",
        Value::Null,
        json!({"data_hashes": [second.data_hash], "include_uninitialised_labels": true}),
    );
    let metadata = legacy_ok(&metadata);
    assert_eq!(metadata.as_array().map(Vec::len), Some(1));
    for key in [
        "data_hash",
        "dataset_hash",
        "dataset_title",
        "data_title",
        "data_type",
        "data_link",
        "spaces",
        "label_status",
        "number_of_frames",
        "branch_name",
        "backing_item_uuid",
    ] {
        assert!(!metadata[0][key].is_null(), "{key} in {}", metadata[0]);
    }
    assert_eq!((&metadata[0]["number_of_frames"], &metadata[0]["label_hash"]), (&json!(second.frames), &row2["label_hash"]));
    assert_eq!(metadata[0]["priority"], 0.9);
    let none = client.legacy("labelrowmetadata", "GET", Value::Null, json!({"data_hashes": []}));
    assert_eq!(legacy_ok(&none), json!([]));
    server.stop();
}

#[test]
fn signed_urls_serve_bytes_and_ranges_without_auth() {
    let fixture = Fixture::new();
    let server = Server::start(&fixture.project_dir(), &["--fail-rate", "0"]);
    let client = Client { port: server.port, key: &fixture.key };
    let video = &videos()[0];
    let bytes = std::fs::read(&video.file).expect("video");
    let item = client.v2("GET", &format!("/v2/public/storage/items/{}?signUrl=True", video.item), None).json();
    assert_eq!((item["mimeType"].as_str(), item["frameCount"].as_u64()), (Some("video/mp4"), Some(video.frames)));
    assert!(item["dicomInstanceUid"].is_null() && item.get("integrationHash").is_some(), "null keys are present: {item}");
    let url = item["signedUrl"].as_str().expect("signed URL");
    let target = url.strip_prefix(&server.base).expect("URL on this server").to_owned();
    let get = |target: &str, range: Option<&str>| {
        let headers: Vec<(&str, String)> = range.map(|r| ("Range", r.to_owned())).into_iter().collect();
        send(server.port, "GET", target, &headers, b"").expect("response")
    };

    let whole = get(&target, None);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.body, bytes);
    assert_eq!(whole.header("content-type"), Some("video/mp4"));
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    assert_eq!(whole.header("content-length"), Some(bytes.len().to_string().as_str()));

    let len = bytes.len();
    for (range, start, end) in [("bytes=0-9", 0, 9), ("bytes=1000-", 1000, len - 1), ("bytes=-16", len - 16, len - 1)] {
        let part = get(&target, Some(range));
        assert_eq!(part.status, 206, "{range}");
        assert_eq!(part.body, bytes[start..=end], "{range}");
        assert_eq!(part.header("content-range"), Some(format!("bytes {start}-{end}/{len}").as_str()), "{range}");
    }
    let beyond = get(&target, Some(&format!("bytes={len}-")));
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range"), Some(format!("bytes */{len}").as_str()));

    let (path, sig) = target.split_once("?sig=").expect("sig");
    let flipped: String = sig.chars().rev().collect();
    assert_eq!(get(&format!("{path}?sig={flipped}"), None).status, 403, "bad signature");
    assert_eq!(get(path, None).status, 403, "no signature");
    let other_item = &videos()[1].item;
    assert_eq!(get(&format!("/files/{other_item}?sig={sig}"), None).status, 403, "another item's signature");
    server.stop();
}

#[test]
fn rows_task_positions_and_signed_urls_survive_a_restart() {
    let fixture = Fixture::new();
    let state_dir = fixture.dir.path().join("state");
    let state_arg = state_dir.to_str().expect("utf-8 path");
    let [first, second, _] = videos();
    let server = Server::start(&fixture.project_dir(), &["--state-dir", state_arg]);
    let client = Client { port: server.port, key: &fixture.key };
    let row = create_rows(&client, &[second.data_hash]).remove(0);
    assert_eq!(legacy_ok(&save(&client, &[with_box(&row, 3, PERSON)])), json!(true));
    assert_eq!(proceed(&client, &[first.task]).status, 204);
    let url = get_row(&client, &row["label_hash"], true)["data_units"][second.data_hash]["data_link"].as_str().expect("link").to_owned();
    server.stop();

    let server = Server::start(&fixture.project_dir(), &["--state-dir", state_arg]);
    let client = Client { port: server.port, key: &fixture.key };
    let objects = frame_objects(&get_row(&client, &row["label_hash"], false));
    assert_eq!(objects.iter().map(|(f, o)| (f.as_str(), o["objectHash"].as_str())).collect::<Vec<_>>(), [("3", Some("box00003"))]);
    assert_eq!(client.all_tasks(ANNOTATE), [first.task]);
    let old_port_url = url.split_once("/files/").map(|(_, rest)| format!("/files/{rest}")).expect("files URL");
    let download = send(server.port, "GET", &old_port_url, &[("Range", "bytes=0-3".to_owned())], b"").expect("response");
    assert_eq!(download.status, 206, "a URL signed before the restart still works");
    assert!(state_dir.join("tasks.json").is_file() && state_dir.join(format!("label_rows/{}.json", second.data_hash)).is_file());
    server.stop();
}

#[test]
fn injected_failures_and_throttles_come_before_any_work() {
    let fixture = Fixture::new();
    let task = videos()[0].task;
    for (flag, status) in [("--fail-rate", 500), ("--throttle-rate", 429)] {
        let server = Server::start(&fixture.project_dir(), &[flag, "1"]);
        let response = proceed(&Client { port: server.port, key: &fixture.key }, &[task]);
        assert_eq!(response.status, status, "{flag}");
        match status {
            500 => assert_eq!(response.json(), json!({"message": "injected fault"})),
            _ => assert_eq!(response.header("retry-after"), Some("1")),
        }
        assert!(server.log().contains("injected fault"), "faults are logged");
        server.stop();
    }
    let server = Server::start(&fixture.project_dir(), &[]);
    assert_eq!(Client { port: server.port, key: &fixture.key }.all_tasks(AGENT)[0], task, "the task never moved");
    server.stop();
}

#[test]
fn a_dropped_response_is_lost_after_the_change_was_applied() {
    let fixture = Fixture::new();
    let [first, second, _] = videos();
    let server = Server::start(&fixture.project_dir(), &["--drop-rate", "1", "--latency-ms", "5"]);
    let client = Client { port: server.port, key: &fixture.key };
    let actions = json!([{"taskUuid": first.task, "action": "PATHWAY_ACTION", "pathwayName": "Annotate 1"}]);
    let lost = client.try_v2("POST", &actions_url(AGENT), Some(&actions));
    assert_eq!(lost.map(|r| r.status).map_err(|e| e.kind()), Err(std::io::ErrorKind::UnexpectedEof), "not one byte of the response");
    let replay = client.try_v2("POST", &actions_url(AGENT), Some(&actions));
    assert!(replay.is_err(), "every response is dropped");
    let item = client.try_v2("GET", &format!("/v2/public/storage/items/{}?signUrl=True", second.item), None);
    assert!(item.is_err());
    server.stop();

    let server = Server::start(&fixture.project_dir(), &[]);
    let client = Client { port: server.port, key: &fixture.key };
    assert_eq!(client.all_tasks(ANNOTATE), [first.task], "the proceed whose response was lost was applied");
    assert_eq!(proceed(&client, &[first.task]).status, 400, "so its retry finds the task gone");
    server.stop();
}

#[test]
fn faults_are_reproducible_from_the_seed_and_spare_file_downloads() {
    let fixture = Fixture::new();
    let statuses = |seed: &str| {
        let server = Server::start(&fixture.project_dir(), &["--fail-rate", "0.3", "--throttle-rate", "0.3", "--fault-seed", seed]);
        let client = Client { port: server.port, key: &fixture.key };
        let project_url = format!("/v2/public/projects/{PROJECT}");
        let seen: Vec<u16> = (0..24).map(|_| client.v2("GET", &project_url, None).status).collect();
        server.stop();
        seen
    };
    let first = statuses("42");
    assert_eq!(first, statuses("42"), "the same seed, the same faults");
    assert!([200, 429, 500].iter().all(|s| first.contains(s)), "{first:?}");
    assert_ne!(first, statuses("43"));

    let server = Server::start(&fixture.project_dir(), &["--fail-rate", "1"]);
    let signer = Server::start(&fixture.project_dir(), &[]);
    let video = &videos()[2];
    let url = Client { port: signer.port, key: &fixture.key }
        .v2("GET", &format!("/v2/public/storage/items/{}?signUrl=True", video.item), None)
        .json()["signedUrl"]
        .as_str()
        .and_then(|u| u.split_once("/files/").map(|(_, rest)| format!("/files/{rest}")))
        .expect("signed URL");
    let download = send(server.port, "GET", &url, &[("Range", "bytes=0-99".to_owned())], b"").expect("response");
    assert_eq!(download.status, 206, "file downloads are not faulted");
    signer.stop();
    server.stop();
}
