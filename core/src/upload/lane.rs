//! Upload order. Records travel ahead of the media that cite them, so a
//! dataset never holds a segment it cannot check: identity records first
//! (device registration, recipient set, consent, withdrawal), then segment
//! records, then the sealed media, then the session's end record.

use crate::sealer::{
    CONSENT_RECORD_FILE, DEVICE_RECORD_FILE, RECIPIENTS_RECORD_FILE, RECORD_SUFFIX, SEALED_SUFFIX, SESSION_END_FILE,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lane {
    /// Device registration, recipient set, consent, withdrawal and purge records.
    Identity,
    /// `seg-NNNNNN.record.json`: sent before the segment it describes.
    SegmentRecord,
    /// `seg-NNNNNN.mp4.age`, and any other file queued by hand.
    Media,
    /// `session-end.json` and the session summary: after the last segment.
    SessionEnd,
}

impl Lane {
    pub(crate) fn rank(self) -> i64 {
        match self {
            Self::Identity => 0,
            Self::SegmentRecord => 1,
            Self::Media => 2,
            Self::SessionEnd => 3,
        }
    }

    pub(crate) fn from_rank(rank: i64) -> Option<Self> {
        [Self::Identity, Self::SegmentRecord, Self::Media, Self::SessionEnd].into_iter().find(|l| l.rank() == rank)
    }

    /// The lane of a file a sealed session directory holds, by its name;
    /// `None` for files that are not uploaded (partial files, unknown names).
    pub fn of_session_file(name: &str) -> Option<Self> {
        if name.starts_with('.') || name.ends_with(".partial") {
            return None;
        }
        if [DEVICE_RECORD_FILE, RECIPIENTS_RECORD_FILE, CONSENT_RECORD_FILE].contains(&name)
            || (name.ends_with(".json") && (name.starts_with("withdrawal-") || name.starts_with("purge-")))
        {
            Some(Self::Identity)
        } else if name.starts_with("seg-") && name.ends_with(RECORD_SUFFIX) {
            Some(Self::SegmentRecord)
        } else if name.starts_with("seg-") && name.ends_with(&format!(".mp4{SEALED_SUFFIX}")) {
            Some(Self::Media)
        } else if name == SESSION_END_FILE || name == "session.json" {
            Some(Self::SessionEnd)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_before_the_media_that_cite_them() {
        let names = ["seg-000001.mp4.age", "session-end.json", "seg-000001.record.json", "consent.json"];
        let mut lanes: Vec<_> = names.iter().map(|n| (Lane::of_session_file(n).unwrap(), *n)).collect();
        lanes.sort();
        assert_eq!(
            lanes.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
            ["consent.json", "seg-000001.record.json", "seg-000001.mp4.age", "session-end.json"]
        );
        assert_eq!(Lane::of_session_file("seg-000002.mp4.age.partial"), None);
        assert_eq!(Lane::of_session_file("notes.txt"), None);
        for lane in [Lane::Identity, Lane::SegmentRecord, Lane::Media, Lane::SessionEnd] {
            assert_eq!(Lane::from_rank(lane.rank()), Some(lane));
        }
    }
}
