//! What a detected box looks like: a coarse luma layout of its content, so that of two objects
//! that overlap a track's predicted box about equally, the one that looks like the track wins
//! (the appearance cue of DeepSORT and BoT-SORT, in the cheapest form that tells a dark coat over
//! light trousers from a dark coat over dark ones, without a re-identification network).

use prelabel_core::{BoxXyxy, FramePx, LumaFrame};

/// Horizontal bands the box is cut into, top to bottom (head, torso, legs of a person).
const BANDS: usize = 8;

/// Columns each band is cut into.
const COLUMNS: usize = 2;

/// The share of the box's width left out on each side, and of its height at the top and bottom:
/// a detected box holds background around the object, most of it at the sides.
const SIDE_MARGIN_SHARE: f32 = 0.2;
const END_MARGIN_SHARE: f32 = 0.05;

/// The mean luma (0-255) of each cell of a box's central part (without a fifth of its width at
/// each side and a twentieth of its height at the top and bottom), cut into 8 bands of 2 cells,
/// top to bottom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Appearance {
    mean_luma_per_cell: [f32; BANDS * COLUMNS],
}

impl Appearance {
    /// What `bbox_in_frame_px` holds on `luma`; `None` when the part of it inside the frame is
    /// too small to give every cell a sample, or the box is not finite.
    pub fn of(luma: &LumaFrame, bbox_in_frame_px: &BoxXyxy<FramePx>) -> Option<Self> {
        let scale = luma.frame_px_per_sample() as f32;
        let b = bbox_in_frame_px;
        if ![b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite()) {
            return None;
        }
        let (width, height) = (b.width() / scale, b.height() / scale);
        let x0 = (b.x1 / scale + width * SIDE_MARGIN_SHARE).max(0.0);
        let x1 = (b.x2 / scale - width * SIDE_MARGIN_SHARE).min(luma.width() as f32);
        let y0 = (b.y1 / scale + height * END_MARGIN_SHARE).max(0.0);
        let y1 = (b.y2 / scale - height * END_MARGIN_SHARE).min(luma.height() as f32);
        if x1 - x0 < COLUMNS as f32 || y1 - y0 < BANDS as f32 {
            return None;
        }
        let mut sums = [0.0f32; BANDS * COLUMNS];
        let mut counts = [0u32; BANDS * COLUMNS];
        // The samples whose centres (x + 0.5) lie in the part read, each in the cell of its centre.
        let centred = |from: f32, to: f32| (from - 0.5).ceil() as usize..(to - 0.5).ceil() as usize;
        let columns = centred(x0, x1);
        for y in centred(y0, y1) {
            let band = (((y as f32 + 0.5 - y0) / (y1 - y0) * BANDS as f32) as usize).min(BANDS - 1);
            for (x, &sample) in columns.clone().zip(&luma.row(y)[columns.clone()]) {
                let column = (((x as f32 + 0.5 - x0) / (x1 - x0) * COLUMNS as f32) as usize).min(COLUMNS - 1);
                sums[band * COLUMNS + column] += f32::from(sample);
                counts[band * COLUMNS + column] += 1;
            }
        }
        if counts.contains(&0) {
            return None;
        }
        Some(Self { mean_luma_per_cell: std::array::from_fn(|i| sums[i] / counts[i] as f32) })
    }

    /// How unlike `other` this is: the mean absolute difference of the cells' luma, 0-255.
    pub fn distance(&self, other: &Self) -> f32 {
        let cells = self.mean_luma_per_cell.iter().zip(&other.mean_luma_per_cell);
        cells.map(|(a, b)| (a - b).abs()).sum::<f32>() / (BANDS * COLUMNS) as f32
    }

    /// This moved towards `seen` by the share `1 - keep` (an exponential moving average, so one
    /// frame where the object is partly hidden changes it little).
    pub(crate) fn blended(&self, seen: &Self, keep: f32) -> Self {
        let cells = std::array::from_fn(|i| keep * self.mean_luma_per_cell[i] + (1.0 - keep) * seen.mean_luma_per_cell[i]);
        Self { mean_luma_per_cell: cells }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 100×80-sample frame (2 frame pixels per sample) of luma 128 with a box of `top` luma over
    /// `bottom` luma at frame pixels (40, 40)-(80, 120).
    fn figure(top: u8, bottom: u8) -> LumaFrame {
        let (w, h) = (100, 80);
        let samples = (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).map(|(x, y)| match (x, y) {
            (20..40, 20..40) => top,
            (20..40, 40..60) => bottom,
            _ => 128,
        });
        LumaFrame::new(0, w, h, 2, samples.collect()).expect("w × h samples")
    }

    fn figure_box() -> BoxXyxy<FramePx> {
        BoxXyxy::new(40.0, 40.0, 80.0, 120.0)
    }

    #[test]
    fn reads_the_layout_of_the_box_in_frame_pixels() {
        let look = Appearance::of(&figure(30, 200), &figure_box()).expect("inside the frame");
        let cells = look.mean_luma_per_cell;
        assert_eq!(cells[..BANDS], [30.0; BANDS], "the top half, both columns");
        assert_eq!(cells[BANDS..], [200.0; BANDS], "the bottom half");
        assert_eq!(look.distance(&look), 0.0);
        // A box with more background at its sides reads the figure alone: the sides are left out.
        let wider = Appearance::of(&figure(30, 200), &BoxXyxy::new(30.0, 40.0, 90.0, 120.0)).expect("inside the frame");
        assert_eq!(wider, look);
        // The same box on a figure with dark trousers: half the cells differ by 170.
        let other = Appearance::of(&figure(30, 30), &figure_box()).expect("inside the frame");
        assert_eq!(look.distance(&other), 85.0);
        assert_eq!(look.blended(&other, 0.9).mean_luma_per_cell[BANDS], 0.9 * 200.0 + 0.1 * 30.0);
    }

    #[test]
    fn boxes_too_small_outside_the_frame_or_not_finite_have_none() {
        let luma = figure(30, 200);
        for bbox in [
            BoxXyxy::new(40.0, 40.0, 44.0, 120.0),
            BoxXyxy::new(40.0, 40.0, 80.0, 52.0),
            BoxXyxy::new(-300.0, -300.0, -200.0, -100.0),
            BoxXyxy::new(190.0, 150.0, 260.0, 300.0),
            BoxXyxy::new(f32::NAN, 40.0, 80.0, 120.0),
        ] {
            assert_eq!(Appearance::of(&luma, &bbox), None, "{bbox:?}");
        }
        // Partly outside: only the part inside is read.
        let clipped = Appearance::of(&luma, &BoxXyxy::new(160.0, 0.0, 260.0, 100.0)).expect("part inside");
        assert_eq!(clipped.mean_luma_per_cell, [128.0; BANDS * COLUMNS]);
    }
}
