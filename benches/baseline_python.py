#!/usr/bin/env python3
"""The Python baseline for `prelabel bench --baseline`: pre-labelling the way an Encord-agents user does it today.

usage: baseline_python.py --model MODEL.onnx --video VIDEO [--threads N] [--frame-stride N]
                          [--score-threshold 0.4] [--iou-threshold 0.5] [--max-detections 100]

One frame at a time, nothing overlapped: OpenCV `cv2.VideoCapture` decodes (every frame; frames off the stride are
only grabbed, never converted), BGR -> RGB, `cv2.resize` (bilinear) to the model input, one `onnxruntime` session
run per frame (intra-op threads = --threads), NumPy post-processing (per-anchor best class, score threshold,
greedy per-class NMS, at most --max-detections, the same rules as prelabel), one Encord-style object per detection
(normalised top-left box), and the label row serialised to JSON at the end.

The model must be an SSD with `boxes` [1,A,4] (ymin, xmin, ymax, xmax, normalised) and `scores` [1,A,C] outputs and
an NHWC RGB 0..255 input, like the bundled ssdlite_mobilenet_v2_coco_300.onnx. Class names come from
`<model stem>.labels.txt` beside the model when present.

Timing starts when the video is opened (the session is made before) and ends after the JSON is built. Prints one
JSON line on stdout: {"frames", "frames_inferred", "detections", "seconds", "fps", "peak_rss_kib"}; fps is decoded
video frames per second.
"""
import argparse
import hashlib
import json
import os
import resource
import sys
import time

import cv2
import numpy as np
import onnxruntime as ort


def nms_per_class(boxes, classes, scores, iou_thr, max_det):
    """Greedy NMS within each class over candidates sorted by score; returns kept indices in score order."""
    order = np.argsort(-scores, kind="stable")
    ymin, xmin, ymax, xmax = (boxes[:, i].astype(np.float64) for i in range(4))
    area = (ymax - ymin) * (xmax - xmin)
    suppressed = np.zeros(len(scores), dtype=bool)
    kept = []
    for a in order:
        if suppressed[a]:
            continue
        kept.append(a)
        if len(kept) >= max_det:
            break
        ih = np.clip(np.minimum(ymax[a], ymax) - np.maximum(ymin[a], ymin), 0, None)
        iw = np.clip(np.minimum(xmax[a], xmax) - np.maximum(xmin[a], xmin), 0, None)
        inter = ih * iw
        union = area[a] + area - inter
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        suppressed |= (classes == classes[a]) & (iou > iou_thr)
    return kept


def detect(boxes, scores, score_thr, iou_thr, max_det):
    """boxes [A,4], scores [A,C] -> list of (class, score, ymin, xmin, ymax, xmax) kept, in score order."""
    cls = scores.argmax(1)
    best = scores[np.arange(len(cls)), cls]
    cand = np.nonzero(best >= score_thr)[0]
    kept = nms_per_class(boxes[cand], cls[cand], best[cand], iou_thr, max_det)
    return [(int(cls[cand[k]]), float(best[cand[k]]), *(float(v) for v in boxes[cand[k]])) for k in kept]


def class_names(model, count):
    path = os.path.splitext(model)[0] + ".labels.txt"
    names = []
    if os.path.isfile(path):
        with open(path) as f:
            names = [line.strip() for line in f]
    return [names[k] if k < len(names) and names[k] else f"class_{k}" for k in range(count)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--video", required=True)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--frame-stride", type=int, default=1)
    p.add_argument("--score-threshold", type=float, default=0.4)
    p.add_argument("--iou-threshold", type=float, default=0.5)
    p.add_argument("--max-detections", type=int, default=100)
    args = p.parse_args()

    cv2.setNumThreads(args.threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    inputs = sess.get_inputs()
    outputs = {o.name: o for o in sess.get_outputs()}
    if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[3] != 3 or {"boxes", "scores"} - outputs.keys():
        sys.exit(f"baseline_python: {args.model}: not an SSD with an NHWC input and boxes + scores outputs")
    input_name, (_, in_h, in_w, _) = inputs[0].name, inputs[0].shape
    names = class_names(args.model, outputs["scores"].shape[2])
    model_name = os.path.splitext(os.path.basename(args.model))[0]

    # One untimed run first, as prelabel bench warms its sessions: the first run allocates buffers.
    sess.run(None, {input_name: np.zeros((1, in_h, in_w, 3), np.float32)})
    started = time.perf_counter()
    cap = cv2.VideoCapture(args.video)
    if not cap.isOpened():
        sys.exit(f"baseline_python: {args.video}: OpenCV cannot open it")
    width, height = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
    labels = {}
    frames = inferred = detections = 0
    while True:
        index = frames
        if index % args.frame_stride != 0:
            if not cap.grab():
                break
            frames += 1
            continue
        ok, bgr = cap.read()
        if not ok:
            break
        frames += 1
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        x = cv2.resize(rgb, (in_w, in_h), interpolation=cv2.INTER_LINEAR).astype(np.float32)[None]
        boxes, scores = sess.run(["boxes", "scores"], {input_name: x})
        inferred += 1
        objects = []
        for n, (k, s, ymin, xmin, ymax, xmax) in enumerate(
            detect(boxes[0], scores[0], args.score_threshold, args.iou_threshold, args.max_detections)
        ):
            object_hash = hashlib.sha256(f"{model_name}:{index}:{n}".encode()).hexdigest()[:8]
            objects.append({
                "objectHash": object_hash,
                "name": names[k],
                "value": names[k].lower().replace(" ", "_"),
                "shape": "bounding_box",
                "confidence": s,
                "manualAnnotation": False,
                "boundingBox": {"x": xmin, "y": ymin, "w": xmax - xmin, "h": ymax - ymin},
            })
        detections += len(objects)
        if objects:
            labels[str(index)] = {"objects": objects}
    cap.release()
    row = {"data_units": {"video": {"data_type": "video", "width": width, "height": height, "labels": labels}}}
    json.dumps(row)
    seconds = time.perf_counter() - started
    print(json.dumps({
        "frames": frames,
        "frames_inferred": inferred,
        "detections": detections,
        "seconds": seconds,
        "fps": frames / seconds if seconds > 0 else 0.0,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }))


if __name__ == "__main__":
    main()
