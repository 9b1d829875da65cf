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

/// `ffmpeg` output options: H.264 without loss, in 4:4:4 (no chroma resampling).
const LOSSLESS_444: [&str; 6] = ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p"];

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
    // The luma of the first frame of a video.
    let mut first_luma = |path: &Path| {
        let mut first = None;
        VideoSource::open(path, 1)
            .unwrap()
            .decode(|frame| {
                first = Some(writer.write(&frame).unwrap());
                ControlFlow::Break(())
            })
            .unwrap();
        first.unwrap()
    };
    let luma = first_luma(&data("vtest.avi"));
    assert_eq!((luma.width(), luma.height(), luma.frame_px_per_sample()), (384, 288, 2));
    assert!(luma.width() as u32 <= MAX_LUMA_WIDTH);
    let (least, most) = (0..288).flat_map(|y| luma.row(y)).fold((255u8, 0u8), |(l, m), &v| (l.min(v), m.max(v)));
    assert!(most - least > 100, "a street scene has contrast: {least}..{most}");

    // Stored 360 × 480 and shown turned, 480 × 360: downscaled for the width shown, by 2 (by
    // the stored width it would be 1, and 480 samples a row).
    let dir = tempfile::tempdir().unwrap();
    let (stored, tagged) = (dir.path().join("stored.mp4"), dir.path().join("tagged.mp4"));
    ffmpeg(&["-f", "lavfi", "-i", "testsrc2=size=360x480", "-frames:v", "1", "-c:v", "libx264", stored.to_str().unwrap()]);
    ffmpeg(&["-i", stored.to_str().unwrap(), "-c", "copy", "-metadata:s:v:0", "rotate=90", tagged.to_str().unwrap()]);
    let luma = first_luma(&tagged);
    assert_eq!((luma.width(), luma.height(), luma.frame_px_per_sample()), (240, 180, 2));
}

/// Every frame of `path` as we hand it out: packed RGB (0..255) at `width × height` (the
/// displayed size, so no resampling), and its luma.
fn displayed_frames(path: &Path, width: u32, height: u32) -> (Vec<Vec<f32>>, Vec<Vec<u8>>) {
    let layout =
        InputLayout { width, height, channel_order: ChannelOrder::Nhwc, pixel_range: PixelRange::Byte, resize: ResizeMode::Stretch };
    let (mut writer, mut luma_writer) = (TensorWriter::new(layout), LumaWriter::new());
    let (mut rgb, mut luma) = (Vec::new(), Vec::new());
    VideoSource::open(path, 1)
        .expect("open")
        .decode(|frame| {
            assert_eq!((frame.width(), frame.height()), (width, height), "frames are handed out as displayed");
            let mut tensor = vec![0.0; layout.image_len()];
            writer.write(&frame, &mut tensor).expect("convert");
            rgb.push(tensor);
            let l = luma_writer.write(&frame).expect("luma");
            assert_eq!((l.width(), l.height()), (width as usize, height as usize));
            luma.push((0..l.height()).flat_map(|y| l.row(y).to_vec()).collect());
            ControlFlow::Continue(())
        })
        .expect("decode");
    (rgb, luma)
}

/// Every frame of `path` written into a planar float, letterboxed 80 × 80 input (resampled).
fn letterboxed_frames(path: &Path) -> Vec<Vec<f32>> {
    let layout = InputLayout {
        width: 80,
        height: 80,
        channel_order: ChannelOrder::Nchw,
        pixel_range: PixelRange::Unit,
        resize: ResizeMode::Letterbox { pad_value: 0.5 },
    };
    let mut writer = TensorWriter::new(layout);
    let mut tensors = Vec::new();
    VideoSource::open(path, 1)
        .expect("open")
        .decode(|frame| {
            let mut tensor = vec![0.0; layout.image_len()];
            let placed = writer.write(&frame, &mut tensor).expect("convert");
            assert_eq!((placed.scaled_width, placed.scaled_height, placed.pad_y), (80, 60, 10));
            tensors.push(tensor);
            ControlFlow::Continue(())
        })
        .expect("decode");
    tensors
}

/// What the `ffmpeg` command line shows of `path` (turned by its display matrix, as it does
/// unless told not to): every frame's packed RGB bytes.
fn shown_by_ffmpeg(path: &Path) -> Vec<u8> {
    let shown =
        Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(path).args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]).output().unwrap();
    assert!(shown.status.success(), "ffmpeg could not show {}", path.display());
    shown.stdout
}

#[test]
fn frames_are_converted_with_the_colour_matrix_they_are_tagged_with_as_ffmpeg_shows_them() {
    // testsrc2's saturated colours, stored losslessly in 4:4:4 (no chroma resampling) with the
    // HD matrix (BT.709), tagged so: read with BT.601, what an untagged video gets, they would
    // be over 20 levels off.
    let dir = tempfile::tempdir().unwrap();
    let (path, untagged) = (dir.path().join("bt709.mp4"), dir.path().join("untagged.mp4"));
    let encode = ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-frames:v", "2", "-vf", "scale=out_color_matrix=bt709"];
    ffmpeg(&[&encode[..], &LOSSLESS_444, &["-colorspace", "bt709", path.to_str().unwrap()]].concat());
    ffmpeg(&[&encode[..], &LOSSLESS_444, &[untagged.to_str().unwrap()]].concat());
    let shown = shown_by_ffmpeg(&path);
    let (rgb, luma) = displayed_frames(&path, 64, 48);
    let ours: Vec<f32> = rgb.concat();
    assert_eq!(ours.len(), shown.len());
    let off = ours.iter().zip(&shown).map(|(a, &b)| (a - f32::from(b)).abs()).fold(0.0, f32::max);
    assert!(off <= 2.0, "up to {off} levels off what ffmpeg shows");
    // The luma is the Y plane whatever the matrix: the same samples untagged give the same.
    assert_eq!(luma, displayed_frames(&untagged, 64, 48).1);
}

#[test]
fn frames_are_turned_as_the_display_matrix_says_like_the_ffmpeg_command_line_shows_them() {
    // An upright 64 × 48 picture that looks different every way round, stored losslessly in
    // 4:4:4 (so turning it loses nothing), then stored turned, with a display matrix that turns
    // it back: how a phone stores a portrait video. FFmpeg 5.1's MP4 muxer writes a `rotate=D`
    // tag (only when copying the stream) as a turn of D degrees counter-clockwise on display.
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let upright = path("upright.mp4");
    ffmpeg(&[&["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-frames:v", "3"], &LOSSLESS_444[..], &[&upright]].concat());
    let (upright_rgb, upright_luma) = displayed_frames(Path::new(&upright), 64, 48);
    assert_eq!(upright_rgb.len(), 3);
    let upright_shown = shown_by_ffmpeg(Path::new(&upright));
    let frame_bytes = 64 * 48 * 3;
    assert_eq!(upright_shown.len(), 3 * frame_bytes);

    for (stored_turn, tag, degrees) in [("transpose=clock", "90", 270), ("hflip,vflip", "180", 180), ("transpose=cclock", "270", 90)] {
        let (turned, stored) = (path(&format!("turned-{degrees}.mp4")), path(&format!("stored-{degrees}.mp4")));
        ffmpeg(&[&["-i", &upright, "-vf", stored_turn], &LOSSLESS_444[..], &[&turned]].concat());
        ffmpeg(&["-i", &turned, "-c", "copy", "-metadata:s:v:0", &format!("rotate={tag}"), &stored]);
        let stored = Path::new(&stored);

        // The command line shows the upright picture again.
        let shown = shown_by_ffmpeg(stored);
        assert_eq!(shown.len(), upright_shown.len());
        let off = shown.iter().zip(&upright_shown).map(|(&a, &b)| a.abs_diff(b)).max();
        assert!(off <= Some(2), "{stored_turn}: ffmpeg shows a picture up to {off:?} off the upright one");

        let source = VideoSource::open(stored, 1).unwrap();
        let info = source.info();
        assert_eq!((info.width, info.height, info.rotation.degrees()), (64, 48, degrees), "{stored_turn}");
        let (rgb, luma) = displayed_frames(stored, 64, 48);
        assert_eq!(luma, upright_luma, "{stored_turn}: the luma is the upright one's");
        for (i, (frame, upright_frame)) in rgb.iter().zip(&upright_rgb).enumerate() {
            let shown_frame = &shown[i * frame_bytes..(i + 1) * frame_bytes];
            let off_shown = frame.iter().zip(shown_frame).map(|(a, &b)| (a - f32::from(b)).abs()).fold(0.0, f32::max);
            assert!(off_shown <= 2.0, "{stored_turn}, frame {i}: up to {off_shown} off what ffmpeg shows");
            assert_eq!(frame, upright_frame, "{stored_turn}, frame {i}: the upright picture's pixels");
        }
        // Resampled into a letterboxed model input: the turned picture is resampled along the
        // other axes, so it may differ from the upright one by a rounding.
        for (i, (tensor, upright_tensor)) in letterboxed_frames(stored).iter().zip(letterboxed_frames(Path::new(&upright))).enumerate() {
            let off = tensor.iter().zip(&upright_tensor).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(off <= 0.005, "{stored_turn}, frame {i}: letterboxed up to {off} off the upright picture");
        }
    }
}

#[test]
fn a_stream_that_changes_resolution_part_way_is_handed_out_at_one_size() {
    // The same three pictures twice: at 64 × 48, then at 128 × 96 (new sequence parameters
    // part-way through one MPEG-TS stream, as when recordings are joined).
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let source = ["-f", "lavfi", "-i", "testsrc2=size=128x96:rate=10", "-frames:v", "3"];
    let (small, large, joined) = (path("small.ts"), path("large.ts"), path("joined.ts"));
    ffmpeg(&[&source[..], &["-vf", "scale=64:48:flags=area"], &LOSSLESS_444[..], &[&small]].concat());
    ffmpeg(&[&source[..], &LOSSLESS_444[..], &[&large]].concat());
    ffmpeg(&["-i", &format!("concat:{small}|{large}"), "-c", "copy", &joined]);

    let info = VideoSource::open(Path::new(&joined), 1).expect("open").info().clone();
    let (width, height) = (info.width, info.height);
    assert!([(64, 48), (128, 96)].contains(&(width, height)), "{info:?}");
    let layout = InputLayout {
        width: 32,
        height: 32,
        channel_order: ChannelOrder::Nchw,
        pixel_range: PixelRange::Byte,
        resize: ResizeMode::Letterbox { pad_value: 0.0 },
    };
    let (mut writer, mut luma_writer) = (TensorWriter::new(layout), LumaWriter::new());
    let (mut tensors, mut placements, mut luma_sizes) = (Vec::new(), Vec::new(), Vec::new());
    VideoSource::open(Path::new(&joined), 1)
        .expect("open")
        .decode(|frame| {
            assert_eq!((frame.width(), frame.height()), (width, height), "frame {}: the video's size", frame.index());
            let mut tensor = vec![0.0; layout.image_len()];
            placements.push(writer.write(&frame, &mut tensor).expect("convert"));
            tensors.push(tensor);
            let luma = luma_writer.write(&frame).expect("luma");
            luma_sizes.push((luma.width(), luma.height(), luma.frame_px_per_sample()));
            ControlFlow::Continue(())
        })
        .expect("decode");
    assert_eq!(tensors.len(), 6);
    // Every frame is placed into the input, and followed, as one of the video's size.
    assert!(placements.iter().all(|p| *p == placements[0] && (p.frame_width, p.frame_height) == (width, height)), "{placements:?}");
    assert!(luma_sizes.iter().all(|s| *s == luma_sizes[0]), "{luma_sizes:?}");
    // And each picture is where its twin of the other size is.
    for i in 0..3 {
        let off = tensors[i].iter().zip(&tensors[i + 3]).map(|(a, b)| (a - b).abs()).sum::<f32>() / tensors[i].len() as f32;
        assert!(off < 6.0, "frame {i} and its twin differ by {off} on average");
    }
}
