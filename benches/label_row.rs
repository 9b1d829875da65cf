//! Label-row building and streaming JSON for a long video: 100,000 frames × 10 boxes.
//!
//! `cargo bench --bench label_row`; `cargo test --release --benches` runs each case once.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use prelabel_core::{BoxXyxy, Detection, FrameDetections};
use prelabel_encord::{ClassMap, LabelRowBuilder, Ontology, VideoMeta};

const FRAMES: u64 = 100_000;
const BOXES_PER_FRAME: usize = 10;
const CLASSES: [&str; 3] = ["person", "car", "Traffic Light"];

fn meta() -> VideoMeta {
    VideoMeta {
        label_hash: "5e1b3c1e-3b1a-8a4c-9d2e-0f6a7b8c9d0e".into(),
        data_hash: "0d9a8b7c-6f5e-8d4c-b3a2-918070605040".into(),
        data_title: "long.mp4".into(),
        dataset_hash: "a1b2c3d4-e5f6-8a7b-8c9d-0e1f2a3b4c5d".into(),
        dataset_title: "local".into(),
        data_link: "long.mp4".into(),
        mime_type: "video/mp4".into(),
        width: 1920,
        height: 1080,
        fps: 25.0,
        duration_secs: FRAMES as f64 / 25.0,
    }
}

/// The detector's output for the whole video: every frame with [`BOXES_PER_FRAME`] boxes.
fn video_detections() -> Vec<FrameDetections> {
    (0..FRAMES)
        .map(|frame_index| FrameDetections {
            frame_index,
            detections: (0..BOXES_PER_FRAME)
                .map(|i| {
                    let x = (i * 150) as f32 + (frame_index % 100) as f32;
                    Detection {
                        class_index: i % CLASSES.len(),
                        score: 0.4 + i as f32 * 0.05,
                        bbox_in_frame_px: BoxXyxy::new(x, 200.0, x + 120.5, 480.25),
                    }
                })
                .collect(),
        })
        .collect()
}

fn build<'a>(ontology: &'a Ontology, map: &'a ClassMap, frames: &[FrameDetections]) -> LabelRowBuilder<'a> {
    let mut builder = LabelRowBuilder::new(ontology, map, meta(), "ssdlite_mobilenet_v2_coco_300", "Thu, 02 Jan 2025 03:04:05 UTC".into());
    frames.iter().for_each(|frame| builder.add_frame(frame));
    builder
}

fn label_row(c: &mut Criterion) {
    let ontology = Ontology::from_class_names(&CLASSES);
    let map = ClassMap::new(&ontology, &CLASSES, &[]).expect("every class is in the ontology");
    let frames = video_detections();
    let objects = FRAMES * BOXES_PER_FRAME as u64;
    let built = build(&ontology, &map, &frames);
    let mut json_len = CountingSink(0);
    built.write_json(&mut json_len).expect("writing into a counter cannot fail");
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("row.json");

    let mut group = c.benchmark_group("label_row_100k_frames_x10");
    group.sampling_mode(SamplingMode::Flat).sample_size(10).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(objects));
    group.bench_function("build", |b| b.iter_with_large_drop(|| build(&ontology, &map, &frames)));
    group.bench_function("build_and_write_json_to_sink", |b| {
        b.iter_with_large_drop(|| {
            let builder = build(&ontology, &map, &frames);
            builder.write_json(std::io::sink()).expect("sink");
            builder
        })
    });
    group.throughput(Throughput::Bytes(json_len.0));
    group.bench_function("write_json_to_sink", |b| b.iter(|| built.write_json(black_box(std::io::sink())).expect("sink")));
    group.bench_function("write_json_to_buffered_file", |b| {
        b.iter_batched(
            || BufWriter::new(File::create(&path).expect("create the output file")),
            |mut writer| {
                built.write_json(&mut writer).expect("write the output file");
                writer.flush().expect("flush the output file");
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// A writer that only counts the bytes written into it.
struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

criterion_group!(benches, label_row);
criterion_main!(benches);
