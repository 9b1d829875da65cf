#!/usr/bin/env python3
"""Check that a video label row JSON is accepted by Encord's own Python SDK (encord==0.1.211), offline.

usage: check_label_row_sdk.py LABEL_ROW.json ONTOLOGY.json --frames N --fps F --width W --height H OUT.json

What it does / checks (no network, no Encord client):
  1. Builds the objects the SDK builds after fetching a row: `LabelRowMetadata.from_dict` on the E4
     (labelrowmetadata) dict shape (data_type VIDEO, number_of_frames=N, frames_per_second=F,
     duration=N/F, width/height, hashes and titles taken from the label row) and an `Ontology` wrapping
     `OntologyStructure.from_dict(ONTOLOGY.json)` (the ontology "editor" structure).
  2. `LabelRowV2(metadata, None, ontology)` (as `Project.list_label_rows_v2` does, minus the client), then
     the public `from_labels_dict(row)`: the method `initialise_labels` passes the server's label row to,
     and the one `LabelRowV2.from_media_metadata` uses for detached rows. Any SDK exception = rejected.
  3. Reads every object back through the public API and writes OUT.json:
       {"objects": [{"object_hash", "feature_hash", "frame", "x", "y", "w", "h", "confidence",
                     "manual_annotation"}, ...]}   sorted by (frame, object_hash); x,y,w,h normalised 0..1
  4. Consistency, for what the SDK parses without complaint: data_type is "video"; every frame index < N
     (the SDK does NOT enforce this when parsing); the data unit's width/height equal W/H (the SDK silently
     takes the data unit's values); the SDK's view equals the raw JSON box entries one to one (featureHash,
     box, numeric confidence), since the SDK silently drops or rewrites some entries (e.g. a second
     featureHash under the same objectHash is read as the first one's class).
  5. Round trip: `to_encord_dict()` is parsed again into a fresh LabelRowV2, must give the same objects,
     and must be a fixed point (emit -> parse -> emit gives identical JSON).
Exit status: 0 ok (prints a one-line summary), 1 rejected / check failed (one-line `error: ...`
on stderr), 2 bad usage.
"""
import argparse
import json
import re
import sys
from datetime import datetime, timezone


def fail(msg):
    msg = re.sub(r"\s*timestamp='[^']*'", "", str(msg)).splitlines()[0]  # SDK errors append a timestamp
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def load_row(row, structure, args):
    from encord.objects.ontology_labels_impl import LabelRowV2
    from encord.ontology import Ontology
    from encord.orm.label_row import LabelRowMetadata
    from encord.orm.ontology import Ontology as OrmOntology

    du = next(iter((row.get("data_units") or {}).values()), {})
    meta = LabelRowMetadata.from_dict({  # PROTOCOL.md E4 shape
        "label_hash": row.get("label_hash"), "branch_name": row.get("branch_name") or "main",
        "created_at": row.get("created_at"), "last_edited_at": row.get("last_edited_at"),
        "data_hash": row.get("data_hash"), "dataset_hash": row.get("dataset_hash"),
        "dataset_title": row.get("dataset_title"), "data_title": row.get("data_title"),
        "data_type": "VIDEO", "data_link": du.get("data_link"), "file_type": du.get("data_type"),
        "label_status": row.get("label_status") or "LABEL_IN_PROGRESS",
        "annotation_task_status": row.get("annotation_task_status"), "is_shadow_data": False,
        "number_of_frames": args.frames, "frames_per_second": args.fps, "duration": args.frames / args.fps,
        "width": args.width, "height": args.height, "spaces": {},
    })
    epoch = datetime(2025, 1, 1, tzinfo=timezone.utc)
    ontology = Ontology(OrmOntology(title="ontology", structure=structure, ontology_hash="offline",
                                    created_at=epoch, last_edited_at=epoch), api_client=None)
    lr = LabelRowV2(meta, None, ontology)
    lr.from_labels_dict(row)
    return lr


def read_objects(lr):
    out = []
    for inst in lr.get_object_instances():
        for ann in inst.get_annotations():
            c = ann.coordinates
            out.append({"object_hash": inst.object_hash, "feature_hash": inst.ontology_item.feature_node_hash,
                        "frame": ann.frame, "x": c.top_left_x, "y": c.top_left_y, "w": c.width, "h": c.height,
                        "confidence": ann.confidence, "manual_annotation": ann.manual_annotation})
    return sorted(out, key=lambda o: (o["frame"], o["object_hash"]))


def raw_objects(row):
    """The box entries as written in the JSON, in read_objects' format (SDK defaults for missing keys)."""
    out = []
    for du in row["data_units"].values():
        for frame, fd in (du.get("labels") or {}).items():
            for o in fd.get("objects", []):
                b = o["boundingBox"]
                out.append({"object_hash": o["objectHash"], "feature_hash": o["featureHash"], "frame": int(frame),
                            "x": b["x"], "y": b["y"], "w": b["w"], "h": b["h"],
                            "confidence": o.get("confidence", 1.0),
                            "manual_annotation": o.get("manualAnnotation", True)})
    return sorted(out, key=lambda o: (o["frame"], o["object_hash"]))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("label_row"); p.add_argument("ontology")
    p.add_argument("--frames", type=int, required=True); p.add_argument("--fps", type=float, required=True)
    p.add_argument("--width", type=int, required=True); p.add_argument("--height", type=int, required=True)
    p.add_argument("out")
    args = p.parse_args()
    if args.frames <= 0 or args.fps <= 0:
        p.error("--frames and --fps must be > 0")

    from encord.objects.ontology_structure import OntologyStructure

    with open(args.label_row) as f:
        row = json.load(f)
    with open(args.ontology) as f:
        onto = json.load(f)
    try:
        structure = OntologyStructure.from_dict(onto)
    except Exception as e:
        fail(f"SDK rejected the ontology: {type(e).__name__}: {e}")
    try:
        lr = load_row(row, structure, args)
        objects = read_objects(lr)
    except Exception as e:
        fail(f"SDK rejected the label row: {type(e).__name__}: {e}")

    if row.get("data_type") != "video":
        fail(f"data_type is {row.get('data_type')!r}, expected 'video' (SDK parsed it as that type)")
    raw = raw_objects(row)
    if raw != objects:
        a, b = next((a, b) for a, b in zip(raw + [None] * len(objects), objects + [None] * len(raw)) if a != b)
        fail(f"SDK read the row differently from the JSON: JSON {a} vs SDK {b}")
    num = (int, float)
    if any(not isinstance(o[k], num) or isinstance(o[k], bool) for o in objects for k in "xywh") or any(
            not isinstance(o["confidence"], num) or isinstance(o["confidence"], bool) for o in objects):
        fail("a box value or confidence is not a JSON number (the SDK accepts that silently)")
    bad = [o for o in objects if not 0 <= o["frame"] < args.frames]
    if bad:
        fail(f"object {bad[0]['object_hash']} on frame {bad[0]['frame']} outside 0..{args.frames - 1} "
             f"(the SDK parser accepts it; frames must be < number_of_frames)")
    if (lr.width, lr.height) != (args.width, args.height):
        fail(f"data unit size {lr.width}x{lr.height} != --width/--height {args.width}x{args.height}")

    try:
        emitted = lr.to_encord_dict()
        json.dumps(emitted)
        lr2 = load_row(emitted, structure, args)
        again = read_objects(lr2)
        emitted2 = lr2.to_encord_dict()
    except Exception as e:
        fail(f"round trip through to_encord_dict() failed: {type(e).__name__}: {e}")
    if again != objects:
        fail("round trip through to_encord_dict() changed the objects")
    if emitted2 != emitted:
        fail("to_encord_dict() is not a fixed point (emit -> parse -> emit differs)")

    with open(args.out, "w") as f:
        json.dump({"objects": objects}, f, indent=1)
    print(f"ok: SDK accepted {len(objects)} box annotations on {len({o['object_hash'] for o in objects})} "
          f"objects; round trip ok; wrote {args.out}")


if __name__ == "__main__":
    main()
