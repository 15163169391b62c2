//! Google Camera Motion Metadata (CAMM) packets, one per IMU reading.
//!
//! Per the CAMM spec (developers.google.com/streetview/publish/camm-spec,
//! "Data format"), a packet is little-endian `uint16 reserved = 0`,
//! `uint16 type`, then the type's payload. We write only the raw sensor
//! types: 2 gyroscope (`float[3]`, rad/s), 3 accelerometer (`float[3]`,
//! m/s²) and 7 magnetic field (`float[3]`, µT). Types 5 and 6 carry a
//! location and are never produced nor accepted here.

use super::Mp4Error;

/// Length of every packet this module writes: 4 header bytes + 3 × f32.
pub const CAMM_PACKET_LEN: usize = 16;

/// The CAMM packet types we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CammKind {
    /// Type 2: angular velocity, rad/s, camera axes.
    Gyroscope,
    /// Type 3: acceleration including gravity, m/s², camera axes.
    Accelerometer,
    /// Type 7: magnetic field, µT, camera axes.
    MagneticField,
}

impl CammKind {
    /// The `type` field of the packet.
    pub fn type_code(self) -> u16 {
        match self {
            Self::Gyroscope => 2,
            Self::Accelerometer => 3,
            Self::MagneticField => 7,
        }
    }

    fn from_type_code(code: u16) -> Option<Self> {
        match code {
            2 => Some(Self::Gyroscope),
            3 => Some(Self::Accelerometer),
            7 => Some(Self::MagneticField),
            _ => None,
        }
    }
}

pub fn encode_camm_packet(kind: CammKind, xyz: [f32; 3]) -> [u8; CAMM_PACKET_LEN] {
    let mut out = [0u8; CAMM_PACKET_LEN];
    // Bytes 0..2 stay zero: the reserved field.
    out[2..4].copy_from_slice(&kind.type_code().to_le_bytes());
    for (slot, v) in out[4..].chunks_exact_mut(4).zip(xyz) {
        slot.copy_from_slice(&v.to_le_bytes());
    }
    out
}

/// Reads back a packet of one of the types in [`CammKind`]; anything else
/// (other types, location, a wrong length, a non-zero reserved field) is an error.
pub fn decode_camm_packet(packet: &[u8]) -> Result<(CammKind, [f32; 3]), Mp4Error> {
    let bytes: &[u8; CAMM_PACKET_LEN] =
        packet.try_into().map_err(|_| Mp4Error::InvalidCammPacket { reason: "length is not 16 bytes" })?;
    let [r0, r1, t0, t1, rest @ ..] = bytes;
    if [*r0, *r1] != [0, 0] {
        return Err(Mp4Error::InvalidCammPacket { reason: "reserved field is not zero" });
    }
    let kind = CammKind::from_type_code(u16::from_le_bytes([*t0, *t1]))
        .ok_or(Mp4Error::InvalidCammPacket { reason: "type is not 2, 3 or 7" })?;
    let mut xyz = [0f32; 3];
    for (v, chunk) in xyz.iter_mut().zip(rest.chunks_exact(4)) {
        *v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    Ok((kind, xyz))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gyroscope_packet_matches_the_spec_layout() {
        let packet = encode_camm_packet(CammKind::Gyroscope, [1.0, -2.5, 0.0]);
        let mut expected = vec![0, 0, 2, 0];
        expected.extend_from_slice(&1.0f32.to_le_bytes());
        expected.extend_from_slice(&(-2.5f32).to_le_bytes());
        expected.extend_from_slice(&0.0f32.to_le_bytes());
        assert_eq!(packet.as_slice(), expected.as_slice());
    }

    #[test]
    fn every_kind_round_trips() -> Result<(), Mp4Error> {
        for kind in [CammKind::Gyroscope, CammKind::Accelerometer, CammKind::MagneticField] {
            let xyz = [0.125, 9.81, -48.0];
            assert_eq!(decode_camm_packet(&encode_camm_packet(kind, xyz))?, (kind, xyz));
        }
        Ok(())
    }

    #[test]
    fn location_packets_are_refused() {
        for location_type in [5u16, 6] {
            let mut packet = encode_camm_packet(CammKind::Gyroscope, [0.0; 3]);
            packet[2..4].copy_from_slice(&location_type.to_le_bytes());
            assert!(decode_camm_packet(&packet).is_err());
        }
        assert!(decode_camm_packet(&[0, 0, 2, 0]).is_err());
    }
}
