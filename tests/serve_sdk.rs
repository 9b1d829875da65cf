//! Encord's own Python SDK (encord 0.1.211, in the test venv) against `prelabel serve`: the whole
//! pre-labelling flow and the SDK's error mapping (tests/python/sdk_flow.py says what it checks).

mod serve_support;
mod support;

use serde_json::json;
use serve_support::{EMAIL, Fixture, HUMAN_BOX, HUMAN_ROW, PROJECT, Server, keygen, videos};

#[test]
fn encords_python_sdk_runs_the_agent_flow_against_prelabel_serve() {
    let fixture = Fixture::new();
    let stranger_key = keygen(fixture.dir.path(), "stranger_key");
    let server = Server::start(&fixture.project_dir(), &["--page-size", "2"]);
    let config = json!({
        "domain": server.base,
        "key": fixture.key_path,
        "stranger_key": stranger_key,
        "email": EMAIL,
        "project_hash": PROJECT,
        "agent_stage": "Pre-Labeling Agent",
        "annotate_stage": "Annotate 1",
        "pathway": "Annotate 1",
        "object": "Person",
        "human_row": HUMAN_ROW,
        "human_box": HUMAN_BOX,
        "videos": videos().iter().map(|v| json!({"data_hash": v.data_hash, "task": v.task, "file": v.file, "frames": v.frames})).collect::<Vec<_>>(),
    });
    let config_path = fixture.dir.path().join("sdk_flow.json");
    std::fs::write(&config_path, config.to_string()).expect("write config");

    let out = support::python().arg(support::root().join("tests/python/sdk_flow.py")).arg(&config_path).output().expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}\nserver log:\n{}", server.log());
    assert!(
        out.status.success() && stdout.contains("sdk flow passed"),
        "sdk_flow.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    server.stop();
}
