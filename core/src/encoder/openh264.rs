//! The default encoder: Cisco's OpenH264 (Constrained Baseline, no B-frames,
//! so decode order equals presentation order and output is immediate).

use openh264::encoder::{
    Complexity, Encoder, EncoderConfig, FrameType, IntraFramePeriod, RateControlMode, UsageType, VuiConfig,
};
use openh264::formats::YUVSlices;
use openh264::{OpenH264API, Timestamp};

use super::{EncodedFrame, EncoderError, EncoderSettings, VideoEncoder};
use crate::frame::I420Image;

pub struct OpenH264Encoder {
    encoder: Encoder,
    settings: EncoderSettings,
}

impl OpenH264Encoder {
    pub fn new(settings: EncoderSettings) -> Result<Self, EncoderError> {
        let configure_error = |reason: String| EncoderError::Configure {
            width: settings.width,
            height: settings.height,
            bitrate_bps: settings.bitrate_bps,
            reason,
        };
        if settings.bitrate_bps == 0
            || settings.frame_rate.is_nan()
            || settings.frame_rate <= 0.0
            || settings.keyframe_interval == 0
        {
            return Err(configure_error("bitrate, frame rate and keyframe interval must be positive".into()));
        }
        let vui = match (settings.bt709, settings.full_range) {
            (true, false) => VuiConfig::bt709(),
            (true, true) => VuiConfig::bt709_full(),
            (false, full) => VuiConfig::bt601().full_range(full),
        };
        let config = EncoderConfig::new()
            .bitrate(openh264::encoder::BitRate::from_bps(settings.bitrate_bps))
            .max_frame_rate(openh264::encoder::FrameRate::from_hz(settings.frame_rate))
            .rate_control_mode(RateControlMode::Bitrate)
            // Every pushed frame must come out: a skipped frame would be a
            // silent drop the worker is not paid for and the record not told of.
            .skip_frames(false)
            .usage_type(UsageType::CameraVideoRealTime)
            .complexity(Complexity::Low)
            .intra_frame_period(IntraFramePeriod::from_num_frames(settings.keyframe_interval))
            .num_threads(1)
            .debug(false)
            .vui(vui);
        let encoder =
            Encoder::with_api_config(OpenH264API::from_source(), config).map_err(|e| configure_error(e.to_string()))?;
        Ok(Self { encoder, settings })
    }
}

impl VideoEncoder for OpenH264Encoder {
    fn name(&self) -> String {
        "openh264".to_string()
    }

    fn encode(
        &mut self,
        image: &I420Image,
        pts_ns: i64,
        force_keyframe: bool,
    ) -> Result<Vec<EncodedFrame>, EncoderError> {
        if image.width != self.settings.width || image.height != self.settings.height {
            return Err(EncoderError::Encode {
                pts_ns,
                reason: format!(
                    "frame is {}x{}, encoder was set up for {}x{}",
                    image.width, image.height, self.settings.width, self.settings.height
                ),
            });
        }
        if force_keyframe {
            self.encoder.force_intra_frame();
        }
        let (w, h) = (image.width as usize, image.height as usize);
        let source = YUVSlices::new((image.y(), image.u(), image.v()), (w, h), (w, w / 2, w / 2));
        let millis = u64::try_from(pts_ns.max(0) / 1_000_000).unwrap_or(0);
        let bitstream = self
            .encoder
            .encode_at(&source, Timestamp::from_millis(millis))
            .map_err(|e| EncoderError::Encode { pts_ns, reason: e.to_string() })?;
        let frame_type = bitstream.frame_type();
        if matches!(frame_type, FrameType::Skip | FrameType::Invalid) {
            return Err(EncoderError::Encode { pts_ns, reason: format!("encoder returned {frame_type:?}") });
        }
        Ok(vec![EncodedFrame { annexb: bitstream.to_vec(), pts_ns, is_keyframe: frame_type == FrameType::IDR }])
    }

    fn flush(&mut self) -> Result<Vec<EncodedFrame>, EncoderError> {
        Ok(Vec::new())
    }
}
