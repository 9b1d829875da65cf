//! Constant-velocity Kalman filter of a box: centre x, centre y, width and height, each with its
//! velocity in pixels per frame.
//!
//! This is the 8-state filter of SORT/ByteTrack in the `(x, y, w, h)` parameterisation of
//! BoT-SORT, with its noise model: every standard deviation is a fixed fraction of the box's
//! width (for x and w) or height (for y and h). Because the motion model moves each coordinate by
//! its own velocity only, the box is observed coordinate by coordinate, and all noise matrices
//! are diagonal, the 8×8 covariance stays block-diagonal: the filter is exactly four
//! independent filters of (coordinate, velocity) with a scalar measurement, which is how it is
//! computed here.

use prelabel_core::{BoxXyxy, FramePx};

/// Standard deviation of the position process and measurement noise, per pixel of box size
/// (ByteTrack's `_std_weight_position`).
const POSITION_STD_PER_SIZE: f64 = 1.0 / 20.0;

/// Standard deviation of the velocity process noise, per pixel of box size
/// (ByteTrack's `_std_weight_velocity`).
const VELOCITY_STD_PER_SIZE: f64 = 1.0 / 160.0;

/// The position uncertainty of a new track, in multiples of [`POSITION_STD_PER_SIZE`].
const INITIAL_POSITION_STD_FACTOR: f64 = 2.0;

/// The velocity uncertainty of a new track, in multiples of [`VELOCITY_STD_PER_SIZE`].
const INITIAL_VELOCITY_STD_FACTOR: f64 = 10.0;

/// Smallest box side used to scale the noise, so a degenerate box still has some uncertainty.
const MIN_NOISE_SIZE_PX: f64 = 1.0;

/// One coordinate and its velocity, with their 2×2 covariance.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AxisFilter {
    value: f64,
    velocity: f64,
    value_variance: f64,
    value_velocity_covariance: f64,
    velocity_variance: f64,
}

impl AxisFilter {
    /// Starts at a measured value with zero velocity.
    fn new(value: f64, size: f64) -> Self {
        let value_std = INITIAL_POSITION_STD_FACTOR * POSITION_STD_PER_SIZE * size;
        let velocity_std = INITIAL_VELOCITY_STD_FACTOR * VELOCITY_STD_PER_SIZE * size;
        Self {
            value,
            velocity: 0.0,
            value_variance: value_std * value_std,
            value_velocity_covariance: 0.0,
            velocity_variance: velocity_std * velocity_std,
        }
    }

    /// Advances one frame: `x += v`, `P = F P Fᵀ + Q`.
    fn predict_one_frame(&mut self, size: f64) {
        let value_noise = (POSITION_STD_PER_SIZE * size).powi(2);
        let velocity_noise = (VELOCITY_STD_PER_SIZE * size).powi(2);
        self.value += self.velocity;
        self.value_variance += 2.0 * self.value_velocity_covariance + self.velocity_variance + value_noise;
        self.value_velocity_covariance += self.velocity_variance;
        self.velocity_variance += velocity_noise;
    }

    /// Folds in a measurement of the value.
    fn correct(&mut self, measured: f64, size: f64) {
        let innovation_variance = self.value_variance + (POSITION_STD_PER_SIZE * size).powi(2);
        let value_gain = self.value_variance / innovation_variance;
        let velocity_gain = self.value_velocity_covariance / innovation_variance;
        let innovation = measured - self.value;
        self.value += value_gain * innovation;
        self.velocity += velocity_gain * innovation;
        // P − K S Kᵀ, with K = P Hᵀ / S.
        self.velocity_variance -= velocity_gain * self.value_velocity_covariance;
        self.value_velocity_covariance -= value_gain * self.value_velocity_covariance;
        self.value_variance -= value_gain * self.value_variance;
    }
}

/// The filtered box of one track, valid at `frame_index`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BoxFilter {
    /// Centre x, centre y, width, height.
    axes: [AxisFilter; 4],
    frame_index: u64,
}

impl BoxFilter {
    /// A filter at a first detection, standing still.
    pub(crate) fn new(bbox_in_frame_px: &BoxXyxy<FramePx>, frame_index: u64) -> Self {
        let [cx, cy, w, h] = centre_size(bbox_in_frame_px);
        let (w_scale, h_scale) = (noise_scale(w), noise_scale(h));
        Self {
            axes: [AxisFilter::new(cx, w_scale), AxisFilter::new(cy, h_scale), AxisFilter::new(w, w_scale), AxisFilter::new(h, h_scale)],
            frame_index,
        }
    }

    /// Predicts the state at a later frame, one frame at a time, so a detector that skipped frames
    /// gives the same prediction as one that saw them empty. An earlier frame leaves it as is.
    pub(crate) fn predict_to(&mut self, frame_index: u64) {
        while self.frame_index < frame_index {
            let (w_scale, h_scale) = self.noise_scales();
            for (axis, scale) in self.axes.iter_mut().zip([w_scale, h_scale, w_scale, h_scale]) {
                axis.predict_one_frame(scale);
            }
            self.frame_index += 1;
        }
    }

    /// Folds in a detection at the filter's current frame.
    pub(crate) fn correct(&mut self, bbox_in_frame_px: &BoxXyxy<FramePx>) {
        let (w_scale, h_scale) = self.noise_scales();
        let measured = centre_size(bbox_in_frame_px);
        for ((axis, value), scale) in self.axes.iter_mut().zip(measured).zip([w_scale, h_scale, w_scale, h_scale]) {
            axis.correct(value, scale);
        }
    }

    /// Folds in a measurement of the box's centre alone (image motion, which does not see the
    /// size), at the filter's current frame.
    pub(crate) fn correct_centre(&mut self, centre: [f64; 2]) {
        let (w_scale, h_scale) = self.noise_scales();
        self.axes[0].correct(centre[0], w_scale);
        self.axes[1].correct(centre[1], h_scale);
    }

    /// The centre's velocity, in pixels per frame.
    pub(crate) fn centre_velocity(&self) -> [f64; 2] {
        [self.axes[0].velocity, self.axes[1].velocity]
    }

    /// The filtered box at the filter's current frame; width and height are never negative.
    pub(crate) fn bbox_in_frame_px(&self) -> BoxXyxy<FramePx> {
        let [cx, cy, w, h] = self.axes.map(|a| a.value);
        let (half_w, half_h) = (w.max(0.0) / 2.0, h.max(0.0) / 2.0);
        BoxXyxy::new((cx - half_w) as f32, (cy - half_h) as f32, (cx + half_w) as f32, (cy + half_h) as f32)
    }

    /// The sizes that scale the noise of the x/w and y/h coordinates.
    fn noise_scales(&self) -> (f64, f64) {
        (noise_scale(self.axes[2].value), noise_scale(self.axes[3].value))
    }
}

/// A box side as a noise scale: at least [`MIN_NOISE_SIZE_PX`].
fn noise_scale(size: f64) -> f64 {
    size.max(MIN_NOISE_SIZE_PX)
}

/// Centre x, centre y, width, height of a corner box.
fn centre_size(b: &BoxXyxy<FramePx>) -> [f64; 4] {
    let (x1, y1, x2, y2) = (f64::from(b.x1), f64::from(b.y1), f64::from(b.x2), f64::from(b.y2));
    [(x1 + x2) / 2.0, (y1 + y2) / 2.0, x2 - x1, y2 - y1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moving_box(frame: u64, speed_px: f32) -> BoxXyxy<FramePx> {
        let x = frame as f32 * speed_px;
        BoxXyxy::new(x, 100.0, x + 40.0, 180.0)
    }

    #[test]
    fn learns_a_constant_velocity_and_extrapolates_across_a_gap() {
        let mut filter = BoxFilter::new(&moving_box(0, 4.0), 0);
        for frame in 1..=20 {
            filter.predict_to(frame);
            filter.correct(&moving_box(frame, 4.0));
        }
        // Ten frames with no detection: the box keeps moving at 4 px/frame.
        filter.predict_to(30);
        let (got, want) = (filter.bbox_in_frame_px(), moving_box(30, 4.0));
        assert!((got.x1 - want.x1).abs() < 1.0 && (got.x2 - want.x2).abs() < 1.0, "{got:?} vs {want:?}");
        assert!((got.y1 - want.y1).abs() < 0.1 && (got.y2 - want.y2).abs() < 0.1, "{got:?} vs {want:?}");
    }

    #[test]
    fn a_new_filter_stands_still_at_its_detection() {
        let first = moving_box(0, 4.0);
        let mut filter = BoxFilter::new(&first, 7);
        filter.predict_to(12);
        assert_eq!(filter.bbox_in_frame_px(), first);
    }

    #[test]
    fn corrections_move_the_box_towards_the_measurement_only_partly() {
        let mut filter = BoxFilter::new(&moving_box(0, 0.0), 0);
        filter.predict_to(1);
        filter.correct(&moving_box(1, 10.0));
        let x1 = filter.bbox_in_frame_px().x1;
        assert!(x1 > 0.0 && x1 < 10.0, "{x1}");
    }
}
