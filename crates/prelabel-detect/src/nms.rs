//! Greedy per-class non-maximum suppression.

use prelabel_core::{BoxXyxy, InputPx};

/// A scored box from the model head, before suppression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Index into the model's class names.
    pub class_index: usize,
    /// Confidence.
    pub score: f32,
    /// Corners in model-input pixels.
    pub bbox_in_input_px: BoxXyxy<InputPx>,
}

impl Candidate {
    /// Whether it can become a detection: finite corners enclosing an area (a model's NaN or
    /// degenerate box would reach the label row as a `null` or empty box).
    pub fn is_usable(&self) -> bool {
        let b = &self.bbox_in_input_px;
        [b.x1, b.y1, b.x2, b.y2].iter().all(|v| v.is_finite()) && b.x2 > b.x1 && b.y2 > b.y1
    }
}

/// Keeps the best-scoring candidates: sorted by score (ties by original order), a candidate is
/// dropped when its IoU with a kept candidate of the same class exceeds `iou_threshold`; at most
/// `max_detections` are kept.
pub fn non_max_suppression(mut candidates: Vec<Candidate>, iou_threshold: f32, max_detections: usize) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::new();
    for c in candidates {
        if kept.len() >= max_detections {
            break;
        }
        let suppressed = kept.iter().any(|k| k.class_index == c.class_index && k.bbox_in_input_px.iou(&c.bbox_in_input_px) > iou_threshold);
        if !suppressed {
            kept.push(c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(class_index: usize, score: f32, x1: f32) -> Candidate {
        Candidate { class_index, score, bbox_in_input_px: BoxXyxy::new(x1, 0.0, x1 + 10.0, 10.0) }
    }

    #[test]
    fn non_finite_and_empty_boxes_are_not_usable() {
        assert!(cand(0, 0.9, 10.0).is_usable());
        let with = |x1: f32, x2: f32| Candidate { bbox_in_input_px: BoxXyxy::new(x1, 0.0, x2, 10.0), ..cand(0, 0.9, 0.0) };
        assert!(!with(f32::NAN, 10.0).is_usable());
        assert!(!with(0.0, f32::INFINITY).is_usable());
        assert!(!with(5.0, 5.0).is_usable());
    }

    #[test]
    fn overlapping_boxes_of_one_class_keep_the_best() {
        let kept = non_max_suppression(vec![cand(0, 0.6, 1.0), cand(0, 0.9, 0.0), cand(0, 0.7, 30.0)], 0.5, 10);
        assert_eq!(kept, vec![cand(0, 0.9, 0.0), cand(0, 0.7, 30.0)]);
    }

    #[test]
    fn other_classes_are_not_suppressed() {
        let kept = non_max_suppression(vec![cand(0, 0.9, 0.0), cand(1, 0.8, 0.0)], 0.5, 10);
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn at_most_max_detections_are_kept() {
        let many = (0..10).map(|i| cand(0, i as f32, i as f32 * 20.0)).collect();
        let kept = non_max_suppression(many, 0.5, 3);
        assert_eq!(kept.iter().map(|c| c.score).collect::<Vec<_>>(), vec![9.0, 8.0, 7.0]);
    }
}
