//! Image motion of detected boxes over the frames the detector skipped, by block matching on
//! downscaled luma (what DeepStream's trackers do between inference intervals, in its simplest
//! form: translation only), and what each box looks like on its own frame.

use prelabel_core::{BoxXyxy, Detection, FramePx, LumaFrame};

use crate::appearance::Appearance;

/// How far from the expected position a box's content is searched for, in luma samples.
const SEARCH_RADIUS: i64 = 6;

/// The part of a box matched: its centre, this share of its width and height, where the object
/// is rather than the background around it.
const TEMPLATE_SHARE: f32 = 0.6;

/// The least template, in luma samples: smaller boxes are not followed.
const MIN_TEMPLATE_SAMPLES: i64 = 24;

/// A match is accepted only when its difference is at most this share of the median difference
/// over the search window: a textureless box, or one whose content left, matches everywhere
/// about equally and is not followed.
const DISTINCT_MATCH_SHARE: f32 = 0.7;

/// What the detections of one frame the detector ran on look like there, and how they moved over
/// the frames after it that it skipped, and onto the next frame it ran on, by image motion.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FollowedDetections {
    /// The frame the detections are on.
    pub frame_index: u64,
    /// Per detection, in the frame's order: the shift of its box's centre, in frame pixels, from
    /// `frame_index` to each of the frames after it in turn (`frame_index + 1`, `+ 2`, …), up to
    /// and including the next frame the detector ran on. Shorter where the content could not be
    /// followed further.
    pub centre_shifts_px: Vec<Vec<[f32; 2]>>,
    /// Per detection, in the frame's order: what its box looks like on `frame_index`, where it
    /// could be read (see [`Appearance::of`]).
    pub appearances: Vec<Option<Appearance>>,
}

/// Follows each of `detections`, on frame `frame_index`, through `lumas`: the luma of that frame
/// and of the frames right after it, in order (that frame's alone when only the appearances are
/// wanted).
pub fn follow_detections(frame_index: u64, lumas: &[&LumaFrame], detections: &[Detection]) -> FollowedDetections {
    let centre_shifts_px = detections
        .iter()
        .map(|d| {
            let mut shifts: Vec<[f32; 2]> = Vec::with_capacity(lumas.len().saturating_sub(1));
            let mut total = [0.0f32, 0.0];
            let mut step = [0.0f32, 0.0];
            for pair in lumas.windows(2) {
                let b = &d.bbox_in_frame_px;
                let moved = BoxXyxy::new(b.x1 + total[0], b.y1 + total[1], b.x2 + total[0], b.y2 + total[1]);
                let Some(shift) = box_shift(pair[0], pair[1], &moved, step) else { break };
                step = shift;
                total = [total[0] + shift[0], total[1] + shift[1]];
                shifts.push(total);
            }
            shifts
        })
        .collect();
    let appearances = detections.iter().map(|d| lumas.first().and_then(|luma| Appearance::of(luma, &d.bbox_in_frame_px))).collect();
    FollowedDetections { frame_index, centre_shifts_px, appearances }
}

/// The shift, in frame pixels, that best moves the content of `bbox_in_frame_px` in `previous`
/// onto `current` (sum of absolute differences, refined to a fraction of a sample), searched
/// within [`SEARCH_RADIUS`] samples of `expected_shift_px`; `None` when the box is too small or
/// too near the frame's edge, or the best match is not distinct.
fn box_shift(
    previous: &LumaFrame,
    current: &LumaFrame,
    bbox_in_frame_px: &BoxXyxy<FramePx>,
    expected_shift_px: [f32; 2],
) -> Option<[f32; 2]> {
    if (previous.width(), previous.height(), previous.frame_px_per_sample())
        != (current.width(), current.height(), current.frame_px_per_sample())
    {
        return None;
    }
    let scale = previous.frame_px_per_sample() as f32;
    let b = bbox_in_frame_px;
    let [cx, cy] = b.centre().map(|c| c / scale);
    let (half_w, half_h) = (b.width() / scale * TEMPLATE_SHARE / 2.0, b.height() / scale * TEMPLATE_SHARE / 2.0);
    let expected = [(expected_shift_px[0] / scale).round(), (expected_shift_px[1] / scale).round()];
    if !(cx.is_finite() && cy.is_finite() && half_w.is_finite() && half_h.is_finite() && expected.iter().all(|e| e.is_finite())) {
        return None;
    }
    let [ex, ey] = expected.map(|e| e as i64);
    // The template, clipped so that every candidate position lies inside the frame.
    let (margin_x, margin_y) = (SEARCH_RADIUS + ex.abs(), SEARCH_RADIUS + ey.abs());
    let x0 = ((cx - half_w).round() as i64).max(margin_x);
    let x1 = ((cx + half_w).round() as i64).min(previous.width() as i64 - margin_x);
    let y0 = ((cy - half_h).round() as i64).max(margin_y);
    let y1 = ((cy + half_h).round() as i64).min(previous.height() as i64 - margin_y);
    if x1 <= x0 || y1 <= y0 || (x1 - x0) * (y1 - y0) < MIN_TEMPLATE_SAMPLES {
        return None;
    }
    let side = (2 * SEARCH_RADIUS + 1) as usize;
    let mut differences = vec![0u32; side * side];
    for y in y0..y1 {
        let template = &previous.row(y as usize)[x0 as usize..x1 as usize];
        for (dy, row_differences) in (-SEARCH_RADIUS..=SEARCH_RADIUS).zip(differences.chunks_exact_mut(side)) {
            let row = current.row((y + ey + dy) as usize);
            for (dx, difference) in (-SEARCH_RADIUS..=SEARCH_RADIUS).zip(row_differences.iter_mut()) {
                let start = (x0 + ex + dx) as usize;
                let candidate = &row[start..start + template.len()];
                *difference += template.iter().zip(candidate).map(|(a, b)| u32::from(a.abs_diff(*b))).sum::<u32>();
            }
        }
    }
    let (best, &least) = differences.iter().enumerate().min_by_key(|&(_, d)| *d)?;
    let mut sorted = differences.clone();
    sorted.sort_unstable();
    // Strictly less: where everything matches equally (a flat patch), nothing is distinct.
    if least as f32 >= DISTINCT_MATCH_SHARE * sorted[sorted.len() / 2] as f32 {
        return None;
    }
    let (bx, by) = (best % side, best / side);
    let at = |x: usize, y: usize| differences[y * side + x];
    // The vertex of the parabola through the best position and its two neighbours on one axis.
    let refine = |before: Option<u32>, after: Option<u32>| match (before, after) {
        (Some(before), Some(after)) => {
            let curvature = before as f32 + after as f32 - 2.0 * least as f32;
            if curvature > 0.0 { (before as f32 - after as f32) / (2.0 * curvature) } else { 0.0 }
        }
        _ => 0.0,
    };
    let fx = refine(bx.checked_sub(1).map(|x| at(x, by)), (bx + 1 < side).then(|| at(bx + 1, by)));
    let fy = refine(by.checked_sub(1).map(|y| at(bx, y)), (by + 1 < side).then(|| at(bx, by + 1)));
    let dx = (ex + bx as i64 - SEARCH_RADIUS) as f32 + fx;
    let dy = (ey + by as i64 - SEARCH_RADIUS) as f32 + fy;
    Some([dx * scale, dy * scale])
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 200;
    const H: usize = 150;

    /// A frame of smooth noise-like texture, shifted right by `dx` and down by `dy` samples.
    fn textured(frame_index: u64, dx: i64, dy: i64) -> LumaFrame {
        let value = |x: i64, y: i64| {
            let (x, y) = ((x - dx) as f64, (y - dy) as f64);
            (128.0 + 60.0 * (x * 0.37).sin() * (y * 0.23).cos() + 40.0 * ((x + 2.0 * y) * 0.11).sin()) as u8
        };
        let samples = (0..H as i64).flat_map(|y| (0..W as i64).map(move |x| value(x, y))).collect();
        LumaFrame::new(frame_index, W, H, 2, samples).expect("W × H samples")
    }

    fn detection(x: f32, y: f32) -> Detection {
        Detection { class_index: 0, score: 0.9, bbox_in_frame_px: BoxXyxy::new(x, y, x + 60.0, y + 100.0) }
    }

    #[test]
    fn follows_content_that_moves_and_then_stops_in_frame_pixels() {
        // Moves 3 samples right and 1 up per frame (6 and 2 frame pixels), then stands still.
        let frames = [textured(10, 0, 0), textured(11, 3, -1), textured(12, 6, -2), textured(13, 6, -2)];
        let lumas: Vec<&LumaFrame> = frames.iter().collect();
        let followed = follow_detections(10, &lumas, &[detection(150.0, 100.0)]);
        assert_eq!(followed.frame_index, 10);
        let shifts = &followed.centre_shifts_px[0];
        assert_eq!(shifts.len(), 3);
        for (shift, expected) in shifts.iter().zip([[6.0, -2.0], [12.0, -4.0], [12.0, -4.0]]) {
            assert!((shift[0] - expected[0]).abs() < 0.5 && (shift[1] - expected[1]).abs() < 0.5, "{shifts:?}");
        }
    }

    #[test]
    fn does_not_follow_flat_content_small_boxes_or_mismatched_frames() {
        let flat = |i| LumaFrame::new(i, W, H, 2, vec![90; W * H]).expect("W × H samples");
        let (a, b) = (flat(0), flat(1));
        assert_eq!(follow_detections(0, &[&a, &b], &[detection(150.0, 100.0)]).centre_shifts_px, vec![Vec::<[f32; 2]>::new()]);

        let (a, b) = (textured(0, 0, 0), textured(1, 2, 0));
        let tiny = Detection { bbox_in_frame_px: BoxXyxy::new(100.0, 100.0, 104.0, 104.0), ..detection(0.0, 0.0) };
        let off_frame = detection(-500.0, -500.0);
        let nan = Detection { bbox_in_frame_px: BoxXyxy::new(f32::NAN, 0.0, 10.0, 10.0), ..detection(0.0, 0.0) };
        let followed = follow_detections(0, &[&a, &b], &[tiny, off_frame, nan]);
        assert!(followed.centre_shifts_px.iter().all(Vec::is_empty), "{followed:?}");

        let other_size = LumaFrame::new(1, W / 2, H, 2, vec![0; W / 2 * H]).expect("sized");
        assert!(follow_detections(0, &[&a, &other_size], &[detection(150.0, 100.0)]).centre_shifts_px[0].is_empty());
    }

    #[test]
    fn a_detection_on_the_last_frame_has_nothing_to_follow() {
        let a = textured(7, 0, 0);
        assert_eq!(follow_detections(7, &[&a], &[detection(150.0, 100.0)]).centre_shifts_px, vec![Vec::<[f32; 2]>::new()]);
    }
}
