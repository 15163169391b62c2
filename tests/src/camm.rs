//! An independent parser of Google's Camera Motion Metadata (CAMM) packets,
//! from the spec ("Camera Motion Metadata Spec", Street View Publish API):
//! each packet is `uint16 reserved` (0), `uint16 type`, then a payload whose
//! layout depends on the type, all little-endian:
//!
//! | type | payload | bytes |
//! | --- | --- | --- |
//! | 0 | `float angle_axis[3]` | 12 |
//! | 1 | `int32 pixel_exposure_time; int32 rolling_shutter_skew_time` (ns) | 8 |
//! | 2 | `float gyro[3]` (rad/s) | 12 |
//! | 3 | `float acceleration[3]` (m/s²) | 12 |
//! | 4 | `float position[3]` | 12 |
//! | 5 | `double latitude, longitude, altitude` | 24 |
//! | 6 | `double time_gps_epoch; int32 gps_fix_type; double latitude, longitude; float altitude, horizontal_accuracy, vertical_accuracy, velocity_east, velocity_north, velocity_up, speed_accuracy` | 56 |
//! | 7 | `float magnetic_field[3]` (µT) | 12 |
//!
//! Input is what `ffmpeg -i seg.mp4 -map 0:<camm> -c copy -f data -` prints:
//! the track's samples back to back.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq)]
pub enum CammPacket {
    AngleAxis([f32; 3]),
    Exposure {
        pixel_exposure_time_ns: i32,
        rolling_shutter_skew_time_ns: i32,
    },
    Gyroscope([f32; 3]),
    Accelerometer([f32; 3]),
    Position([f32; 3]),
    /// Location: must never appear in our output.
    Gps {
        latitude: f64,
        longitude: f64,
        altitude: f64,
    },
    /// Location with time and accuracy (the fields we don't need are skipped).
    GpsFull {
        time_gps_epoch: f64,
        latitude: f64,
        longitude: f64,
    },
    MagneticField([f32; 3]),
}

impl CammPacket {
    pub fn type_code(&self) -> u16 {
        match self {
            Self::AngleAxis(_) => 0,
            Self::Exposure { .. } => 1,
            Self::Gyroscope(_) => 2,
            Self::Accelerometer(_) => 3,
            Self::Position(_) => 4,
            Self::Gps { .. } => 5,
            Self::GpsFull { .. } => 6,
            Self::MagneticField(_) => 7,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CammError {
    #[error("CAMM packet at byte {offset}: type {type_code} is not defined (0..=7)")]
    UnknownType { offset: usize, type_code: u16 },
    #[error("CAMM packet at byte {offset}: reserved field is {value}, must be 0")]
    Reserved { offset: usize, value: u16 },
    #[error("CAMM packet at byte {offset} is truncated: needs {needed} bytes, {available} left")]
    Truncated { offset: usize, needed: usize, available: usize },
}

/// Payload size of each type, after the 4-byte header.
pub fn payload_len(type_code: u16) -> Option<usize> {
    Some(match type_code {
        0 | 2 | 3 | 4 | 7 => 12,
        1 => 8,
        5 => 24,
        6 => 56,
        _ => return None,
    })
}

/// Parses a concatenation of CAMM packets.
pub fn parse(bytes: &[u8]) -> Result<Vec<CammPacket>, CammError> {
    let mut packets = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        if rest.len() < 4 {
            return Err(CammError::Truncated { offset, needed: 4, available: rest.len() });
        }
        let reserved = u16::from_le_bytes([rest[0], rest[1]]);
        let type_code = u16::from_le_bytes([rest[2], rest[3]]);
        if reserved != 0 {
            return Err(CammError::Reserved { offset, value: reserved });
        }
        let len = payload_len(type_code).ok_or(CammError::UnknownType { offset, type_code })?;
        if rest.len() < 4 + len {
            return Err(CammError::Truncated { offset, needed: 4 + len, available: rest.len() });
        }
        let p = Payload(&rest[4..4 + len]);
        packets.push(match type_code {
            0 => CammPacket::AngleAxis(p.f32x3(0)),
            1 => CammPacket::Exposure { pixel_exposure_time_ns: p.i32(0), rolling_shutter_skew_time_ns: p.i32(4) },
            2 => CammPacket::Gyroscope(p.f32x3(0)),
            3 => CammPacket::Accelerometer(p.f32x3(0)),
            4 => CammPacket::Position(p.f32x3(0)),
            5 => CammPacket::Gps { latitude: p.f64(0), longitude: p.f64(8), altitude: p.f64(16) },
            6 => CammPacket::GpsFull { time_gps_epoch: p.f64(0), latitude: p.f64(12), longitude: p.f64(20) },
            _ => CammPacket::MagneticField(p.f32x3(0)),
        });
        offset += 4 + len;
    }
    Ok(packets)
}

/// A payload whose length was checked against the type's size.
struct Payload<'a>(&'a [u8]);

impl Payload<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        out.copy_from_slice(&self.0[at..at + N]);
        out
    }
    fn f32x3(&self, at: usize) -> [f32; 3] {
        [0, 4, 8].map(|i| f32::from_le_bytes(self.bytes(at + i)))
    }
    fn i32(&self, at: usize) -> i32 {
        i32::from_le_bytes(self.bytes(at))
    }
    fn f64(&self, at: usize) -> f64 {
        f64::from_le_bytes(self.bytes(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(type_code: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0];
        out.extend_from_slice(&type_code.to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn parses_every_defined_type_and_skips_to_the_next_packet() -> Result<(), CammError> {
        let gyro: Vec<u8> = [1.5f32, -2.0, 0.25].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut bytes = Vec::new();
        for t in 0..=7u16 {
            let len = payload_len(t).unwrap_or(0);
            if t == 2 {
                bytes.extend(packet(t, &gyro));
            } else {
                bytes.extend(packet(t, &vec![0u8; len]));
            }
        }
        let packets = parse(&bytes)?;
        assert_eq!(packets.iter().map(CammPacket::type_code).collect::<Vec<_>>(), (0..=7).collect::<Vec<_>>());
        assert_eq!(packets[2], CammPacket::Gyroscope([1.5, -2.0, 0.25]));
        Ok(())
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_parse_or_fail_without_panicking(bytes: Vec<u8>) {
            let _ = parse(&bytes);
        }

        #[test]
        fn valid_packets_round_trip(values in proptest::collection::vec((2u16..4, proptest::array::uniform3(-1e6f32..1e6)), 0..40)) {
            let bytes: Vec<u8> = values
                .iter()
                .flat_map(|(t, xyz)| packet(*t, &xyz.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()))
                .collect();
            let expected: Vec<CammPacket> = values
                .iter()
                .map(|(t, xyz)| if *t == 2 { CammPacket::Gyroscope(*xyz) } else { CammPacket::Accelerometer(*xyz) })
                .collect();
            proptest::prop_assert_eq!(parse(&bytes), Ok(expected));
        }
    }

    #[test]
    fn truncated_unknown_and_reserved_packets_fail() {
        let good = packet(7, &[0u8; 12]);
        assert!(matches!(parse(&good[..15]), Err(CammError::Truncated { offset: 0, needed: 16, available: 15 })));
        let mut two = good.clone();
        two.extend_from_slice(&[0, 0]);
        assert!(matches!(parse(&two), Err(CammError::Truncated { offset: 16, .. })));
        assert_eq!(parse(&packet(8, &[0u8; 12])), Err(CammError::UnknownType { offset: 0, type_code: 8 }));
        let mut reserved = good;
        reserved[0] = 1;
        assert_eq!(parse(&reserved), Err(CammError::Reserved { offset: 0, value: 1 }));
    }
}
