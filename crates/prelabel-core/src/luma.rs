//! A frame's brightness, downscaled: what the tracker looks at on the frames the detector skips.

/// A frame's luma (grey) plane, downscaled by a whole factor, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct LumaFrame {
    /// 0-based frame index in presentation order.
    pub frame_index: u64,
    width: usize,
    height: usize,
    frame_px_per_sample: u32,
    samples: Vec<u8>,
}

/// A [`LumaFrame`]'s samples do not fill its size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {width}×{height} luma frame needs {} samples, got {got}", width * height)]
pub struct LumaSizeError {
    /// Samples per row.
    pub width: usize,
    /// Rows.
    pub height: usize,
    /// Samples given.
    pub got: usize,
}

impl LumaFrame {
    /// A luma frame of `width × height` samples (row-major, no padding), each standing for
    /// `frame_px_per_sample × frame_px_per_sample` pixels of the original frame.
    ///
    /// # Errors
    /// [`LumaSizeError`] when `samples` is not `width × height` long, or is empty.
    pub fn new(frame_index: u64, width: usize, height: usize, frame_px_per_sample: u32, samples: Vec<u8>) -> Result<Self, LumaSizeError> {
        if samples.is_empty() || samples.len() != width * height {
            return Err(LumaSizeError { width, height, got: samples.len() });
        }
        Ok(Self { frame_index, width, height, frame_px_per_sample: frame_px_per_sample.max(1), samples })
    }

    /// Samples per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Original frame pixels per sample, along either axis.
    pub fn frame_px_per_sample(&self) -> u32 {
        self.frame_px_per_sample
    }

    /// Row `y` (`y < height`).
    pub fn row(&self, y: usize) -> &[u8] {
        &self.samples[y * self.width..(y + 1) * self.width]
    }
}
