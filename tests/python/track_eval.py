"""Scores prelabel's tracks and supervision's ByteTrack against the ground truth of synthetic
streams (written by track_synth.py), with motmetrics.

    track_eval.py STREAMS_DIR PRELABEL_TRACKS_DIR OUT.json

For each STREAMS_DIR/<scenario>.json, PRELABEL_TRACKS_DIR/<scenario>.json holds prelabel's tracks
as {"frames": [{"frame": i, "tracks": [{"id", "x1", "y1", "x2", "y2"}, ...]}, ...]}. The same
detections are run through `sv.ByteTrack` here (SUPERVISION_SETTINGS). Both are scored the
MOTChallenge way: a hypothesis matches a ground-truth box when their IoU is at least 0.5
(`mm.distances.iou_matrix(..., max_iou=0.5)`). OUT.json gets MOTA, IDF1 and the counts behind
them per scenario and over all scenarios (counts summed, then the ratios), for both trackers;
a table goes to stdout.

supervision's ByteTrack has no notion of class, prelabel's tracker matches within a class; for
a like-for-like comparison one sv.ByteTrack runs per class and its ids are made unique per class.
"""

import argparse
import json
import warnings
from pathlib import Path

import motmetrics as mm
import numpy as np

if not hasattr(np, "asfarray"):
    # motmetrics 1.4.0, its latest release, still calls np.asfarray in mm.distances.iou_matrix;
    # NumPy 2 removed it. This is its documented replacement.
    np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)

with warnings.catch_warnings():
    # supervision warns that it runs without OpenCV; its tracker does not use OpenCV.
    warnings.simplefilter("ignore")
    import supervision as sv

# sv.ByteTrack settings equivalent to prelabel's TrackerConfig::default(), read from
# supervision/tracker/byte_tracker/core.py (0.30.9):
# - track_activation_threshold 0.5: detections >= 0.5 go to the first association (prelabel's
#   high_score); supervision starts tracks from track_activation_threshold + 0.1 = 0.6
#   (prelabel's new_track_score) and uses scores in (0.1, 0.5) in the second association
#   (prelabel's low_score 0.1).
# - lost_track_buffer 30 at frame_rate 30: a lost track is removed after 30 frames without a
#   match (prelabel's max_missed_frames).
# - minimum_matching_threshold 0.8: the first association accepts cost 1 - IoU * score <= 0.8,
#   i.e. IoU * score >= 0.2 (prelabel's high_match_min_similarity); supervision's second pass
#   (IoU >= 0.5) and unconfirmed tracks (IoU * score >= 0.3) are fixed, and prelabel's
#   defaults are the same.
# - minimum_consecutive_frames 3: a track is output from its 3rd consecutive match (prelabel's
#   min_confirm_frames, 3 frames = 3 hits on every frame; prelabel then also reports the two
#   detections before confirmation, supervision does not, as an online tracker).
SUPERVISION_SETTINGS = {
    "track_activation_threshold": 0.5,
    "lost_track_buffer": 30,
    "minimum_matching_threshold": 0.8,
    "frame_rate": 30,
    "minimum_consecutive_frames": 3,
}
MAX_IOU_DISTANCE = 0.5
METRICS = ["mota", "idf1", "num_switches", "num_false_positives", "num_misses", "num_objects", "num_unique_objects",
           "mostly_tracked", "num_fragmentations"]
# Unique hypothesis ids across per-class supervision trackers.
CLASS_ID_STRIDE = 1_000_000


def xywh(boxes: list[dict]) -> np.ndarray:
    return np.array([[b["x1"], b["y1"], b["x2"] - b["x1"], b["y2"] - b["y1"]] for b in boxes], dtype=float).reshape(-1, 4)


def supervision_tracks(stream: dict) -> dict[int, list[dict]]:
    """sv.ByteTrack's output per frame: {frame: [{"id", "x1", "y1", "x2", "y2"}]}."""
    classes = sorted({d["class_index"] for f in stream["frames"] for d in f["detections"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ByteTrack is deprecated in favour of the `trackers` package
        trackers = {c: sv.ByteTrack(**SUPERVISION_SETTINGS) for c in classes}
    out = {}
    for frame in stream["frames"]:
        boxes = []
        for c, tracker in trackers.items():
            dets = [d for d in frame["detections"] if d["class_index"] == c]
            detections = sv.Detections(
                xyxy=np.array([[d["x1"], d["y1"], d["x2"], d["y2"]] for d in dets], dtype=np.float32).reshape(-1, 4),
                confidence=np.array([d["score"] for d in dets], dtype=np.float32),
                class_id=np.full(len(dets), c, dtype=int),
            )
            tracked = tracker.update_with_detections(detections)
            for box, track_id in zip(tracked.xyxy, tracked.tracker_id):
                x1, y1, x2, y2 = (float(v) for v in box)
                boxes.append({"id": c * CLASS_ID_STRIDE + int(track_id), "x1": x1, "y1": y1, "x2": x2, "y2": y2})
        out[frame["frame"]] = boxes
    return out


def accumulate(stream: dict, hypotheses: dict[int, list[dict]]) -> mm.MOTAccumulator:
    acc = mm.MOTAccumulator(auto_id=True)
    for frame in stream["frames"]:
        truth, hyps = frame["ground_truth"], hypotheses.get(frame["frame"], [])
        distances = mm.distances.iou_matrix(xywh(truth), xywh(hyps), max_iou=MAX_IOU_DISTANCE)
        acc.update([t["id"] for t in truth], [h["id"] for h in hyps], distances)
    return acc


def summarise(accs: list, names: list[str]) -> dict[str, dict]:
    summary = mm.metrics.create().compute_many(accs, metrics=METRICS, names=names, generate_overall=True)
    return {name: {m: float(summary.loc[name, m]) for m in METRICS} for name in summary.index}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("streams_dir", type=Path)
    parser.add_argument("prelabel_tracks_dir", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()

    names, prelabel_accs, supervision_accs = [], [], []
    for path in sorted(args.streams_dir.glob("*.json")):
        stream = json.loads(path.read_text())
        prelabel = json.loads((args.prelabel_tracks_dir / path.name).read_text())
        names.append(path.stem)
        prelabel_accs.append(accumulate(stream, {f["frame"]: f["tracks"] for f in prelabel["frames"]}))
        supervision_accs.append(accumulate(stream, supervision_tracks(stream)))
    if not names:
        parser.error(f"no streams in {args.streams_dir}")
    ours, theirs = summarise(prelabel_accs, names), summarise(supervision_accs, names)

    result = {
        "supervision_version": sv.__version__,
        "supervision_settings": SUPERVISION_SETTINGS,
        "scenarios": {n: {"prelabel": ours[n], "supervision": theirs[n]} for n in names},
        "overall": {"prelabel": ours["OVERALL"], "supervision": theirs["OVERALL"]},
    }
    args.out.write_text(json.dumps(result, indent=2))

    print(f"{'scenario':<20} {'MOTA prelabel':>14} {'MOTA sv':>8} {'IDF1 prelabel':>14} {'IDF1 sv':>8} {'IDsw prelabel':>14} {'IDsw sv':>8}")
    for name in names + ["OVERALL"]:
        a, b = ours[name], theirs[name]
        print(f"{name:<20} {a['mota']:>14.3f} {b['mota']:>8.3f} {a['idf1']:>14.3f} {b['idf1']:>8.3f}"
              f" {a['num_switches']:>14.0f} {b['num_switches']:>8.0f}")


if __name__ == "__main__":
    main()
