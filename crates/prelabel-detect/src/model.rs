//! A loaded detector: session, recognised layout, class names, and batch inference.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::{TensorElementType, TensorRef, ValueType};
use prelabel_core::{BoxXyxy, ChannelOrder, Detection, InputLayout, InputTransform, PixelRange, ResizeMode};

use crate::metadata::{parse_bool, parse_imgsz, parse_names};
use crate::nms::{Candidate, non_max_suppression};
use crate::{DetectError, Device, Runtime};

/// Input size used when the model's spatial axes are dynamic and it names no `imgsz`.
const DEFAULT_IMGSZ: u32 = 640;
/// Ultralytics' letterbox fill, 114 of 255.
const YOLO_PAD_VALUE: f32 = 114.0 / 255.0;

/// How a [`Detector`] runs and filters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorOptions {
    /// Execution provider.
    pub device: Device,
    /// ONNX Runtime intra-op threads (0 lets ONNX Runtime choose: one per physical core).
    pub intra_threads: usize,
    /// Minimum class score kept.
    pub score_threshold: f32,
    /// Per-class NMS IoU threshold.
    pub iou_threshold: f32,
    /// Most detections kept per frame.
    pub max_detections: usize,
    /// Frames per inference call when the model's batch axis is dynamic.
    pub batch_size: usize,
}

/// The model's output layout, recognised from its outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputLayout {
    /// `boxes` `[B,N,4]` (`ymin,xmin,ymax,xmax` normalised) + `scores` `[B,N,C]`.
    SsdBoxesScores {
        /// Name of the boxes output.
        boxes: String,
        /// Name of the scores output.
        scores: String,
    },
    /// Ultralytics raw head `[B,4+C,N]`: `cx,cy,w,h` in input pixels, then class scores.
    YoloRawHead {
        /// Name of the output.
        output: String,
    },
    /// `[B,N,6]`: `x1,y1,x2,y2` in input pixels, score, class id; suppression done in the graph.
    YoloEndToEnd {
        /// Name of the output.
        output: String,
    },
}

/// The model's batch axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchAxis {
    /// Any batch size.
    Dynamic,
    /// Exactly this many images per call; short batches are padded.
    Fixed(usize),
}

/// A loaded detector ready to run batches of frames.
pub struct Detector {
    session: Session,
    path: PathBuf,
    input_name: String,
    input_layout: InputLayout,
    output_layout: OutputLayout,
    batch_axis: BatchAxis,
    class_names: Vec<String>,
    options: DetectorOptions,
}

/// `name: Tensor<f32>(dims)` for each outlet, for error messages.
fn describe(outlets: &[ort::value::Outlet]) -> String {
    outlets.iter().map(|o| format!("{}: {}", o.name(), o.dtype())).collect::<Vec<_>>().join(", ")
}

fn float_shape(dtype: &ValueType) -> Option<&[i64]> {
    match dtype {
        ValueType::Tensor { ty: TensorElementType::Float32, shape, .. } => Some(shape),
        _ => None,
    }
}

impl Detector {
    /// Loads `model_path`, recognises its layout and reads its class names: from the `names`
    /// metadata, else from a `<model stem>.labels.txt` file beside it (one name per line,
    /// line k = class k), else `class_<k>`.
    pub fn load(runtime: &Runtime, model_path: &Path, options: DetectorOptions) -> Result<Self, DetectError> {
        let path = model_path.to_path_buf();
        if !model_path.is_file() {
            return Err(DetectError::ModelNotFound { path });
        }
        let not_onnx = |reason: String| DetectError::NotOnnx { path: path.clone(), reason };
        let builder = Session::builder(runtime.environment())
            .and_then(|b| b.with_optimization_level(GraphOptimizationLevel::Level3).map_err(Into::into))
            .and_then(|b| b.with_intra_threads(options.intra_threads).map_err(Into::into))
            .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
            .map_err(|e: ort::Error| not_onnx(e.to_string()))?;
        let mut builder = options.device.register(builder)?;
        let session = builder.commit_from_file(model_path).map_err(|e| not_onnx(e.to_string()))?;

        let metadata = session.metadata().map_err(|e| not_onnx(e.to_string()))?;
        let meta = |key: &str| metadata.custom(key);
        let names_meta = meta("names").and_then(|t| parse_names(&t));
        let imgsz = meta("imgsz").and_then(|t| parse_imgsz(&t));
        let end2end = meta("end2end").and_then(|t| parse_bool(&t));
        // Ultralytics' `nms=True` exports answer only for image 0 of a dynamic batch.
        let nms_export = meta("args").is_some_and(|args| args.contains("'nms': True"));
        drop(metadata);

        let unknown = |reason: String| DetectError::UnknownLayout {
            path: path.clone(),
            reason,
            inputs: describe(session.inputs()),
            outputs: describe(session.outputs()),
        };
        let [input] = session.inputs() else {
            return Err(unknown(format!("expected one image input, found {}", session.inputs().len())));
        };
        let input_shape = float_shape(input.dtype())
            .filter(|s| s.len() == 4)
            .ok_or_else(|| unknown("the input is not a float32 tensor of rank 4".into()))?;
        let channel_order = match input_shape {
            [_, 3, _, _] => ChannelOrder::Nchw,
            [_, _, _, 3] => ChannelOrder::Nhwc,
            _ => return Err(unknown("the input has no 3-channel axis at position 1 or 3".into())),
        };
        let batch_axis = match input_shape[0] {
            n if n > 0 => BatchAxis::Fixed(n as usize),
            _ if nms_export => BatchAxis::Fixed(1),
            _ => BatchAxis::Dynamic,
        };

        let outputs: Vec<(&str, &[i64])> = session.outputs().iter().filter_map(|o| Some((o.name(), float_shape(o.dtype())?))).collect();
        let (output_layout, class_count) = match outputs[..] {
            [(a, sa), (b, sb)] if sa.len() == 3 && sb.len() == 3 && (sa[2] == 4 || sb[2] == 4) => {
                let ((boxes, _), (scores, scores_shape)) =
                    if first_is_ssd_boxes((a, sa), (b, sb)) { ((a, sa), (b, sb)) } else { ((b, sb), (a, sa)) };
                let layout = OutputLayout::SsdBoxesScores { boxes: boxes.to_owned(), scores: scores.to_owned() };
                (layout, scores_shape[2])
            }
            [(name, shape)] if shape.len() == 3 => {
                let raw_classes = shape[1] - 4;
                let looks_end_to_end =
                    shape[2] == 6 && (end2end == Some(true) || names_meta.as_ref().is_none_or(|n| n.len() as i64 != raw_classes));
                if looks_end_to_end {
                    (OutputLayout::YoloEndToEnd { output: name.to_owned() }, names_meta.as_ref().map_or(-1, |n| n.len() as i64))
                } else if raw_classes > 0 {
                    (OutputLayout::YoloRawHead { output: name.to_owned() }, raw_classes)
                } else {
                    return Err(unknown("a single rank-3 output that is neither [B,4+C,N] nor [B,N,6]".into()));
                }
            }
            _ => {
                return Err(unknown(
                    "expected SSD boxes [B,N,4] + scores [B,N,C], a YOLO raw head [B,4+C,N] or a YOLO end-to-end [B,N,6] float32 output"
                        .into(),
                ));
            }
        };
        if session.outputs().len() != outputs.len() {
            return Err(unknown("an output is not float32".into()));
        }

        let (pixel_range, resize) = match output_layout {
            OutputLayout::SsdBoxesScores { .. } => (PixelRange::Byte, ResizeMode::Stretch),
            _ => (PixelRange::Unit, ResizeMode::Letterbox { pad_value: YOLO_PAD_VALUE }),
        };
        let (h_axis, w_axis) = match channel_order {
            ChannelOrder::Nchw => (2, 3),
            ChannelOrder::Nhwc => (1, 2),
        };
        let (meta_h, meta_w) = imgsz.unwrap_or((DEFAULT_IMGSZ, DEFAULT_IMGSZ));
        let fixed = |dim: i64, fallback: u32| if dim > 0 { dim as u32 } else { fallback };
        let input_layout = InputLayout {
            width: fixed(input_shape[w_axis], meta_w),
            height: fixed(input_shape[h_axis], meta_h),
            channel_order,
            pixel_range,
            resize,
        };

        let class_names = class_names(model_path, names_meta, class_count)?;
        let input_name = input.name().to_owned();
        Ok(Self { session, path, input_name, input_layout, output_layout, batch_axis, class_names, options })
    }

    /// The input layout frames must be written in.
    pub fn input_layout(&self) -> &InputLayout {
        &self.input_layout
    }

    /// The recognised output layout.
    pub fn output_layout(&self) -> &OutputLayout {
        &self.output_layout
    }

    /// The model's class names; a [`Detection::class_index`] indexes this.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The execution provider this detector runs on.
    pub fn device(&self) -> Device {
        self.options.device
    }

    /// How many frames one [`Detector::detect`] call takes at most.
    pub fn max_batch(&self) -> usize {
        match self.batch_axis {
            BatchAxis::Dynamic => self.options.batch_size.max(1),
            BatchAxis::Fixed(n) => n,
        }
    }

    /// Runs the model on `images` (frames already in [`Detector::input_layout`], one after the
    /// other, at most [`Detector::max_batch`]) and returns each frame's detections in frame
    /// pixels; `transforms[i]` is how frame i was placed into the input.
    pub fn detect(&mut self, images: &[f32], transforms: &[InputTransform]) -> Result<BatchDetections, DetectError> {
        let started = Instant::now();
        let image_len = self.input_layout.image_len();
        let count = transforms.len();
        assert!(count <= self.max_batch(), "batch of {count} exceeds the model's {}", self.max_batch());
        assert_eq!(images.len(), count * image_len, "one input image per transform");
        let batch = match self.batch_axis {
            // A GPU provider picks its kernels per input shape (cuDNN's algorithm search), so a
            // short last batch is padded there to keep one shape; the CPU runs what it is given.
            BatchAxis::Dynamic if self.options.device == Device::Cpu => count,
            BatchAxis::Dynamic => self.max_batch(),
            BatchAxis::Fixed(n) => n,
        };
        let padded;
        let data = if batch == count {
            images
        } else {
            padded = [images, &vec![0.0; (batch - count) * image_len]].concat();
            &padded
        };
        let (w, h) = (self.input_layout.width as usize, self.input_layout.height as usize);
        let shape = match self.input_layout.channel_order {
            ChannelOrder::Nchw => [batch, 3, h, w],
            ChannelOrder::Nhwc => [batch, h, w, 3],
        };
        let inference = |e: ort::Error| DetectError::Inference { path: self.path.clone(), reason: e.to_string() };
        let misshapen = |reason: String| DetectError::OutputShape { path: self.path.clone(), reason };
        let tensor = TensorRef::from_array_view((shape, data)).map_err(inference)?;
        let outputs = self.session.run(ort::inputs![self.input_name.as_str() => tensor]).map_err(inference)?;
        let infer_time = started.elapsed();
        let started = Instant::now();
        let extract = |name: &str| {
            let value = outputs.get(name).ok_or_else(|| misshapen(format!("no output `{name}`")))?;
            let (shape, data) = value.try_extract_tensor::<f32>().map_err(inference)?;
            let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
            Ok::<_, DetectError>((name.to_owned(), dims, data))
        };

        let (w_in, h_in) = (w as f32, h as f32);
        let mut per_image: Vec<Vec<Candidate>> = Vec::with_capacity(count);
        let score_threshold = self.options.score_threshold;
        match &self.output_layout {
            OutputLayout::SsdBoxesScores { boxes, scores } => {
                let box_output = extract(boxes)?;
                let score_output = extract(scores)?;
                let (anchors, classes) = (rank3(&score_output).map_err(misshapen)?[1], self.class_names.len());
                let score_data = shaped(&score_output, &[batch, anchors, classes]).map_err(misshapen)?;
                let box_data = shaped(&box_output, &[batch, anchors, 4]).map_err(misshapen)?;
                for i in 0..count {
                    let scores = &score_data[i * anchors * classes..(i + 1) * anchors * classes];
                    let boxes = &box_data[i * anchors * 4..(i + 1) * anchors * 4];
                    per_image.push(ssd_candidates(boxes, scores, anchors, classes, (w_in, h_in), score_threshold));
                }
            }
            OutputLayout::YoloRawHead { output } => {
                let output = extract(output)?;
                let (rows, anchors) = (4 + self.class_names.len(), rank3(&output).map_err(misshapen)?[2]);
                let data = shaped(&output, &[batch, rows, anchors]).map_err(misshapen)?;
                for i in 0..count {
                    let head = &data[i * rows * anchors..(i + 1) * rows * anchors];
                    per_image.push(yolo_raw_head_candidates(head, rows, anchors, score_threshold));
                }
            }
            OutputLayout::YoloEndToEnd { output } => {
                let output = extract(output)?;
                let rows = rank3(&output).map_err(misshapen)?[1];
                let data = shaped(&output, &[batch, rows, 6]).map_err(misshapen)?;
                for i in 0..count {
                    let candidates = data[i * rows * 6..(i + 1) * rows * 6].chunks_exact(6).filter_map(|r| {
                        let class_index = r[5].round();
                        (r[4] >= score_threshold && class_index >= 0.0 && (class_index as usize) < self.class_names.len()).then(|| {
                            Candidate {
                                class_index: class_index as usize,
                                score: r[4],
                                bbox_in_input_px: BoxXyxy::new(r[0], r[1], r[2], r[3]),
                            }
                        })
                    });
                    per_image.push(candidates.collect());
                }
            }
        }

        // An end-to-end graph has already suppressed; the others need NMS.
        let suppress = !matches!(self.output_layout, OutputLayout::YoloEndToEnd { .. });
        let (iou, max) = (self.options.iou_threshold, self.options.max_detections);
        let per_frame = per_image
            .into_iter()
            .zip(transforms)
            .map(|(mut candidates, transform)| {
                candidates.retain(Candidate::is_usable);
                let kept = if suppress {
                    non_max_suppression(candidates, iou, max)
                } else {
                    let mut c = candidates;
                    c.sort_by(|a, b| b.score.total_cmp(&a.score));
                    c.truncate(max);
                    c
                };
                in_frame(kept, transform)
            })
            .collect();
        Ok(BatchDetections { per_frame, infer_time, postprocess_time: started.elapsed() })
    }
}

/// `kept` as detections in the frame `transform` maps to; a box wholly in the letterbox padding
/// (or outside the frame) is clipped to nothing and dropped.
fn in_frame(kept: Vec<Candidate>, transform: &InputTransform) -> Vec<Detection> {
    kept.into_iter()
        .map(|c| Detection {
            class_index: c.class_index,
            score: c.score,
            bbox_in_frame_px: transform.frame_from_input(&c.bbox_in_input_px),
        })
        .filter(|d| d.bbox_in_frame_px.width() > 0.0 && d.bbox_in_frame_px.height() > 0.0)
        .collect()
}

/// The result of one [`Detector::detect`] call.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchDetections {
    /// Detections of frame i of the batch, in frame pixels, best score first (finite boxes with
    /// an area in the frame only).
    pub per_frame: Vec<Vec<Detection>>,
    /// Time inside ONNX Runtime.
    pub infer_time: Duration,
    /// Time decoding the head, thresholding and suppressing.
    pub postprocess_time: Duration,
}

/// Whether the first of two rank-3 outputs `[B,N,4]` / `[B,N,C]` is an SSD's boxes: the one
/// four wide; when both are (a 4-class model), the one named for boxes (`boxes`, `bboxes`, …)
/// rather than the other, and the first when the names do not tell.
fn first_is_ssd_boxes((first, first_shape): (&str, &[i64]), (second, second_shape): (&str, &[i64])) -> bool {
    if first_shape[2] != second_shape[2] {
        return first_shape[2] == 4;
    }
    let says_boxes = |name: &str| name.to_ascii_lowercase().contains("box");
    says_boxes(first) || !says_boxes(second)
}

/// One image's candidates from an SSD head, as [`Detector::detect`] decodes them: `boxes` is
/// `[anchors, 4]` (`ymin, xmin, ymax, xmax`, normalised to 0..1), `scores` is `[anchors,
/// classes]`. Each anchor's best class is kept when it scores at least `score_threshold`, its box
/// scaled to an input of `input_width × input_height` pixels.
///
/// # Panics
/// When a slice is shorter than its shape.
pub fn ssd_candidates(
    boxes: &[f32],
    scores: &[f32],
    anchors: usize,
    classes: usize,
    (input_width, input_height): (f32, f32),
    score_threshold: f32,
) -> Vec<Candidate> {
    (0..anchors)
        .filter_map(|a| {
            let (class_index, score) = best_class(scores[a * classes..(a + 1) * classes].iter().copied())?;
            let [ymin, xmin, ymax, xmax] = boxes[a * 4..a * 4 + 4] else { return None };
            (score >= score_threshold).then(|| Candidate {
                class_index,
                score,
                bbox_in_input_px: BoxXyxy::new(xmin * input_width, ymin * input_height, xmax * input_width, ymax * input_height),
            })
        })
        .collect()
}

/// One image's candidates from an Ultralytics raw head, as [`Detector::detect`] decodes them:
/// `head` is `[rows, anchors]`, rows 0..4 the box's centre x, centre y, width and height in input
/// pixels, then one score row per class. Each anchor's best class is kept when it scores at
/// least `score_threshold`.
///
/// # Panics
/// When `head` is shorter than `rows × anchors`.
pub fn yolo_raw_head_candidates(head: &[f32], rows: usize, anchors: usize, score_threshold: f32) -> Vec<Candidate> {
    let row = |r: usize| &head[r * anchors..(r + 1) * anchors];
    if rows <= 4 {
        return Vec::new();
    }
    // Each anchor's best class, scanning the class rows in memory order (a column-wise scan
    // strides by `anchors` floats on every read); the same choice as `best_class`, the first
    // highest score.
    let mut best_score = row(4).to_vec();
    let mut best_class = vec![0u32; anchors];
    for class_index in 1..rows - 4 {
        // Branch-free, so the loop vectorises.
        let class_index = class_index as u32;
        for ((best, class), &score) in best_score.iter_mut().zip(&mut best_class).zip(row(4 + class_index as usize)) {
            // Below the new score, or not comparable (a NaN): what `best_class` replaces.
            let better = matches!((*best).partial_cmp(&score), Some(std::cmp::Ordering::Less) | None);
            *best = if better { score } else { *best };
            *class = if better { class_index } else { *class };
        }
    }
    (0..anchors)
        .filter(|&a| best_score[a] >= score_threshold)
        .map(|a| Candidate {
            class_index: best_class[a] as usize,
            score: best_score[a],
            bbox_in_input_px: BoxXyxy::from_centre(row(0)[a], row(1)[a], row(2)[a], row(3)[a]),
        })
        .collect()
}

/// The highest score and its index; `None` for no scores.
fn best_class(scores: impl Iterator<Item = f32>) -> Option<(usize, f32)> {
    scores.enumerate().fold(None, |best, (i, s)| match best {
        Some((_, b)) if b >= s => best,
        _ => Some((i, s)),
    })
}

/// An output as run: its name, shape and data.
type RunOutput<'a> = (String, Vec<usize>, &'a [f32]);

/// The data of `output` once its shape is `expected`: ONNX Runtime only warns when an output's
/// shape differs from the one the model declares, so each is checked against what the batch and
/// the class names make of it before it is indexed.
fn shaped<'a>((name, found, data): &RunOutput<'a>, expected: &[usize]) -> Result<&'a [f32], String> {
    if found == expected { Ok(data) } else { Err(format!("output `{name}` has shape {found:?} where {expected:?} was expected")) }
}

/// The three dimensions of `output`'s shape.
fn rank3((name, found, _): &RunOutput<'_>) -> Result<[usize; 3], String> {
    found.as_slice().try_into().map_err(|_| format!("output `{name}` has shape {found:?} where rank 3 was expected"))
}

fn class_names(model_path: &Path, from_metadata: Option<Vec<String>>, class_count: i64) -> Result<Vec<String>, DetectError> {
    let sidecar = model_path.with_extension("labels.txt");
    let (names, source) = match from_metadata {
        Some(names) => (names, model_path.to_path_buf()),
        None if sidecar.is_file() => {
            let text =
                std::fs::read_to_string(&sidecar).map_err(|e| DetectError::ClassNames { path: sidecar.clone(), reason: e.to_string() })?;
            (text.lines().map(|l| l.trim().to_owned()).collect(), sidecar)
        }
        None if class_count > 0 => ((0..class_count).map(|k| format!("class_{k}")).collect(), model_path.to_path_buf()),
        None => {
            return Err(DetectError::ClassNames {
                path: model_path.to_path_buf(),
                reason: "the model has no class names and its class count is not in its outputs".into(),
            });
        }
    };
    if class_count > 0 && names.len() as i64 != class_count {
        return Err(DetectError::ClassNames {
            path: source,
            reason: format!("{} class names for a model with {class_count} classes", names.len()),
        });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_four_class_ssd_tells_its_boxes_from_its_scores_by_name() {
        let (boxes, four_classes, ninety_classes): (&[i64], &[i64], &[i64]) = (&[1, 1917, 4], &[1, 1917, 4], &[1, 1917, 91]);
        assert!(first_is_ssd_boxes(("a", boxes), ("b", ninety_classes)));
        assert!(!first_is_ssd_boxes(("a", ninety_classes), ("b", boxes)));
        // Both four wide: by name, whichever comes first.
        assert!(!first_is_ssd_boxes(("scores", four_classes), ("boxes", boxes)));
        assert!(first_is_ssd_boxes(("detection_boxes", boxes), ("detection_scores", four_classes)));
        assert!(first_is_ssd_boxes(("out0", boxes), ("out1", four_classes)));
    }

    #[test]
    fn boxes_in_the_letterbox_padding_are_dropped_and_others_mapped_to_the_frame() {
        // 1920×1080 letterboxed into 640×640: 140 rows of padding above the picture.
        let transform = InputTransform::letterbox(1920, 1080, 640, 640);
        let candidate = |y1: f32, y2: f32| Candidate { class_index: 0, score: 0.9, bbox_in_input_px: BoxXyxy::new(100.0, y1, 200.0, y2) };
        let detections = in_frame(vec![candidate(100.0, 135.0), candidate(200.0, 300.0)], &transform);
        assert_eq!(detections.len(), 1, "{detections:?}");
        let b = &detections[0].bbox_in_frame_px;
        assert!((b.y1 - 180.0).abs() < 1e-3 && (b.y2 - 480.0).abs() < 1e-3, "{b:?}");
    }

    #[test]
    fn ssd_anchors_keep_their_best_class_above_the_threshold_scaled_to_input_pixels() {
        // Two anchors, three classes: anchor 0's best is class 2 (0.8), anchor 1's is class 0 (0.3).
        let boxes = [0.1, 0.2, 0.5, 0.6, 0.0, 0.0, 1.0, 1.0];
        let scores = [0.1, 0.2, 0.8, 0.3, 0.1, 0.2];
        let candidates = ssd_candidates(&boxes, &scores, 2, 3, (300.0, 200.0), 0.4);
        assert_eq!(candidates, vec![Candidate { class_index: 2, score: 0.8, bbox_in_input_px: BoxXyxy::new(60.0, 20.0, 180.0, 100.0) }]);
    }

    #[test]
    fn yolo_raw_head_columns_are_anchors_with_centre_boxes_then_class_scores() {
        // Rows cx, cy, w, h, class 0, class 1; three anchors.
        let head = [
            10.0, 50.0, 90.0, //
            20.0, 60.0, 90.0, //
            4.0, 10.0, 2.0, //
            8.0, 20.0, 2.0, //
            0.9, 0.1, 0.2, //
            0.1, 0.7, 0.3, //
        ];
        let candidates = yolo_raw_head_candidates(&head, 6, 3, 0.5);
        assert_eq!(
            candidates,
            vec![
                Candidate { class_index: 0, score: 0.9, bbox_in_input_px: BoxXyxy::new(8.0, 16.0, 12.0, 24.0) },
                Candidate { class_index: 1, score: 0.7, bbox_in_input_px: BoxXyxy::new(45.0, 50.0, 55.0, 70.0) },
            ]
        );
    }

    #[test]
    fn yolo_row_order_scan_picks_what_a_per_anchor_best_class_picks() {
        // Pseudo-random scores on a coarse grid (so ties happen), a NaN, 4 box rows, 7 classes.
        let (rows, anchors) = (11, 257);
        let mut state = 12345u32;
        let mut head: Vec<f32> = (0..rows * anchors)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 28) as f32 / 16.0
            })
            .collect();
        head[5 * anchors + 3] = f32::NAN;
        let got = yolo_raw_head_candidates(&head, rows, anchors, 0.5);
        let expected: Vec<Candidate> = (0..anchors)
            .filter_map(|a| {
                let (class_index, score) = best_class((4..rows).map(|r| head[r * anchors + a]))?;
                let at = |r: usize| head[r * anchors + a];
                (score >= 0.5).then(|| Candidate { class_index, score, bbox_in_input_px: BoxXyxy::from_centre(at(0), at(1), at(2), at(3)) })
            })
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(got, expected);
    }
}
