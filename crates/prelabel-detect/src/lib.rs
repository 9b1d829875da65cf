//! Object detection with ONNX Runtime: loading the runtime and a model, recognising the model's
//! output layout, running batches and turning the raw head into [`Detection`]s.
//!
//! The adapter is chosen from the model itself (inputs, outputs, `metadata_props`):
//! - **SSD**: outputs `boxes` `[B,N,4]` (`ymin,xmin,ymax,xmax`, normalised) and `scores`
//!   `[B,N,C]`; NHWC input, RGB 0..255, plain resize.
//! - **YOLO raw head** (Ultralytics YOLOv8/YOLO11): one output `[B,4+C,N]` (centre x, y, w, h in
//!   input pixels, then class scores); NCHW input, RGB 0..1, letterbox.
//! - **YOLO end-to-end** (NMS or NMS-free head in the graph): one output `[B,N,6]`
//!   (`x1,y1,x2,y2,score,class`); NCHW input, RGB 0..1, letterbox.
//!
//! [`Detection`]: prelabel_core::Detection

mod error;
mod metadata;
mod model;
mod nms;
mod runtime;

pub use error::DetectError;
pub use model::{BatchAxis, BatchDetections, Detector, DetectorOptions, OutputLayout, ssd_candidates, yolo_raw_head_candidates};
pub use nms::{Candidate, non_max_suppression};
pub use runtime::{Device, Runtime};
