//! NVIDIA hardware decode (NVDEC) through FFmpeg's CUDA hwaccel, with a clean fall-back to
//! software decode.
//!
//! The decoder is given a CUDA device context before it is opened; FFmpeg's default pixel-format
//! negotiation then picks the CUDA surface format for codecs NVDEC supports (H.264, HEVC, AV1,
//! VP9, …). Decoded surfaces are copied to system memory (NV12) with `av_hwframe_transfer_data`
//! and converted by swscale like software frames. FFmpeg loads the driver's `libcuda.so.1` and
//! `libnvcuvid.so.1` at run time, so the same binary runs on hosts without a GPU: opening the
//! device fails there and the video is decoded in software, saying why in
//! [`VideoInfo::decoder`](crate::VideoInfo::decoder).

use std::ptr;

use ffmpeg::ffi;
use ffmpeg::format::Pixel;
use ffmpeg::util::frame;
use ffmpeg_next as ffmpeg;

/// Which decoder to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HwDecode {
    /// FFmpeg's software decoder, frame-threaded.
    #[default]
    Software,
    /// NVDEC where the codec, the FFmpeg build and the driver allow it, else software.
    Nvdec,
}

impl std::str::FromStr for HwDecode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "software" | "cpu" => Ok(HwDecode::Software),
            "nvdec" | "cuda" => Ok(HwDecode::Nvdec),
            other => Err(format!("unknown decoder `{other}` (expected software or nvdec)")),
        }
    }
}

/// A CUDA device context (an `AVBufferRef`), released on drop.
struct CudaDevice(*mut ffi::AVBufferRef);

impl Drop for CudaDevice {
    fn drop(&mut self) {
        // SAFETY: the pointer came from av_hwdevice_ctx_create and is released exactly once.
        unsafe { ffi::av_buffer_unref(&mut self.0) };
    }
}

impl CudaDevice {
    /// Opens the default CUDA device, or says why it cannot be opened.
    fn open() -> Result<Self, String> {
        let mut device = ptr::null_mut();
        // SAFETY: FFmpeg writes a new reference into `device` on success and leaves it null on
        // failure; the other arguments may be null.
        let code = unsafe {
            ffi::av_hwdevice_ctx_create(&mut device, ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA, ptr::null(), ptr::null_mut(), 0)
        };
        if code < 0 || device.is_null() {
            return Err(format!("no CUDA device ({})", ffmpeg::Error::from(code)));
        }
        Ok(Self(device))
    }
}

/// True when `codec` can decode into CUDA surfaces given a device context.
fn codec_supports_cuda(codec: *const ffi::AVCodec) -> bool {
    (0..)
        .map_while(|i| {
            // SAFETY: `codec` is a valid codec; avcodec_get_hw_config returns null past the last
            // configuration.
            let config = unsafe { ffi::avcodec_get_hw_config(codec, i) };
            // SAFETY: non-null configurations are static FFmpeg data.
            (!config.is_null()).then(|| unsafe { &*config })
        })
        .any(|config| {
            config.device_type == ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_CUDA
                && config.methods & ffi::AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX as i32 != 0
        })
}

/// Attaches a CUDA device to a decoder context that is not opened yet, when the codec supports
/// it and a device opens; otherwise says why software decode is used.
pub(crate) fn attach_nvdec(context: &mut ffmpeg::codec::context::Context) -> Result<(), String> {
    // SAFETY: the context is valid and not opened; `codec_id` is plain data.
    let codec = unsafe { ffi::avcodec_find_decoder((*context.as_ptr()).codec_id) };
    if codec.is_null() || !codec_supports_cuda(codec) {
        return Err("the codec has no NVDEC support in this FFmpeg".to_owned());
    }
    let device = CudaDevice::open()?;
    // SAFETY: the context takes its own reference to the device (released by
    // avcodec_free_context); ours is released when `device` drops.
    unsafe {
        let reference = ffi::av_buffer_ref(device.0);
        if reference.is_null() {
            return Err("out of memory".to_owned());
        }
        (*context.as_mut_ptr()).hw_device_ctx = reference;
    }
    Ok(())
}

/// Copies a frame that lives on the GPU into `system` (NV12 in system memory); frames already in
/// system memory are left alone and `false` is returned.
pub(crate) fn download(decoded: &frame::Video, system: &mut frame::Video) -> Result<bool, ffmpeg::Error> {
    if decoded.format() != Pixel::CUDA {
        return Ok(false);
    }
    // SAFETY: both frames are valid; FFmpeg allocates `system`'s buffers in the surface's
    // software format. The transfer copies pixels only: the colour tags (and the rest of the
    // frame's properties) follow as FFmpeg's own `hwdownload` filter copies them.
    let code = unsafe {
        ffi::av_frame_unref(system.as_mut_ptr());
        match ffi::av_hwframe_transfer_data(system.as_mut_ptr(), decoded.as_ptr(), 0) {
            code if code < 0 => code,
            _ => ffi::av_frame_copy_props(system.as_mut_ptr(), decoded.as_ptr()),
        }
    };
    if code < 0 {
        return Err(ffmpeg::Error::from(code));
    }
    Ok(true)
}
