//! Decoding real footage and FFmpeg-made test videos with the real FFmpeg libraries.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;

use prelabel_core::{ChannelOrder, InputLayout, PixelRange, ResizeMode};
use prelabel_decode::{DecodeError, LumaWriter, MAX_LUMA_WIDTH, TensorWriter, VideoSource};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data").join(name)
}

/// Runs the `ffmpeg` CLI (installed by scripts/setup) to make a test input.
fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg").args(["-v", "error", "-y"]).args(args).status().expect("ffmpeg CLI");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

/// Mean RGB value (0..255) of each decoded frame, through an 8x8 packed byte tensor.
fn frame_means(path: &Path) -> Vec<f32> {
    let layout =
        InputLayout { width: 8, height: 8, channel_order: ChannelOrder::Nhwc, pixel_range: PixelRange::Byte, resize: ResizeMode::Stretch };
    let mut writer = TensorWriter::new(layout);
    let mut tensor = vec![0.0; layout.image_len()];
    let mut means = Vec::new();
    let source = VideoSource::open(path, 2).expect("open");
    let report = source
        .decode(|frame| {
            assert_eq!(frame.index(), means.len() as u64, "indices are consecutive from 0");
            writer.write(&frame, &mut tensor).expect("convert");
            means.push(tensor.iter().sum::<f32>() / tensor.len() as f32);
            ControlFlow::Continue(())
        })
        .expect("decode");
    assert!(!report.is_partial(), "{report:?}");
    means
}

/// Frame i of the generated videos has luma 16 + 8·i, i.e. RGB ≈ 1.164 · 8 · i.
fn assert_frames_in_order(means: &[f32], count: usize) {
    assert_eq!(means.len(), count);
    for (i, m) in means.iter().enumerate() {
        let want = 1.164 * 8.0 * i as f32;
        assert!((m - want).abs() < 4.0, "frame {i}: mean {m}, want {want} (all: {means:?})");
    }
}

const RAMP: &str = "color=black:s=64x64:r=10,geq=lum='16+8*N':cb=128:cr=128";

#[test]
fn b_frames_are_numbered_in_presentation_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bframes.mp4");
    let p = path.to_str().unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        RAMP,
        "-frames:v",
        "24",
        "-c:v",
        "libx264",
        "-bf",
        "3",
        "-g",
        "12",
        "-crf",
        "8",
        "-pix_fmt",
        "yuv420p",
        p,
    ]);
    assert_frames_in_order(&frame_means(&path), 24);
}

#[test]
fn variable_frame_rate_does_not_shift_or_duplicate_indices() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vfr.mkv");
    let p = path.to_str().unwrap();
    // Irregular gaps between timestamps (0.1 s growing to 0.3 s), kept as they are.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        RAMP,
        "-frames:v",
        "24",
        "-vf",
        "setpts='(N+N*N/24)/(10*TB)'",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "libx264",
        "-bf",
        "2",
        "-crf",
        "8",
        "-pix_fmt",
        "yuv420p",
        p,
    ]);
    assert_frames_in_order(&frame_means(&path), 24);
}

#[test]
fn vtest_avi_decodes_every_frame() {
    let source = VideoSource::open(&data("vtest.avi"), 2).unwrap();
    let info = source.info().clone();
    assert_eq!((info.width, info.height, info.fps, info.frame_count_hint), (768, 576, 10.0, Some(795)));
    let report = source.decode(|_| ControlFlow::Continue(())).unwrap();
    assert_eq!(report.frames_decoded, 795);
    assert!(!report.is_partial());
}

#[test]
fn truncated_video_reports_the_frames_it_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.avi");
    let bytes = std::fs::read(data("vtest.avi")).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() * 6 / 10]).unwrap();
    let report = VideoSource::open(&path, 2).unwrap().decode(|_| ControlFlow::Continue(())).unwrap();
    assert!(report.is_partial());
    assert!(report.frames_decoded > 300 && report.frames_decoded < 795, "{report:?}");
    assert_eq!(report.frames_lost, 795 - report.frames_decoded);
}

#[test]
fn letterbox_pads_with_the_pad_value_and_keeps_the_aspect_ratio() {
    // bikes.mp4 is 640x272: into 128x128 it is 128x54 with 37 rows of padding on top.
    let layout = InputLayout {
        width: 128,
        height: 128,
        channel_order: ChannelOrder::Nchw,
        pixel_range: PixelRange::Unit,
        resize: ResizeMode::Letterbox { pad_value: 114.0 / 255.0 },
    };
    let mut writer = TensorWriter::new(layout);
    let mut tensor = vec![-1.0; layout.image_len()];
    let mut transform = None;
    VideoSource::open(&data("bikes.mp4"), 1)
        .unwrap()
        .decode(|frame| {
            transform = Some(writer.write(&frame, &mut tensor).unwrap());
            ControlFlow::Break(())
        })
        .unwrap();
    let t = transform.unwrap();
    assert_eq!((t.scaled_width, t.scaled_height, t.pad_x, t.pad_y), (128, 54, 0, 37));
    let plane = 128 * 128;
    for c in 0..3 {
        let rows = |r: std::ops::Range<usize>| &tensor[c * plane + r.start * 128..c * plane + r.end * 128];
        assert!(rows(0..37).iter().all(|&v| v == 114.0 / 255.0), "top padding, channel {c}");
        assert!(rows(91..128).iter().all(|&v| v == 114.0 / 255.0), "bottom padding, channel {c}");
        let content = rows(37..91);
        assert!(content.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(content.iter().any(|&v| (v - 114.0 / 255.0).abs() > 0.05), "picture rows hold the picture");
    }
}

#[test]
fn an_owned_frame_converts_as_the_frame_it_was_copied_from() {
    let layout = InputLayout {
        width: 32,
        height: 24,
        channel_order: ChannelOrder::Nhwc,
        pixel_range: PixelRange::Byte,
        resize: ResizeMode::Stretch,
    };
    let mut writer = TensorWriter::new(layout);
    let mut lent = vec![0.0; layout.image_len()];
    let mut owned = None;
    VideoSource::open(&data("vtest.avi"), 2)
        .unwrap()
        .decode(|frame| {
            if frame.index() < 3 {
                return ControlFlow::Continue(());
            }
            writer.write(&frame, &mut lent).unwrap();
            owned = Some(frame.to_owned_frame());
            ControlFlow::Break(())
        })
        .unwrap();
    let owned = owned.unwrap();
    let mut copied = vec![0.0; layout.image_len()];
    writer.write(&owned.as_frame(), &mut copied).unwrap();
    assert_eq!(owned.as_frame().index(), 3);
    assert_eq!(copied, lent, "the copy outlives the decoder and holds the same picture");
}

#[test]
fn inputs_that_are_not_videos_fail_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.mp4");
    assert!(matches!(VideoSource::open(&missing, 1), Err(DecodeError::NotFound { .. })));

    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let err = VideoSource::open(&empty, 1).err().expect("empty file");
    assert!(matches!(err, DecodeError::NotAVideo { .. }), "{err}");
    assert!(err.to_string().starts_with(&format!("{}: ", empty.display())), "{err}");

    let random = dir.path().join("random.mp4");
    let noise: Vec<u8> = (0u32..65536).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(&random, noise).unwrap();
    assert!(matches!(VideoSource::open(&random, 1), Err(DecodeError::NotAVideo { .. })));

    let audio = dir.path().join("audio.wav");
    ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=440:duration=1", audio.to_str().unwrap()]);
    assert!(matches!(VideoSource::open(&audio, 1), Err(DecodeError::NoVideoStream { .. })));
}

#[test]
fn luma_is_the_frame_s_brightness_downscaled_by_a_whole_factor() {
    // The ramp's frames are flat grey, video-range luma 16 + 8·i, i.e. full-range grey 1.164 · 8 · i:
    // small enough to keep every sample.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ramp.mp4");
    ffmpeg(&["-f", "lavfi", "-i", RAMP, "-frames:v", "6", "-c:v", "libx264", "-crf", "4", "-pix_fmt", "yuv420p", path.to_str().unwrap()]);
    let mut writer = LumaWriter::new();
    let mut lumas = Vec::new();
    let source = VideoSource::open(&path, 1).unwrap();
    source
        .decode(|frame| {
            lumas.push(writer.write(&frame).unwrap());
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(lumas.len(), 6);
    for (i, luma) in lumas.iter().enumerate() {
        assert_eq!((luma.frame_index, luma.width(), luma.height(), luma.frame_px_per_sample()), (i as u64, 64, 64, 1));
        let mean = (0..64).flat_map(|y| luma.row(y)).map(|&v| f32::from(v)).sum::<f32>() / 4096.0;
        assert!((mean - 1.164 * 8.0 * i as f32).abs() < 2.0, "frame {i}: mean grey {mean}");
    }

    // 768 × 576 footage: halved, to at most MAX_LUMA_WIDTH samples a row, with its texture kept.
    let mut first = None;
    VideoSource::open(&data("vtest.avi"), 1)
        .unwrap()
        .decode(|frame| {
            first = Some(writer.write(&frame).unwrap());
            ControlFlow::Break(())
        })
        .unwrap();
    let luma = first.unwrap();
    assert_eq!((luma.width(), luma.height(), luma.frame_px_per_sample()), (384, 288, 2));
    assert!(luma.width() as u32 <= MAX_LUMA_WIDTH);
    let (least, most) = (0..288).flat_map(|y| luma.row(y)).fold((255u8, 0u8), |(l, m), &v| (l.min(v), m.max(v)));
    assert!(most - least > 100, "a street scene has contrast: {least}..{most}");
}
