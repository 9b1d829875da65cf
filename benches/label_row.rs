//! Label-row building and streaming JSON for a long video: 100,000 frames × 10 boxes.
//!
//! `cargo bench --bench label_row`; `cargo test --release --benches` runs each case once.

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use prelabel_core::FrameDetections;
use prelabel_encord::{ClassMap, LabelRowBuilder, Ontology};

#[path = "../crates/prelabel-encord/tests/long_video/mod.rs"]
mod long_video;
use long_video::{BOXES_PER_FRAME, FRAMES, frame_detections, new_builder, ontology_and_map};

/// The detector's output for the whole video.
fn video_detections() -> Vec<FrameDetections> {
    (0..FRAMES).map(frame_detections).collect()
}

fn build<'a>(ontology: &'a Ontology, map: &'a ClassMap, frames: &[FrameDetections]) -> LabelRowBuilder<'a> {
    let mut builder = new_builder(ontology, map);
    builder.add_frames(frames);
    builder
}

fn label_row(c: &mut Criterion) {
    let (ontology, map) = ontology_and_map();
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
