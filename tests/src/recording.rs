//! A recording made by `egocap record`, as found on disk:
//! `OUT/<session-id>/seg-000000.mp4` + `seg-000000.json`, …, and
//! `OUT/<session-id>/session.json`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

use crate::tools::{json_array, json_i64, json_str};
use crate::{run_egocap, HarnessError, Result};

/// One segment: its MP4 and its sidecar summary.
#[derive(Debug, Clone)]
pub struct Segment {
    pub mp4: PathBuf,
    pub summary: Value,
    pub sequence: i64,
    pub start_ns: i64,
    pub end_ns: i64,
    pub frame_count: i64,
    pub imu_sample_count: i64,
}

#[derive(Debug)]
pub struct Recording {
    /// Keeps the output directory alive for the test's duration.
    _out: Option<TempDir>,
    pub session_dir: PathBuf,
    pub session: Value,
    /// In sequence order.
    pub segments: Vec<Segment>,
}

impl Recording {
    /// Runs `egocap record EXTRA… --plaintext --no-blur --out <tempdir> --quiet` and loads the
    /// result (these recordings test video, IMU and files; blurring has its own tests).
    pub fn record(extra: &[&str]) -> Result<Self> {
        let out =
            tempfile::tempdir().map_err(|e| HarnessError::Io { path: "temp dir".into(), reason: e.to_string() })?;
        let mut args: Vec<std::ffi::OsString> = vec!["record".into()];
        args.extend(extra.iter().map(Into::into));
        args.extend([
            "--plaintext".into(),
            "--no-blur".into(),
            "--out".into(),
            out.path().as_os_str().to_owned(),
            "--quiet".into(),
        ]);
        run_egocap(&args)?;
        let mut recording = Self::load(out.path())?;
        recording._out = Some(out);
        Ok(recording)
    }

    /// Like [`record`](Self::record), into `out`, which is emptied first
    /// and kept afterwards (for a recording shared by several tests).
    pub fn record_into(out: &Path, extra: &[&str]) -> Result<Self> {
        let io = |e: std::io::Error| HarnessError::Io { path: out.display().to_string(), reason: e.to_string() };
        if out.exists() {
            std::fs::remove_dir_all(out).map_err(io)?;
        }
        std::fs::create_dir_all(out).map_err(io)?;
        let mut args: Vec<std::ffi::OsString> = vec!["record".into()];
        args.extend(extra.iter().map(Into::into));
        args.extend([
            "--plaintext".into(),
            "--no-blur".into(),
            "--out".into(),
            out.as_os_str().to_owned(),
            "--quiet".into(),
        ]);
        run_egocap(&args)?;
        Self::load(out)
    }

    /// Reads the single session under `out`.
    pub fn load(out: &Path) -> Result<Self> {
        let dirs: Vec<PathBuf> = read_dir(out)?.into_iter().filter(|p| p.is_dir()).collect();
        let [session_dir] = dirs.as_slice() else {
            return Err(HarnessError::Layout(format!(
                "expected one session directory in {}, found {dirs:?}",
                out.display()
            )));
        };
        let session = read_json(&session_dir.join("session.json"))?;
        let session_id = json_str(&session, "session_id")?;
        let dir_name = session_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if dir_name != session_id {
            return Err(HarnessError::Layout(format!("session directory {dir_name} holds session {session_id}")));
        }
        let mut segments = Vec::new();
        for (position, listed) in json_array(&session, "segments")?.iter().enumerate() {
            let sequence = json_i64(listed, "sequence")?;
            let stem = format!("seg-{sequence:06}");
            let mp4 = session_dir.join(format!("{stem}.mp4"));
            let summary = read_json(&session_dir.join(format!("{stem}.json")))?;
            if &summary != listed {
                return Err(HarnessError::Layout(format!("{stem}.json differs from its entry in session.json")));
            }
            if i64::try_from(position).ok() != Some(sequence) {
                return Err(HarnessError::Layout(format!(
                    "segment {position} in session.json has sequence {sequence}"
                )));
            }
            let file = json_str(&summary, "file")?;
            if Path::new(file).file_name() != mp4.file_name() {
                return Err(HarnessError::Layout(format!("{stem}.json names file {file:?}")));
            }
            if !mp4.is_file() {
                return Err(HarnessError::Layout(format!("{} is missing", mp4.display())));
            }
            segments.push(Segment {
                sequence,
                start_ns: json_i64(&summary, "start_ns")?,
                end_ns: json_i64(&summary, "end_ns")?,
                frame_count: json_i64(&summary, "frame_count")?,
                imu_sample_count: json_i64(&summary, "imu_sample_count")?,
                mp4,
                summary,
            });
        }
        let on_disk = read_dir(session_dir)?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "mp4")).count();
        if on_disk != segments.len() {
            return Err(HarnessError::Layout(format!(
                "{on_disk} MP4 files on disk, {} segments in session.json",
                segments.len()
            )));
        }
        Ok(Self { _out: None, session_dir: session_dir.clone(), session, segments })
    }

    pub fn frames_pushed(&self) -> Result<i64> {
        json_i64(&self.session, "frames_pushed")
    }

    pub fn frames_encoded(&self) -> Result<i64> {
        json_i64(&self.session, "frames_encoded")
    }

    /// Timestamps of the frames the session reports as dropped.
    pub fn dropped_timestamps(&self) -> Result<Vec<i64>> {
        json_array(&self.session, "dropped_frames")?.iter().map(|d| json_i64(d, "timestamp_ns")).collect()
    }
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |e: std::io::Error| HarnessError::Io { path: dir.display().to_string(), reason: e.to_string() };
    let mut paths =
        std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.path())).collect::<Result<Vec<_>, _>>().map_err(io)?;
    paths.sort();
    Ok(paths)
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read(path)
        .map_err(|e| HarnessError::Io { path: path.display().to_string(), reason: e.to_string() })?;
    serde_json::from_slice(&text)
        .map_err(|e| HarnessError::Json { what: path.display().to_string(), reason: e.to_string() })
}
