#!/usr/bin/env python3
"""Independent reference decode of ssdlite_mobilenet_v2_coco_300.onnx, for parity tests against the Rust pipeline.

usage: reference_ssd.py MODEL.onnx FRAMES.npy SIZES.json OUT.json
                        [--score-threshold 0.4] [--iou-threshold 0.5] [--max-detections 100]

FRAMES.npy  float32 [N,300,300,3], NHWC RGB 0..255: the exact model inputs the Rust side produced.
SIZES.json  {"width": W, "height": H, "frame_indices": [i0, i1, ...]}: original frame size, video frame index
            of each row of FRAMES.npy.
Runs onnxruntime (CPUExecutionProvider, input `image`, outputs `boxes` [1,1917,4] ymin,xmin,ymax,xmax normalised
and `scores` [1,1917,90]) one frame at a time, then decodes in NumPy: per anchor best class (argmax over 90)
and its score; keep score >= threshold; stable sort by score descending; greedy per-class NMS (drop a box whose
IoU with an already kept box of the same class is > iou threshold); stop at max-detections. Boxes are scaled
to frame pixels: x1 = xmin*W, y1 = ymin*H, x2 = xmax*W, y2 = ymax*H.
Writes OUT.json: {"frames": [{"frame": i, "detections": [{"class_index": k, "score": s,
"x1", "y1", "x2", "y2"}, ...]}, ...]} (class_index = 0-based score column = COCO id - 1), detections in
kept order (score descending); prints one summary line per frame.
"""
import argparse
import json
import sys

import numpy as np
import onnxruntime as ort


def iou(box, others):
    """IoU of one (ymin,xmin,ymax,xmax) box with each row of `others`, in float64."""
    ih = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    iw = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = ih * iw
    union = (box[2] - box[0]) * (box[3] - box[1]) + (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def decode(boxes, scores, score_thr, iou_thr, max_det):
    """boxes [A,4], scores [A,90] -> list of (anchor, class, score) kept, in score order."""
    cls = scores.argmax(1)
    best = scores[np.arange(len(cls)), cls]
    cand = np.nonzero(best >= score_thr)[0]
    cand = cand[np.argsort(-best[cand], kind="stable")]
    b64 = boxes.astype(np.float64)
    kept = []
    for a in cand:
        if len(kept) >= max_det:
            break
        same = [k for k in kept if cls[k] == cls[a]]
        if same and (iou(b64[a], b64[same]) > iou_thr).any():
            continue
        kept.append(a)
    return [(int(a), int(cls[a]), float(best[a])) for a in kept]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model"); p.add_argument("frames"); p.add_argument("sizes"); p.add_argument("out")
    p.add_argument("--score-threshold", type=float, default=0.4)
    p.add_argument("--iou-threshold", type=float, default=0.5)
    p.add_argument("--max-detections", type=int, default=100)
    args = p.parse_args()

    frames = np.load(args.frames)
    with open(args.sizes) as f:
        sizes = json.load(f)
    W, H, indices = float(sizes["width"]), float(sizes["height"]), sizes["frame_indices"]
    if frames.dtype != np.float32 or frames.ndim != 4 or frames.shape[1:] != (300, 300, 3):
        sys.exit(f"reference_ssd: FRAMES.npy must be float32 [N,300,300,3], got {frames.dtype} {frames.shape}")
    if len(indices) != len(frames):
        sys.exit(f"reference_ssd: {len(indices)} frame_indices for {len(frames)} frames")

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # deterministic reductions
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    result = []
    for idx, x in zip(indices, frames):
        boxes, scores = sess.run(["boxes", "scores"], {"image": x[None]})
        dets = []
        for a, k, s in decode(boxes[0], scores[0], args.score_threshold, args.iou_threshold, args.max_detections):
            ymin, xmin, ymax, xmax = (float(v) for v in boxes[0, a])
            dets.append({"class_index": k, "score": s, "x1": xmin * W, "y1": ymin * H, "x2": xmax * W, "y2": ymax * H})
        result.append({"frame": int(idx), "detections": dets})
        print(f"frame {idx}: {len(dets)} detections " + " ".join(f"{d['class_index']}:{d['score']:.2f}" for d in dets))
    with open(args.out, "w") as f:
        json.dump({"frames": result}, f, indent=1)


if __name__ == "__main__":
    main()
