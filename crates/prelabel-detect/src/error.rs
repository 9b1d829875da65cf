use std::path::PathBuf;

/// Why a model could not be loaded or run. Variants about a file name it.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// The ONNX Runtime shared library could not be loaded.
    #[error("{path}: cannot load the ONNX Runtime library ({reason}); run scripts/setup or set ORT_DYLIB_PATH")]
    Runtime {
        /// The library path tried.
        path: PathBuf,
        /// The loader's reason.
        reason: String,
    },
    /// The model file does not exist.
    #[error("{path}: no such model file")]
    ModelNotFound {
        /// The model.
        path: PathBuf,
    },
    /// ONNX Runtime could not load the file as a model.
    #[error("{path}: not a loadable ONNX model ({reason})")]
    NotOnnx {
        /// The model.
        path: PathBuf,
        /// ONNX Runtime's reason.
        reason: String,
    },
    /// The model's inputs or outputs match none of the supported layouts.
    #[error("{path}: unsupported model layout: {reason}; found inputs [{inputs}] and outputs [{outputs}]")]
    UnknownLayout {
        /// The model.
        path: PathBuf,
        /// What did not match.
        reason: String,
        /// The inputs found, as `name: type [shape]`.
        inputs: String,
        /// The outputs found, as `name: type [shape]`.
        outputs: String,
    },
    /// The class names do not fit the model's class count.
    #[error("{path}: {reason}")]
    ClassNames {
        /// The model or labels file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The requested execution provider is not available.
    #[error("device {device}: {reason}")]
    DeviceUnavailable {
        /// The device asked for.
        device: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// ONNX Runtime failed while running a batch.
    #[error("{path}: inference failed: {reason}")]
    Inference {
        /// The model.
        path: PathBuf,
        /// ONNX Runtime's reason.
        reason: String,
    },
    /// An output of the model, as run, is not shaped as its layout and class names say (ONNX
    /// Runtime only warns when a run's shapes differ from those the model declares).
    #[error("{path}: {reason}")]
    OutputShape {
        /// The model.
        path: PathBuf,
        /// The output and the shape found.
        reason: String,
    },
}
