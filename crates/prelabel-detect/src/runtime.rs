//! Loading ONNX Runtime (`load-dynamic`) and choosing the execution provider.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::builder::SessionBuilder;

use crate::DetectError;

/// The library file name tried through the normal loader search when `ORT_DYLIB_PATH` is unset.
const DEFAULT_DYLIB: &str = "libonnxruntime.so";

/// The loaded ONNX Runtime library and its environment; load once per process.
#[derive(Clone)]
pub struct Runtime {
    environment: Environment,
}

impl Runtime {
    /// Loads ONNX Runtime from `dylib`, else from `ORT_DYLIB_PATH`, else `libonnxruntime.so` on
    /// the loader path. Later calls return the runtime loaded first.
    pub fn load(dylib: Option<&Path>) -> Result<Self, DetectError> {
        static LOADED: OnceLock<Result<Environment, (PathBuf, String)>> = OnceLock::new();
        let path = dylib
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DYLIB));
        let loaded = LOADED.get_or_init(|| {
            let environment = ort::init_from(&path)
                .map_err(|e| e.to_string())
                .and_then(|builder| builder.with_name("prelabel").build().map_err(|e| e.to_string()));
            environment.map_err(|reason| (path.clone(), reason))
        });
        match loaded {
            Ok(environment) => Ok(Self { environment: environment.clone() }),
            Err((path, reason)) => Err(DetectError::Runtime { path: path.clone(), reason: reason.clone() }),
        }
    }

    pub(crate) fn environment(&self) -> &Environment {
        &self.environment
    }
}

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// ONNX Runtime's CPU provider.
    Cpu,
    /// NVIDIA CUDA (build with the `cuda` feature, run with the onnxruntime-gpu library).
    Cuda,
    /// NVIDIA TensorRT (build with the `tensorrt` feature).
    TensorRt,
    /// CUDA where it can be used, else the CPU: see [`Device::resolve`]. The only device that
    /// ever falls back.
    Auto,
}

impl FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda),
            "tensorrt" | "trt" => Ok(Device::TensorRt),
            "auto" => Ok(Device::Auto),
            other => Err(format!("unknown device `{other}` (expected cpu, cuda, tensorrt or auto)")),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
            Device::TensorRt => "tensorrt",
            Device::Auto => "auto",
        })
    }
}

impl Device {
    /// The device to use: [`Device::Auto`] becomes CUDA when this build has it and ONNX Runtime
    /// can register its provider (library and CUDA found), else the CPU together with the reason
    /// CUDA could not be used (for the caller's warning). Other devices are returned as they are.
    pub fn resolve(self, runtime: &Runtime) -> (Device, Option<String>) {
        if self != Device::Auto {
            return (self, None);
        }
        let probe = ort::session::Session::builder(runtime.environment())
            .map_err(|e| DetectError::DeviceUnavailable { device: Device::Cuda.to_string(), reason: e.to_string() })
            .and_then(|builder| Device::Cuda.register(builder));
        match probe {
            Ok(_) => (Device::Cuda, None),
            Err(e) => (Device::Cpu, Some(e.to_string())),
        }
    }

    /// Registers this device's execution provider on a session builder; failing to register is
    /// an error, never a silent fall-back to the CPU ([`Device::Auto`] must be resolved first).
    pub(crate) fn register(self, builder: SessionBuilder) -> Result<SessionBuilder, DetectError> {
        let unavailable = |reason: String| DetectError::DeviceUnavailable { device: self.to_string(), reason };
        match self {
            Device::Cpu => Ok(builder),
            #[cfg(feature = "cuda")]
            Device::Cuda => builder
                .with_execution_providers([ort::ep::CUDA::default().build().error_on_failure()])
                .map_err(|e| unavailable(e.to_string())),
            #[cfg(feature = "tensorrt")]
            Device::TensorRt => builder
                .with_execution_providers([ort::ep::TensorRT::default().build().error_on_failure(), ort::ep::CUDA::default().build()])
                .map_err(|e| unavailable(e.to_string())),
            Device::Auto => Err(unavailable("resolve `auto` with Device::resolve before loading a model".to_owned())),
            #[allow(unreachable_patterns)]
            other => Err(unavailable(format!("this build has no {other} support (rebuild with `--features {other}`)"))),
        }
    }
}
