//! One swscale pass from a decoded frame into the model's input layout.

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg_next as ffmpeg;
use prelabel_core::{ChannelOrder, InputLayout, InputTransform, ResizeMode};

use crate::scale::{Source, Swscale, source_of};
use crate::source::Shown;
use crate::{DecodeError, Frame, Rotation};

/// Writes frames into a model's input tensor: resize (plain or letterbox) and pixel-format
/// conversion in one swscale pass, then a row copy into the tensor's layout.
///
/// For planar (NCHW) models swscale writes planar float RGB (`GBRPF32LE`) directly, so no
/// per-pixel loop runs in Rust; for packed (NHWC) models it writes RGB24, which is widened to
/// float row by row. A frame shown turned ([`Rotation`]) is scaled as decoded and turned in that
/// copy. Every frame is placed as the video's displayed size is, even one decoded at another
/// size (see [`Frame::width`]), so boxes in frame pixels mean the same on every frame. The
/// scaler is rebuilt only when the decoded size or format, or how the frame is shown, changes.
pub struct TensorWriter {
    layout: InputLayout,
    scaler: Option<Scaler>,
}

struct Scaler {
    swscale: Swscale,
    shown: Shown,
    /// How the displayed frame is placed into the input.
    transform: InputTransform,
}

impl TensorWriter {
    /// A writer for the given model input layout.
    pub fn new(layout: InputLayout) -> Self {
        Self { layout, scaler: None }
    }

    /// The layout this writer produces.
    pub fn layout(&self) -> &InputLayout {
        &self.layout
    }

    /// Converts `frame` into `dst` (exactly `layout.image_len()` values) and returns how the
    /// frame was placed into the input.
    pub fn write(&mut self, frame: &Frame<'_>, dst: &mut [f32]) -> Result<InputTransform, DecodeError> {
        assert_eq!(dst.len(), self.layout.image_len(), "tensor slot does not match the input layout");
        let video = frame.video();
        let (source, shown) = (source_of(video), frame.shown());
        let rotation = shown.rotation;
        let layout = self.layout;
        let scaler = match &mut self.scaler {
            Some(s) if s.swscale.source() == source && s.shown == shown => s,
            slot => slot.insert(Scaler::new(&layout, source, shown).map_err(|e| convert_error(frame, source, e))?),
        };
        let t = scaler.transform;
        let scaled = scaler.swscale.run(video).map_err(|e| convert_error(frame, source, e))?;

        if let ResizeMode::Letterbox { pad_value } = layout.resize
            && (t.scaled_width != layout.width || t.scaled_height != layout.height)
        {
            dst.fill(pad_value);
        }
        let (w, h) = (layout.width as usize, layout.height as usize);
        let (sw, sh) = (t.scaled_width as usize, t.scaled_height as usize);
        let (px, py) = (t.pad_x as usize, t.pad_y as usize);
        // The scaled picture, not turned yet.
        let (scaled_w, scaled_h) = (scaled.width() as usize, scaled.height() as usize);
        match (layout.channel_order, rotation) {
            (ChannelOrder::Nchw, Rotation::Upright) => {
                // GBRPF32LE planes are G, B, R; the tensor wants R, G, B.
                let gain = layout.pixel_range.max_value();
                for (channel, plane) in [(0usize, 2usize), (1, 0), (2, 1)] {
                    let stride = scaled.stride(plane);
                    let data = scaled.data(plane);
                    for y in 0..sh {
                        let out_start = channel * w * h + (py + y) * w + px;
                        copy_f32_row(&data[y * stride..y * stride + sw * 4], &mut dst[out_start..out_start + sw], gain);
                    }
                }
            }
            (ChannelOrder::Nhwc, Rotation::Upright) => {
                let gain = layout.pixel_range.max_value() / 255.0;
                let stride = scaled.stride(0);
                let data = scaled.data(0);
                for y in 0..sh {
                    let row = &data[y * stride..y * stride + sw * 3];
                    let out_start = ((py + y) * w + px) * 3;
                    let out = &mut dst[out_start..out_start + sw * 3];
                    for (o, &v) in out.iter_mut().zip(row) {
                        *o = f32::from(v) * gain;
                    }
                }
            }
            // Turned: each displayed pixel is read from where it lies in the scaled picture.
            (ChannelOrder::Nchw, _) => {
                let gain = layout.pixel_range.max_value();
                for (channel, plane) in [(0usize, 2usize), (1, 0), (2, 1)] {
                    let (stride, data) = (scaled.stride(plane), scaled.data(plane));
                    for y in 0..sh {
                        let out_start = channel * w * h + (py + y) * w + px;
                        let out = &mut dst[out_start..out_start + sw];
                        for (o, (x, row)) in out.iter_mut().zip(rotation.decoded_pixels_of_row(y, scaled_w, scaled_h)) {
                            let at = row * stride + x * 4;
                            *o = f32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) * gain;
                        }
                    }
                }
            }
            (ChannelOrder::Nhwc, _) => {
                let gain = layout.pixel_range.max_value() / 255.0;
                let (stride, data) = (scaled.stride(0), scaled.data(0));
                for y in 0..sh {
                    let out_start = ((py + y) * w + px) * 3;
                    let out = &mut dst[out_start..out_start + sw * 3];
                    for (o, (x, row)) in out.chunks_exact_mut(3).zip(rotation.decoded_pixels_of_row(y, scaled_w, scaled_h)) {
                        let at = row * stride + x * 3;
                        for (o, &v) in o.iter_mut().zip(&data[at..at + 3]) {
                            *o = f32::from(v) * gain;
                        }
                    }
                }
            }
        }
        Ok(t)
    }
}

/// Copies one row of little-endian f32 samples into `out`, scaled by `gain`: a plain memory copy
/// when no scaling is needed (FFmpeg's plane rows are aligned, so they can be read as f32).
fn copy_f32_row(row: &[u8], out: &mut [f32], gain: f32) {
    // SAFETY: every bit pattern is a valid f32; `align_to` only reinterprets the aligned middle.
    let (head, floats, _) = unsafe { row.align_to::<f32>() };
    if cfg!(target_endian = "little") && head.is_empty() && floats.len() == out.len() {
        out.copy_from_slice(floats);
        if gain != 1.0 {
            out.iter_mut().for_each(|v| *v *= gain);
        }
    } else {
        for (o, bytes) in out.iter_mut().zip(row.chunks_exact(4)) {
            *o = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) * gain;
        }
    }
}

fn convert_error(frame: &Frame<'_>, source: Source, cause: ffmpeg::Error) -> DecodeError {
    DecodeError::Convert { path: frame.path().to_owned(), width: source.width, height: source.height, format: source.format, cause }
}

impl Scaler {
    fn new(layout: &InputLayout, source: Source, shown: Shown) -> Result<Self, ffmpeg::Error> {
        let (rotation, transform) = (shown.rotation, layout.transform_for(shown.width, shown.height));
        let target = match layout.channel_order {
            ChannelOrder::Nchw => Pixel::GBRPF32LE,
            ChannelOrder::Nhwc => Pixel::RGB24,
        };
        // The picture is scaled as decoded: turning back the displayed size gives its size.
        let (scaled_width, scaled_height) = rotation.displayed_size(transform.scaled_width, transform.scaled_height);
        let swscale = Swscale::new(source, target, scaled_width, scaled_height, scaling::Flags::BILINEAR)?;
        Ok(Self { swscale, shown, transform })
    }
}
