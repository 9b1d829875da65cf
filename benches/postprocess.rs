//! Head decoding and NMS for one image: the bundled SSD's output (1917 anchors × 90 classes) and
//! a YOLOv8 raw head (84 rows × 8400 anchors), with synthetic but realistic scores: nearly every
//! anchor scores near zero, and a dozen objects are each covered by a cluster of overlapping
//! anchors, about half of them above the score threshold.
//!
//! `cargo bench --bench postprocess`; `cargo test --release --benches` runs each case once.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use prelabel_detect::{non_max_suppression, ssd_candidates, yolo_raw_head_candidates};

/// The command line's defaults (`--score-threshold`, `--iou-threshold`, `--max-detections`).
const SCORE_THRESHOLD: f32 = 0.4;
const IOU_THRESHOLD: f32 = 0.5;
const MAX_DETECTIONS: usize = 100;
const OBJECTS: usize = 12;

const SSD_ANCHORS: usize = 1917;
const SSD_CLASSES: usize = 90;
const SSD_INPUT_PX: f32 = 300.0;
const SSD_ANCHORS_PER_OBJECT: usize = 20;

const YOLO_CLASSES: usize = 80;
const YOLO_ROWS: usize = 4 + YOLO_CLASSES;
const YOLO_ANCHORS: usize = 8400;
const YOLO_INPUT_PX: f32 = 640.0;
const YOLO_ANCHORS_PER_OBJECT: usize = 30;

/// xorshift64*: deterministic numbers without a dependency.
struct Rng(u64);

impl Rng {
    /// Uniform in 0..1.
    fn unit(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in `low..high`.
    fn range(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.unit()
    }

    /// Uniform in `0..n`.
    fn index(&mut self, n: usize) -> usize {
        ((self.unit() * n as f32) as usize).min(n - 1)
    }

    /// A background score: near zero, rarely above a few hundredths.
    fn background_score(&mut self) -> f32 {
        self.unit().powi(4) * 0.05
    }

    /// An object anchor's score: 0.2..0.9, about half above [`SCORE_THRESHOLD`].
    fn object_score(&mut self) -> f32 {
        self.range(0.2, 0.9)
    }
}

/// An object: class and box centre and size as fractions of the input.
struct Object {
    class_index: usize,
    centre: (f32, f32),
    size: (f32, f32),
}

fn objects(rng: &mut Rng, classes: usize) -> Vec<Object> {
    (0..OBJECTS)
        .map(|_| Object {
            class_index: rng.index(classes),
            centre: (rng.range(0.1, 0.9), rng.range(0.1, 0.9)),
            size: (rng.range(0.05, 0.3), rng.range(0.05, 0.4)),
        })
        .collect()
}

/// SSD output for one image: `boxes` `[anchors, 4]` (`ymin, xmin, ymax, xmax`, normalised) and
/// `scores` `[anchors, classes]`.
fn ssd_head() -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng(0x5eed_55d0);
    let mut boxes = Vec::with_capacity(SSD_ANCHORS * 4);
    for _ in 0..SSD_ANCHORS {
        let (y, x, h, w) = (rng.unit(), rng.unit(), rng.range(0.02, 0.3), rng.range(0.02, 0.3));
        boxes.extend([y, x, (y + h).min(1.0), (x + w).min(1.0)]);
    }
    let mut scores: Vec<f32> = (0..SSD_ANCHORS * SSD_CLASSES).map(|_| rng.background_score()).collect();
    for object in objects(&mut rng, SSD_CLASSES) {
        for _ in 0..SSD_ANCHORS_PER_OBJECT {
            let anchor = rng.index(SSD_ANCHORS);
            let jitter = |rng: &mut Rng, v: f32| (v + rng.range(-0.02, 0.02)).clamp(0.0, 1.0);
            let (cx, cy) = object.centre;
            let (w, h) = object.size;
            boxes[anchor * 4..anchor * 4 + 4].copy_from_slice(&[
                jitter(&mut rng, cy - h / 2.0),
                jitter(&mut rng, cx - w / 2.0),
                jitter(&mut rng, cy + h / 2.0),
                jitter(&mut rng, cx + w / 2.0),
            ]);
            scores[anchor * SSD_CLASSES + object.class_index] = rng.object_score();
        }
    }
    (boxes, scores)
}

/// YOLOv8 raw head for one image: `[4 + classes, anchors]`, boxes as centre and size in input
/// pixels.
fn yolo_head() -> Vec<f32> {
    let mut rng = Rng(0x5eed_901f);
    let mut head = vec![0.0f32; YOLO_ROWS * YOLO_ANCHORS];
    let set = |head: &mut [f32], row: usize, anchor: usize, v: f32| head[row * YOLO_ANCHORS + anchor] = v;
    for anchor in 0..YOLO_ANCHORS {
        let [cx, cy] = [rng.range(0.0, YOLO_INPUT_PX), rng.range(0.0, YOLO_INPUT_PX)];
        let [w, h] = [rng.range(8.0, 200.0), rng.range(8.0, 200.0)];
        for (row, v) in [cx, cy, w, h].into_iter().enumerate() {
            set(&mut head, row, anchor, v);
        }
        for class in 0..YOLO_CLASSES {
            set(&mut head, 4 + class, anchor, rng.background_score());
        }
    }
    for object in objects(&mut rng, YOLO_CLASSES) {
        for _ in 0..YOLO_ANCHORS_PER_OBJECT {
            let anchor = rng.index(YOLO_ANCHORS);
            let (cx, cy) = object.centre;
            let (w, h) = object.size;
            let jittered = [cx, cy, w, h].map(|v| v * YOLO_INPUT_PX + rng.range(-4.0, 4.0));
            for (row, v) in jittered.into_iter().enumerate() {
                set(&mut head, row, anchor, v);
            }
            set(&mut head, 4 + object.class_index, anchor, rng.object_score());
        }
    }
    head
}

fn postprocess(c: &mut Criterion) {
    let (ssd_boxes, ssd_scores) = ssd_head();
    let ssd_decode = || ssd_candidates(&ssd_boxes, &ssd_scores, SSD_ANCHORS, SSD_CLASSES, (SSD_INPUT_PX, SSD_INPUT_PX), SCORE_THRESHOLD);
    let yolo = yolo_head();
    let yolo_decode = || yolo_raw_head_candidates(&yolo, YOLO_ROWS, YOLO_ANCHORS, SCORE_THRESHOLD);
    for (name, candidates) in [("ssd", ssd_decode()), ("yolo", yolo_decode())] {
        let count = candidates.len();
        let kept = non_max_suppression(candidates, IOU_THRESHOLD, MAX_DETECTIONS).len();
        eprintln!("{name}: {count} candidates above {SCORE_THRESHOLD}, {kept} kept by NMS");
    }

    let mut group = c.benchmark_group("postprocess");
    group.bench_function("ssd_1917x90_decode", |b| b.iter(|| black_box(ssd_decode())));
    group.bench_function("ssd_1917x90_decode_and_nms", |b| {
        b.iter(|| non_max_suppression(black_box(ssd_decode()), IOU_THRESHOLD, MAX_DETECTIONS))
    });
    group.bench_function("yolov8_84x8400_decode", |b| b.iter(|| black_box(yolo_decode())));
    group.bench_function("yolov8_84x8400_decode_and_nms", |b| {
        b.iter(|| non_max_suppression(black_box(yolo_decode()), IOU_THRESHOLD, MAX_DETECTIONS))
    });
    group.finish();
}

criterion_group!(benches, postprocess);
criterion_main!(benches);
