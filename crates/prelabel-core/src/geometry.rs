//! Boxes in named coordinate spaces and the transforms between them.

use std::marker::PhantomData;

/// Marker: pixels of the model's input tensor (after resize or letterbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputPx {}

/// Marker: pixels of the original video frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FramePx {}

/// An axis-aligned box by its corners (`x1, y1` top-left, `x2, y2` bottom-right) in the
/// coordinate space `S` ([`InputPx`] or [`FramePx`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxXyxy<S> {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
    space: PhantomData<S>,
}

impl<S> BoxXyxy<S> {
    /// A box from its corners.
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2, space: PhantomData }
    }

    /// A box from its centre, width and height (the Ultralytics head's format).
    pub fn from_centre(cx: f32, cy: f32, w: f32, h: f32) -> Self {
        Self::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
    }

    /// The centre, `[x, y]`.
    pub fn centre(&self) -> [f32; 2] {
        [(self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0]
    }

    /// Width, never negative.
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    /// Height, never negative.
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    /// Area, zero for an inverted box.
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// Intersection over union with another box in the same space; 0 when both are empty.
    pub fn iou(&self, other: &Self) -> f32 {
        let iw = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let ih = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let inter = iw * ih;
        let union = self.area() + other.area() - inter;
        if union > 0.0 { inter / union } else { 0.0 }
    }
}

/// Encord's bounding box: top-left `x, y`, width `w` and height `h`, each normalised to 0..1 by
/// the frame's width or height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NormXywh {
    /// Left edge / frame width.
    pub x: f64,
    /// Top edge / frame height.
    pub y: f64,
    /// Box width / frame width.
    pub w: f64,
    /// Box height / frame height.
    pub h: f64,
}

impl NormXywh {
    /// Normalises a frame-pixel box by the frame size, clipped to the frame.
    pub fn norm_from_frame(b: &BoxXyxy<FramePx>, frame_width: u32, frame_height: u32) -> Self {
        let (fw, fh) = (f64::from(frame_width), f64::from(frame_height));
        let x1 = (f64::from(b.x1) / fw).clamp(0.0, 1.0);
        let y1 = (f64::from(b.y1) / fh).clamp(0.0, 1.0);
        let x2 = (f64::from(b.x2) / fw).clamp(0.0, 1.0);
        let y2 = (f64::from(b.y2) / fh).clamp(0.0, 1.0);
        Self { x: x1, y: y1, w: (x2 - x1).max(0.0), h: (y2 - y1).max(0.0) }
    }
}

/// How a frame of `frame_width × frame_height` was placed into the model input: input pixel
/// `(x, y)` shows frame pixel `((x - pad_x) / scale_x, (y - pad_y) / scale_y)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputTransform {
    /// Frame width in pixels.
    pub frame_width: u32,
    /// Frame height in pixels.
    pub frame_height: u32,
    /// Width of the frame's image inside the input, in input pixels.
    pub scaled_width: u32,
    /// Height of the frame's image inside the input, in input pixels.
    pub scaled_height: u32,
    /// Left padding in input pixels (letterbox), 0 for a plain resize.
    pub pad_x: u32,
    /// Top padding in input pixels (letterbox), 0 for a plain resize.
    pub pad_y: u32,
}

impl InputTransform {
    /// Plain resize: the frame fills the whole input, aspect ratio not kept.
    pub fn stretch(frame_width: u32, frame_height: u32, input_width: u32, input_height: u32) -> Self {
        Self { frame_width, frame_height, scaled_width: input_width, scaled_height: input_height, pad_x: 0, pad_y: 0 }
    }

    /// Letterbox: scaled to fit with the aspect ratio kept, centred, the rest padded
    /// (Ultralytics' `LetterBox(auto=False, center=True)`).
    pub fn letterbox(frame_width: u32, frame_height: u32, input_width: u32, input_height: u32) -> Self {
        let scale = (f64::from(input_width) / f64::from(frame_width)).min(f64::from(input_height) / f64::from(frame_height));
        let scaled_width = ((f64::from(frame_width) * scale).round() as u32).clamp(1, input_width);
        let scaled_height = ((f64::from(frame_height) * scale).round() as u32).clamp(1, input_height);
        Self {
            frame_width,
            frame_height,
            scaled_width,
            scaled_height,
            pad_x: (input_width - scaled_width) / 2,
            pad_y: (input_height - scaled_height) / 2,
        }
    }

    /// Maps a box from model-input pixels to frame pixels, clipped to the frame.
    pub fn frame_from_input(&self, b: &BoxXyxy<InputPx>) -> BoxXyxy<FramePx> {
        let sx = self.scaled_width as f32 / self.frame_width as f32;
        let sy = self.scaled_height as f32 / self.frame_height as f32;
        let (px, py) = (self.pad_x as f32, self.pad_y as f32);
        let (fw, fh) = (self.frame_width as f32, self.frame_height as f32);
        BoxXyxy::new(
            ((b.x1 - px) / sx).clamp(0.0, fw),
            ((b.y1 - py) / sy).clamp(0.0, fh),
            ((b.x2 - px) / sx).clamp(0.0, fw),
            ((b.y2 - py) / sy).clamp(0.0, fh),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(b: BoxXyxy<FramePx>, want: [f32; 4]) {
        let got = [b.x1, b.y1, b.x2, b.y2];
        assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-3), "{got:?} != {want:?}");
    }

    #[test]
    fn letterbox_of_a_wide_frame_pads_top_and_bottom() {
        let t = InputTransform::letterbox(768, 576, 640, 640);
        assert_eq!((t.scaled_width, t.scaled_height, t.pad_x, t.pad_y), (640, 480, 0, 80));
        // The centre of the input is the centre of the frame.
        let b = t.frame_from_input(&BoxXyxy::<InputPx>::from_centre(320.0, 320.0, 64.0, 48.0));
        assert_close(b, [345.6, 259.2, 422.4, 316.8]);
    }

    #[test]
    fn frame_from_input_clips_padding_to_the_frame() {
        let t = InputTransform::letterbox(768, 576, 640, 640);
        let b = t.frame_from_input(&BoxXyxy::<InputPx>::new(-10.0, 0.0, 700.0, 640.0));
        assert_close(b, [0.0, 0.0, 768.0, 576.0]);
    }

    #[test]
    fn stretch_scales_each_axis_on_its_own() {
        let t = InputTransform::stretch(768, 576, 300, 300);
        let b = t.frame_from_input(&BoxXyxy::<InputPx>::new(150.0, 75.0, 300.0, 150.0));
        assert_close(b, [384.0, 144.0, 768.0, 288.0]);
    }

    #[test]
    fn norm_from_frame_is_top_left_width_height() {
        let n = NormXywh::norm_from_frame(&BoxXyxy::<FramePx>::new(192.0, 144.0, 576.0, 288.0), 768, 576);
        assert_eq!((n.x, n.y, n.w, n.h), (0.25, 0.25, 0.5, 0.25));
    }

    #[test]
    fn iou_of_half_overlapping_boxes() {
        let a = BoxXyxy::<FramePx>::new(0.0, 0.0, 2.0, 1.0);
        let b = BoxXyxy::<FramePx>::new(1.0, 0.0, 3.0, 1.0);
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(a.iou(&BoxXyxy::new(5.0, 5.0, 6.0, 6.0)), 0.0);
    }
}
