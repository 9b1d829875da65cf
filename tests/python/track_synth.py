"""Synthetic detection streams with known identities, for scoring multi-object trackers.

    track_synth.py OUT_DIR [--seed S]

Writes OUT_DIR/<scenario>.json for each scenario below, in the format

    {"width": W, "height": H,
     "frames": [{"frame": i,
                 "detections": [{"x1", "y1", "x2", "y2", "score", "class_index"}, ...],
                 "ground_truth": [{"id", "x1", "y1", "x2", "y2"}, ...]}, ...]}

Boxes are frame pixels, corners, clipped to the frame. Every frame of the stream is listed, with
or without detections. Deterministic: the same seed writes the same bytes.

How a detector is simulated, in every scenario:
- An object is in the ground truth on a frame when at least MIN_VISIBLE of its box is inside
  the frame; its ground-truth box is the clipped box. Only then can it be detected.
- It is detected with probability 1 - drop_rate; the detection's corners are the true ones plus
  Gaussian jitter of `jitter` times the box's width (x) or height (y), and its score is uniform in
  the scenario's score range.
- Occlusion: when two true boxes overlap with IoU >= OCCLUSION_IOU, the object farther from the
  camera (the one whose bottom edge is higher) is missed with probability OCCLUDED_DROP and
  otherwise detected with a low score (OCCLUDED_SCORE): what real detectors do, and what
  ByteTrack's low-score pass is for.
- False positives: a Poisson number per frame of random boxes, with low-ish scores.

An object that leaves the frame and comes back keeps its ground-truth id (the MOTChallenge
convention: the id names the physical object), so a tracker that starts a new track for it is
charged an identity switch / fragment.
"""

import argparse
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

WIDTH, HEIGHT = 1280, 720
FRAMES = 300
MIN_VISIBLE = 0.3
OCCLUSION_IOU = 0.3
OCCLUDED_DROP = 0.5
OCCLUDED_SCORE = (0.15, 0.45)

# A trajectory maps a frame index to the object's (centre x, centre y, width, height), or None
# while the object does not exist.
Trajectory = Callable[[int], "tuple[float, float, float, float] | None"]


@dataclass
class SceneObject:
    id: int
    class_index: int
    trajectory: Trajectory


@dataclass
class Scene:
    """The objects, and how the simulated detector sees them."""

    drop_rate: float = 0.02
    jitter: float = 0.02
    score: tuple[float, float] = (0.6, 0.95)
    false_positives_per_frame: float = 0.0
    false_positive_score: tuple[float, float] = (0.1, 0.6)
    classes: int = 1
    objects: list[SceneObject] = field(default_factory=list)


def iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def corners(cx, cy, w, h):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def clip(box):
    return [min(max(box[0], 0.0), WIDTH), min(max(box[1], 0.0), HEIGHT),
            min(max(box[2], 0.0), WIDTH), min(max(box[3], 0.0), HEIGHT)]


def area(box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def rounded(box):
    return {k: round(float(v), 3) for k, v in zip(("x1", "y1", "x2", "y2"), box)}


def render(scene: Scene, rng: np.random.Generator) -> dict:
    frames = []
    for i in range(FRAMES):
        visible = []  # (object, true box, clipped box)
        for obj in scene.objects:
            state = obj.trajectory(i)
            if state is None:
                continue
            true_box = corners(*state)
            clipped = clip(true_box)
            if area(clipped) >= MIN_VISIBLE * area(true_box):
                visible.append((obj, true_box, clipped))
        occluded = set()
        for a in range(len(visible)):
            for b in range(a + 1, len(visible)):
                if iou(visible[a][2], visible[b][2]) >= OCCLUSION_IOU:
                    # The farther object is the one whose bottom edge is higher in the image.
                    occluded.add(a if visible[a][2][3] < visible[b][2][3] else b)
        detections, truth = [], []
        for k, (obj, true_box, clipped) in enumerate(visible):
            truth.append({"id": obj.id, **rounded(clipped)})
            # Draw every random number whether or not it is used, so scenarios stay comparable.
            drop_draw, score_draw, occluded_score = rng.random(), rng.uniform(*scene.score), rng.uniform(*OCCLUDED_SCORE)
            noise = rng.normal(0.0, scene.jitter, 4)
            if k in occluded:
                if drop_draw < OCCLUDED_DROP:
                    continue
                score = occluded_score
            elif drop_draw < scene.drop_rate:
                continue
            else:
                score = score_draw
            w, h = true_box[2] - true_box[0], true_box[3] - true_box[1]
            box = clip([true_box[0] + noise[0] * w, true_box[1] + noise[1] * h,
                        true_box[2] + noise[2] * w, true_box[3] + noise[3] * h])
            if area(box) > 0:
                detections.append({**rounded(box), "score": round(float(score), 4), "class_index": obj.class_index})
        for _ in range(rng.poisson(scene.false_positives_per_frame)):
            w = rng.uniform(30, 120)
            h = w * rng.uniform(1.0, 2.5)
            cx, cy = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
            box = clip(corners(cx, cy, w, h))
            if area(box) > 0:
                detections.append({**rounded(box), "score": round(float(rng.uniform(*scene.false_positive_score)), 4),
                                   "class_index": int(rng.integers(scene.classes))})
        detections.sort(key=lambda d: -d["score"])
        frames.append({"frame": i, "detections": detections, "ground_truth": truth})
    return {"width": WIDTH, "height": HEIGHT, "frames": frames}


def linear(start: int, x0: float, y0: float, vx: float, vy: float, w: float, h: float) -> Trajectory:
    """Constant velocity from frame `start` on (absent before it)."""
    def at(i: int):
        if i < start:
            return None
        t = i - start
        return (x0 + vx * t, y0 + vy * t, w, h)
    return at


def lane_objects(rng: np.random.Generator, count: int, classes: int, first_id: int = 0) -> list[SceneObject]:
    """Objects entering from the left or right edge at staggered times, crossing at 2-6 px/frame
    in a lane of their own (people tall and thin, class 0; cars wide, class 1)."""
    objects = []
    lanes = rng.permutation(np.linspace(120, HEIGHT - 120, count))
    for k in range(count):
        class_index = int(rng.integers(classes))
        w = rng.uniform(40, 70) if class_index == 0 else rng.uniform(110, 160)
        h = w * rng.uniform(2.0, 2.6) if class_index == 0 else w * rng.uniform(0.5, 0.7)
        speed = rng.uniform(2.0, 6.0)
        from_left = rng.random() < 0.5
        x0 = -w / 2 + 1 if from_left else WIDTH + w / 2 - 1
        vx = speed if from_left else -speed
        vy = rng.uniform(-0.5, 0.5)
        start = int(rng.integers(0, FRAMES // 3))
        objects.append(SceneObject(first_id + k, class_index, linear(start, x0, lanes[k], vx, vy, w, h)))
    return objects


def constant_velocity(rng):
    return Scene(classes=2, objects=lane_objects(rng, 8, classes=2))


def circular(rng):
    """Turning motion: each object runs round a circle (radius 80-200 px, one lap in 3-6 s)."""
    objects = []
    for k in range(5):
        cx, cy = rng.uniform(250, WIDTH - 250), rng.uniform(220, HEIGHT - 220)
        radius = rng.uniform(80, 200)
        omega = (1 if rng.random() < 0.5 else -1) * 2 * math.pi / rng.uniform(90, 180)
        phase = rng.uniform(0, 2 * math.pi)
        w = rng.uniform(40, 70)
        h = w * rng.uniform(2.0, 2.6)

        def at(i, cx=cx, cy=cy, radius=radius, omega=omega, phase=phase, w=w, h=h):
            return (cx + radius * math.cos(phase + omega * i), cy + radius * math.sin(phase + omega * i), w, h)
        objects.append(SceneObject(k, 0, at))
    return Scene(objects=objects)


def converging(rng, group_size: int, groups: int) -> Scene:
    """`groups` times, `group_size` objects of one class reach the same point at the same frame
    from different directions and go on through it (X-shaped paths for 2, a star for 3)."""
    objects = []
    for g in range(groups):
        meet_frame = 60 + g * (FRAMES - 120) // max(groups - 1, 1)
        mx, my = rng.uniform(350, WIDTH - 350), rng.uniform(250, HEIGHT - 250)
        base_angle = rng.uniform(0, 2 * math.pi)
        w = rng.uniform(45, 65)
        for k in range(group_size):
            angle = base_angle + 2 * math.pi * k / (2 * group_size) + rng.uniform(-0.2, 0.2)
            speed = rng.uniform(3.0, 5.0)
            vx, vy = speed * math.cos(angle), speed * math.sin(angle)
            # Small offsets so the paths cross near, not exactly at, one point.
            ox, oy = rng.uniform(-8, 8), rng.uniform(-8, 8)
            x0, y0 = mx + ox - vx * meet_frame, my + oy - vy * meet_frame
            h = w * rng.uniform(2.0, 2.4)
            objects.append(SceneObject(g * group_size + k, 0, linear(0, x0, y0, vx, vy, w, h)))
    return Scene(objects=objects)


def crossing_two(rng):
    return converging(rng, group_size=2, groups=3)


def crossing_three(rng):
    return converging(rng, group_size=3, groups=2)


def missed_detections(rng):
    return Scene(drop_rate=0.3, classes=2, objects=lane_objects(rng, 8, classes=2))


def false_positives(rng):
    return Scene(false_positives_per_frame=3.0, false_positive_score=(0.1, 0.7), classes=2,
                    objects=lane_objects(rng, 8, classes=2))


def leave_and_reenter(rng):
    """Objects walk out of the frame, turn round out of sight 40-100 frames later and walk back
    in (same ground-truth id), possibly more than once."""
    objects = []
    lanes = rng.permutation(np.linspace(150, HEIGHT - 150, 5))
    for k in range(5):
        w = rng.uniform(40, 70)
        h = w * rng.uniform(2.0, 2.6)
        speed = rng.uniform(4.0, 7.0)
        # Out and back between x = -(turn) and x = WIDTH + turn, a triangle wave in x.
        turn = speed * rng.uniform(20, 50)
        span = WIDTH + 2 * turn
        offset = rng.uniform(0, 2 * span)

        def at(i, y=lanes[k], w=w, h=h, speed=speed, turn=turn, span=span, offset=offset):
            s = (offset + speed * i) % (2 * span)
            x = -turn + (s if s < span else 2 * span - s)
            return (x, y, w, h)
        objects.append(SceneObject(k, 0, at))
    return Scene(objects=objects)


def meeting_and_turning_back(rng):
    """Pairs of people walking towards each other, one a little farther back than the other, who
    meet (their boxes overlapping, the farther one partly hidden) and both turn back: a tracker
    that goes by its velocity carries each track on onto the other person."""
    objects = []
    for g in range(4):
        meet_frame = 50 + g * 60
        mx, my = rng.uniform(300, WIDTH - 300), rng.uniform(220, HEIGHT - 260)
        w = rng.uniform(45, 65)
        h = w * rng.uniform(2.0, 2.4)
        speed = rng.uniform(4.0, 7.0)
        gap = h * rng.uniform(0.15, 0.35)
        for k, (direction, y) in enumerate([(1, my), (-1, my + gap)]):
            def at(i, direction=direction, y=y, w=w, h=h, speed=speed, meet_frame=meet_frame, mx=mx):
                # Towards the meeting point until meet_frame, then back the way it came.
                return (mx - direction * speed * abs(meet_frame - i), y, w, h)
            objects.append(SceneObject(2 * g + k, 0, at))
    return Scene(objects=objects)


def jitter(rng):
    """Heavy box noise (8% of the size per corner) and middling scores."""
    return Scene(jitter=0.08, score=(0.4, 0.9), classes=2, objects=lane_objects(rng, 8, classes=2))


SCENARIOS = {
    "constant_velocity": constant_velocity,
    "circular": circular,
    "crossing_two": crossing_two,
    "crossing_three": crossing_three,
    "missed_detections": missed_detections,
    "false_positives": false_positives,
    "leave_and_reenter": leave_and_reenter,
    "jitter": jitter,
    "meeting_and_turning_back": meeting_and_turning_back,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for index, (name, make) in enumerate(SCENARIOS.items()):
        # One generator per scenario, so editing one scenario leaves the others' streams as they are.
        rng = np.random.default_rng([args.seed, index])
        stream = render(make(rng), rng)
        (args.out_dir / f"{name}.json").write_text(json.dumps(stream, separators=(",", ":")))


if __name__ == "__main__":
    main()
