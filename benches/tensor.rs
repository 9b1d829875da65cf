//! Converting one decoded 768×576 frame of `tests/data/vtest.avi` into a model's input tensor.
//!
//! `cargo bench --bench tensor`; `cargo test --release --benches` runs each case once.

use std::ops::ControlFlow;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prelabel_core::{ChannelOrder, InputLayout, PixelRange, ResizeMode};
use prelabel_decode::{OwnedFrame, TensorWriter, VideoSource};

/// The bundled SSD (`models/ssdlite_mobilenet_v2_coco_300.onnx`): NHWC 300×300, RGB 0..255, plain
/// resize, as `prelabel_detect::Detector` recognises it.
const SSD_LAYOUT: InputLayout =
    InputLayout { width: 300, height: 300, channel_order: ChannelOrder::Nhwc, pixel_range: PixelRange::Byte, resize: ResizeMode::Stretch };

/// An Ultralytics YOLO at 640: NCHW, RGB 0..1, letterboxed with 114/255.
const YOLO_LAYOUT: InputLayout = InputLayout {
    width: 640,
    height: 640,
    channel_order: ChannelOrder::Nchw,
    pixel_range: PixelRange::Unit,
    resize: ResizeMode::Letterbox { pad_value: 114.0 / 255.0 },
};

/// Frame 100 of vtest.avi (a P-frame well into the clip), copied out of the decoder.
fn vtest_frame() -> OwnedFrame {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vtest.avi");
    let mut owned = None;
    VideoSource::open(&path, 1)
        .expect("open tests/data/vtest.avi")
        .decode(|frame| {
            if frame.index() < 100 {
                return ControlFlow::Continue(());
            }
            owned = Some(frame.to_owned_frame());
            ControlFlow::Break(())
        })
        .expect("decode tests/data/vtest.avi");
    owned.expect("vtest.avi has 795 frames")
}

fn tensor(c: &mut Criterion) {
    let frame = vtest_frame();
    let mut group = c.benchmark_group("tensor_vtest_768x576");
    group.throughput(Throughput::Elements(1));
    for (name, layout) in [("ssd_nhwc_300_stretch", SSD_LAYOUT), ("yolo_nchw_640_letterbox", YOLO_LAYOUT)] {
        let mut writer = TensorWriter::new(layout);
        let mut tensor = vec![0.0f32; layout.image_len()];
        group.bench_function(name, |b| b.iter(|| writer.write(&frame.as_frame(), &mut tensor).expect("convert the frame")));
    }
    group.finish();
}

criterion_group!(benches, tensor);
criterion_main!(benches);
