#!/usr/bin/env python3
"""Drive `prelabel serve` with Encord's own Python SDK (encord==0.1.211), as a pre-labelling agent would.

usage: sdk_flow.py CONFIG.json

CONFIG.json (written by tests/serve_sdk.rs):
  {"domain": "http://127.0.0.1:PORT", "key": PATH, "stranger_key": PATH, "email": STR,
   "project_hash": UUID, "agent_stage": STR, "annotate_stage": STR, "pathway": STR, "object": STR,
   "human_row": UUID, "human_box": STR,
   "videos": [{"data_hash": UUID, "task": UUID, "file": PATH, "frames": INT}, ...]}   (in task order)

The flow: get_project -> workflow.get_stage(agent stage) -> get_tasks (paged) -> list_label_rows_v2 ->
initialise_labels(include_signed_url=True) (the first video's row exists: labelrow GET; the others are
created: labelrow PUT) -> download the signed URL with plain requests (whole file and a byte range) ->
storage items (get_storage_items / get_storage_item + get_signed_url) -> add a bounding box with a
confidence to two rows -> save -> proceed both tasks by pathway name -> check the annotation stage
lists them and the agent stage does not -> read the rows back (box, confidence, createdBy filled with the
caller's e-mail, the human box kept). Then the errors: a box past the last frame (CorruptedLabelError,
nothing saved), proceeding a task that already left (InvalidArgumentsError), an unregistered key
(AuthenticationError).

Prints one line per check; exits 1 with `FAIL: ...` on the first failed check.
"""
import json
import sys

import requests
from encord.exceptions import AuthenticationError, CorruptedLabelError, InvalidArgumentsError
from encord.objects import Object, ObjectInstance
from encord.objects.coordinates import BoundingBoxCoordinates
from encord.user_client import EncordUserClient
from encord.workflow.stages.agent import AgentStage
from encord.workflow.stages.annotation import AnnotationStage


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", flush=True)
        sys.exit(1)
    print(f"ok: {message}", flush=True)


def expect_error(error_type, action, message):
    try:
        action()
    except error_type as e:
        check(True, f"{message} ({type(e).__name__})")
        return
    except Exception as e:  # noqa: BLE001 - any other outcome is the failure to report
        check(False, f"{message}: expected {error_type.__name__}, got {type(e).__name__}: {e}")
    check(False, f"{message}: expected {error_type.__name__}, nothing was raised")


def box(instance, frame):
    annotation = instance.get_annotation(frame)
    c = annotation.coordinates
    return annotation, (round(c.top_left_x, 6), round(c.top_left_y, 6), round(c.width, 6), round(c.height, 6))


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    videos = cfg["videos"]
    client = EncordUserClient.create_with_ssh_private_key(ssh_private_key_path=cfg["key"], domain=cfg["domain"])
    project = client.get_project(cfg["project_hash"])
    check(project.project_hash == cfg["project_hash"], "get_project")

    stage = project.workflow.get_stage(name=cfg["agent_stage"], type_=AgentStage)
    check([p.name for p in stage.pathways][:1] == [cfg["pathway"]], f"agent stage with pathway {cfg['pathway']!r}")
    tasks = list(stage.get_tasks())
    check([str(t.uuid) for t in tasks] == [v["task"] for v in videos], f"get_tasks pages through all {len(videos)} tasks")
    by_hash = {str(t.data_hash): t for t in tasks}

    rows = project.list_label_rows_v2(data_hashes=[v["data_hash"] for v in videos])
    rows = {lr.data_hash: lr for lr in rows}
    check(set(rows) == set(by_hash), "list_label_rows_v2 returns a row per task")
    first, second, third = (rows[v["data_hash"]] for v in videos)
    check(first.label_hash == cfg["human_row"] and second.label_hash is None, "one row exists, the others are new")
    check([lr.number_of_frames for lr in (first, second, third)] == [v["frames"] for v in videos], "number_of_frames")

    for lr in (first, second, third):
        lr.initialise_labels(include_signed_url=True)
    check(second.label_hash is not None and third.label_hash is not None, "initialise_labels created the new rows")
    human = [o for o in first.get_object_instances() if o.object_hash == cfg["human_box"]]
    check(len(human) == 1, "the pre-existing box is in the existing row")
    annotation, _ = box(human[0], 0)
    check(annotation.created_by == "annotator@example.com" and annotation.manual_annotation, "it is the person's box")

    with open(videos[1]["file"], "rb") as f:
        expected = f.read()
    download = requests.get(second.data_link)
    check(download.status_code == 200 and download.content == expected, f"signed URL downloads the file ({len(expected)} bytes)")
    check(download.headers.get("Content-Type") == "video/x-msvideo", "with the video's MIME type")
    ranged = requests.get(second.data_link, headers={"Range": "bytes=100-199"})
    check(ranged.status_code == 206 and ranged.content == expected[100:200], "a byte range comes back as 206")
    check(ranged.headers.get("Content-Range") == f"bytes 100-199/{len(expected)}", "with its Content-Range")

    items = client.get_storage_items([first.backing_item_uuid, second.backing_item_uuid], sign_url=True)
    check([str(i.uuid) for i in items] == [str(first.backing_item_uuid), str(second.backing_item_uuid)], "get_storage_items")
    item = client.get_storage_item(third.backing_item_uuid)
    with open(videos[2]["file"], "rb") as f:
        check(requests.get(item.get_signed_url()).content == f.read(), "storage item get_signed_url downloads the file")

    person = project.ontology_structure.get_child_by_title(cfg["object"], type_=Object)
    added = {}
    for lr, confidence in ((first, 0.83), (second, 0.61)):
        instance = ObjectInstance(person)
        instance.set_for_frames(
            BoundingBoxCoordinates(height=0.3, width=0.2, top_left_x=0.1, top_left_y=0.25),
            frames=[0, 1, 2],
            confidence=confidence,
            manual_annotation=False,
        )
        lr.add_object_instance(instance)
        lr.save()
        added[lr.data_hash] = (instance.object_hash, confidence)
    check(True, "saved a detector box into the existing row and into a new row")

    for lr in (first, second):
        by_hash[lr.data_hash].proceed(pathway_name=cfg["pathway"])
    check(True, f"proceeded two tasks along {cfg['pathway']!r}")

    project = client.get_project(cfg["project_hash"])
    annotate = project.workflow.get_stage(name=cfg["annotate_stage"], type_=AnnotationStage)
    moved = {str(t.uuid) for t in annotate.get_tasks()}
    check(moved == {videos[0]["task"], videos[1]["task"]}, f"both tasks are now in {cfg['annotate_stage']!r}")
    agent = project.workflow.get_stage(name=cfg["agent_stage"], type_=AgentStage)
    check([str(t.uuid) for t in agent.get_tasks()] == [videos[2]["task"]], "only the third task is left at the agent stage")

    for data_hash, (object_hash, confidence) in added.items():
        [lr] = project.list_label_rows_v2(data_hashes=[data_hash])
        lr.initialise_labels()
        instances = {o.object_hash: o for o in lr.get_object_instances()}
        check(object_hash in instances, f"the saved box reads back from row {lr.label_hash}")
        annotation, coordinates = box(instances[object_hash], 2)
        check(abs(annotation.confidence - confidence) < 1e-9, f"with its confidence {confidence}")
        check(coordinates == (0.1, 0.25, 0.2, 0.3), "with its coordinates")
        check(annotation.created_by == cfg["email"], f"createdBy was filled with the caller's e-mail {cfg['email']}")
        check(not annotation.manual_annotation, "manualAnnotation stays false")
        check(sorted(instances[object_hash].get_annotation_frames()) == [0, 1, 2], "on frames 0, 1 and 2")
        if data_hash == videos[0]["data_hash"]:
            check(cfg["human_box"] in instances, "the person's box is still there")

    past_end = ObjectInstance(person)
    past_end.set_for_frames(BoundingBoxCoordinates(height=0.1, width=0.1, top_left_x=0.0, top_left_y=0.0), frames=videos[2]["frames"] + 5)
    third.add_object_instance(past_end)
    expect_error(CorruptedLabelError, third.save, "a box past the last frame is rejected")
    [fresh] = project.list_label_rows_v2(data_hashes=[videos[2]["data_hash"]])
    fresh.initialise_labels()
    check(fresh.get_object_instances() == [], "and nothing of that save was kept")

    expect_error(
        InvalidArgumentsError,
        lambda: by_hash[videos[0]["data_hash"]].proceed(pathway_name=cfg["pathway"]),
        "proceeding a task that already left the stage",
    )

    stranger = EncordUserClient.create_with_ssh_private_key(ssh_private_key_path=cfg["stranger_key"], domain=cfg["domain"])
    expect_error(AuthenticationError, lambda: stranger.get_project(cfg["project_hash"]), "an unregistered key")
    print("sdk flow passed", flush=True)


if __name__ == "__main__":
    main()
