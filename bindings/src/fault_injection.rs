//! Test-only hooks (cargo feature `fault-injection`, never in a release):
//! ways for the foreign-language tests to make the library fail from the
//! inside, which no host input can do.

use std::sync::{Arc, Mutex};

use egocap_core::encoder::{OpenH264Encoder, VideoEncoder as _};
use egocap_core::frame;
use egocap_core::session as core;

use crate::config::SessionConfig;
use crate::encoder::{EncodedFrame, I420Image, VideoEncoder};
use crate::error::EgocapError;

/// OpenH264 for `config`, except that `encode` panics on frame
/// `panic_at_frame` (1-based) on the library's worker thread: the session
/// must end with a typed `PipelineFailed`, keep its finished segments, and
/// not abort the app.
#[uniffi::export]
pub fn fault_injection_panicking_encoder(
    config: SessionConfig,
    panic_at_frame: u32,
) -> Result<Arc<dyn VideoEncoder>, EgocapError> {
    let settings = core::encoder_settings(&config.into());
    let inner = OpenH264Encoder::new(settings).map_err(core::CaptureError::from)?;
    Ok(Arc::new(PanickingEncoder { inner: Mutex::new((inner, 0)), panic_at_frame }))
}

struct PanickingEncoder {
    inner: Mutex<(OpenH264Encoder, u32)>,
    panic_at_frame: u32,
}

impl VideoEncoder for PanickingEncoder {
    fn name(&self) -> Result<String, EgocapError> {
        Ok("panicking test encoder".into())
    }

    fn encode(&self, image: I420Image, pts_ns: i64, force_keyframe: bool) -> Result<Vec<EncodedFrame>, EgocapError> {
        let mut guard = self.inner.lock().map_err(|_| EgocapError::Encoder { reason: "poisoned".into() })?;
        let (encoder, frames) = &mut *guard;
        *frames += 1;
        if *frames == self.panic_at_frame {
            panic!("injected panic in the encoder");
        }
        let image = frame::I420Image { width: image.width, height: image.height, data: image.data.0 };
        let encoded = encoder.encode(&image, pts_ns, force_keyframe).map_err(core::CaptureError::from)?;
        Ok(encoded.into_iter().map(Into::into).collect())
    }

    fn flush(&self) -> Result<Vec<EncodedFrame>, EgocapError> {
        let mut guard = self.inner.lock().map_err(|_| EgocapError::Encoder { reason: "poisoned".into() })?;
        let flushed = guard.0.flush().map_err(core::CaptureError::from)?;
        Ok(flushed.into_iter().map(Into::into).collect())
    }
}

/// Panics on the caller's thread inside a guarded call, as a bug in an
/// exported function would: the app must get a typed `Internal` error.
#[uniffi::export]
pub fn fault_injection_panic_on_calling_thread() -> Result<(), EgocapError> {
    crate::error::guarded(|| panic!("injected panic on the calling thread"))
}
