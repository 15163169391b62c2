//! The blur stage's part in following the faces the detector lost
//! (`follow_forward.rs`): which faces are lost on each buffered frame and
//! where a match for one may not be; joining a lost track to a track opened
//! where its picture was followed to; narrowing the lost faces' regions to
//! where their pictures are found, and keeping the tracks of those followed
//! to the detection frame (`FaceTracker::refresh`); taking the pictures of
//! the faces seen on the detection frame, to follow them after the next
//! one.

use super::super::coverage::{coasting_region, holds_middle, search_bound};
use super::super::detector::FaceBox;
use super::super::follow_forward::{follow_forward, joins, Sighting};
use super::super::tracker::Track;
use super::{detected_box, BlurStage};

impl<T> BlurStage<T> {
    /// Joins a lost track to a track opened on the detection frame where
    /// the lost face's picture was followed to, frame by frame: the
    /// detection came too far from the lost track's course for the tracker
    /// to match them (a face found only now and then drifts further than
    /// its size between detections). Unjoined, the face would go on as two
    /// tracks: a new face, whose picture is refused where the other track's
    /// growing region lies, and an empty track coasting beside it. The
    /// picture must end on exactly one new face's detection, and no other
    /// lost face's on the same one (`follow_forward::joins`); on the held
    /// frames a match on any other track's region is refused, and on the
    /// detection frame one on a face a track was matched to (a refreshed
    /// track's course that took a detection counts as matched, as the
    /// track coasting from its detection would have been). `before`: the
    /// tracks at the previous detection, `coasted[i]` on held frame `i`,
    /// `after` now. The tracks after, and the lost tracks joined.
    pub(super) fn rejoin_lost(
        &mut self,
        before: &[Track],
        coasted: &[Vec<Track>],
        after: Vec<Track>,
        detections: &[FaceBox],
        motions: &[Option<(f32, f32)>],
    ) -> (Vec<Track>, Vec<u64>) {
        let opened = |t: &Track| t.detections == 1 && t.frames_since_seen == 0;
        let detected = |t: &Track| (t.id, detected_box(detections, t));
        let new: Vec<(u64, FaceBox)> = after.iter().filter(|t| opened(t)).map(detected).collect();
        let lost_now = after.iter().filter(|t| t.frames_since_seen > 0);
        let on_detection_frame: Vec<(u64, FaceBox)> =
            lost_now.map(|t| (t.id, self.coasting_on_detection_frame(t, before, motions))).collect();
        // Only a lost face with a new face found inside its region now.
        let near_new = |b: &FaceBox| new.iter().any(|(_, d)| holds_middle(b, d));
        let candidates: Vec<Sighting> = self
            .sightings
            .iter()
            .filter(|s| on_detection_frame.iter().any(|(id, b)| *id == s.id && near_new(b)))
            .cloned()
            .collect();
        if candidates.is_empty() {
            return (after, Vec::new());
        }
        // On the held frames, every track's coasting region: where a face
        // not yet placed between the detections could be.
        let mut places: Vec<Vec<(u64, FaceBox)>> = coasted
            .iter()
            .map(|tracks| tracks.iter().map(|t| (t.id, coasting_region(t, &self.config))).collect())
            .collect();
        let is_lost = |id: u64| on_detection_frame.iter().any(|(lost, _)| *lost == id);
        let tracks = (coasted, after.as_slice());
        let lost_on = |frame: &Vec<(u64, FaceBox)>| frame.iter().copied().filter(|(id, _)| is_lost(*id)).collect();
        let mut bounds: Vec<Vec<(u64, FaceBox)>> =
            places.iter().enumerate().map(|(i, frame)| self.search_bounds_on(tracks, i, lost_on(frame))).collect();
        bounds.push(self.search_bounds_on(tracks, coasted.len(), on_detection_frame.clone()));
        let matched = after.iter().filter(|t| t.frames_since_seen == 0 && !opened(t)).map(detected);
        places.push(on_detection_frame.iter().copied().chain(matched).collect());
        let pairs = {
            let Some(frames) = self.held_frames(motions) else { return (after, Vec::new()) };
            let (found, _) = follow_forward(&frames, &candidates, &bounds, &places, &self.config);
            joins(found.last().map(Vec::as_slice).unwrap_or_default(), &new)
        };
        let mut joined = Vec::new();
        for (lost, new) in pairs {
            let Some(detection) = after.iter().find(|t| t.id == new).map(|t| detected_box(detections, t)) else {
                continue;
            };
            if self.tracker.join(lost, new, &detection) {
                log::trace!("face track {new} is lost track {lost}, followed there by its picture");
                joined.push(lost);
            }
        }
        if joined.is_empty() {
            return (after, joined);
        }
        (self.tracker.tracks().to_vec(), joined)
    }

    /// Narrows the regions of the faces lost since the previous detection
    /// (`regions[i]`: every face's on buffered frame `i`) to where their
    /// pictures are found, frame by frame (`follow_forward.rs`). Lost: on a
    /// held frame, a face of `tracked` (whose entries lead each frame's
    /// regions) not seen at both detections (`followed`); on the detection
    /// frame, a track of `after` (whose regions it holds, in order) not
    /// found; `coasted[i]`: the tracks on held frame `i` (for the search
    /// bounds). Keeps the tracks of the faces followed to the detection
    /// frame ([`Self::keep_followed`]).
    pub(super) fn follow_lost_forward(
        &mut self,
        (coasted, after): (&[Vec<Track>], &[Track]),
        tracked: &[Vec<(u64, FaceBox)>],
        followed: &[u64],
        motions: &[Option<(f32, f32)>],
        regions: &mut [Vec<(u64, FaceBox)>],
    ) {
        let sightings = std::mem::take(&mut self.sightings);
        if sightings.is_empty() {
            return;
        }
        // Where each lost face's entry is in `regions`: its coasting region.
        let mut lost_at: Vec<Vec<usize>> = tracked
            .iter()
            .map(|frame| (0..frame.len()).filter(|&j| !followed.contains(&frame[j].0)).collect())
            .collect();
        lost_at.push((0..after.len()).filter(|&j| after[j].frames_since_seen > 0).collect());
        let entries = |index: usize, at: &[usize]| -> Vec<(u64, FaceBox)> {
            at.iter().filter_map(|&j| regions.get(index)?.get(j).copied()).collect()
        };
        let bounds: Vec<Vec<(u64, FaceBox)>> = lost_at
            .iter()
            .enumerate()
            .map(|(i, at)| self.search_bounds_on((coasted, after), i, entries(i, at)))
            .collect();
        let (found, carried) = {
            let Some(frames) = self.held_frames(motions) else { return };
            follow_forward(&frames, &sightings, &bounds, regions, &self.config)
        };
        for ((frame, found), at) in regions.iter_mut().zip(&found).zip(&lost_at) {
            for traced in found {
                let entry = at.iter().find(|&&j| frame.get(j).is_some_and(|(id, _)| *id == traced.id));
                if let Some(&j) = entry {
                    frame[j].1 = traced.region;
                }
            }
        }
        self.keep_followed(&carried);
        self.sightings = carried;
    }

    /// Where the lost faces are searched for by their pictures on buffered
    /// frame `index`, from their coasting regions there (`lost`): a
    /// refreshed track's course's region instead (`coverage::search_bound`).
    /// The tracks there are `coasted[index]` on a held frame, `after` on the
    /// detection frame.
    fn search_bounds_on(
        &self,
        (coasted, after): (&[Vec<Track>], &[Track]),
        index: usize,
        lost: Vec<(u64, FaceBox)>,
    ) -> Vec<(u64, FaceBox)> {
        let tracks = coasted.get(index).map_or(after, Vec::as_slice);
        lost.into_iter().map(|(id, region)| (id, search_bound(tracks, id, region, &self.config))).collect()
    }

    /// A face followed to the detection frame on every frame (`carried`) is
    /// seen there: its track is kept and coasts on from where it was found.
    fn keep_followed(&mut self, carried: &[Sighting]) {
        for sighting in carried {
            if self.tracker.refresh(sighting.id, &sighting.found_region()) {
                log::trace!("face track {} kept where its picture was followed to", sighting.id);
            }
        }
    }

    /// Adds the pictures of the faces the detector found on the newest
    /// buffered frame to the sightings, to follow them forward if the next
    /// detection loses them. `after` is the tracks as the detector left
    /// them: a track refreshed where its picture was followed to is not
    /// seen there, and keeps the picture it was followed by (carried)
    /// rather than one cut from a detection box that is not its face's.
    pub(super) fn take_sightings(&mut self, after: &[Track], detections: &[FaceBox]) {
        let Some(frames) = self.held_frames(&[]) else { return };
        let Some(newest) = frames.lumas.last() else { return };
        let seen = after.iter().filter(|t| t.frames_since_seen == 0);
        let fresh: Vec<Sighting> =
            seen.filter_map(|t| Sighting::take(newest, frames.size, t, &detected_box(detections, t))).collect();
        self.sightings.extend(fresh);
    }
}
