//! `egocap demo`: the whole path on the embedded defaults, no camera and no
//! server: keys, a consent, a 12 s synthetic recording sealed to the
//! recipient set, its upload through the queue to a local inbox (the
//! embedded stand-in for a tus server), then verification of what arrived.

use std::fs;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::blur::BlurArgs;
use crate::keys::{self, GiveArgs, KeygenArgs, RECIPIENT_IDENTITY};
use crate::record::{self, RecordArgs};
use crate::upload;
use crate::verify;
use egocap_core::upload::{InboxTarget, QueueConfig, RunOutcome, StopSignal};

const DEMO_NOTICE: &str = "You will record yourself doing household chores with a phone on your head. \
The video and motion data train household robots. \
Everything is encrypted for the dataset owner. You can withdraw at any time.\n";

pub fn run(out: &Path) -> Result<()> {
    let keys_dir = out.join("keys");
    keys::keygen(&KeygenArgs { out: keys_dir.clone(), recipients: Vec::new(), set_version: 1 })?;
    let notice = keys_dir.join("notice.txt");
    fs::write(&notice, DEMO_NOTICE)?;
    let consent = keys::give_consent(&GiveArgs {
        keys: keys_dir.clone(),
        worker: "worker-demo-0001".into(),
        notice,
        language: "en".into(),
        controller: "Example Robotics Dataset Ltd".into(),
        contact: "https://example.org/privacy".into(),
        jurisdiction: "DE".into(),
    })?;
    println!("consent   {}", consent.display());
    let args = RecordArgs {
        source: "synthetic".into(),
        duration: Duration::from_secs(12),
        out: out.join("sessions"),
        segment_seconds: 5.0,
        width: 1280,
        height: 720,
        fps: 30,
        bitrate: 4_000_000,
        keyframe_interval: 60,
        rotation: 0,
        imu_to_camera: None,
        quiet: false,
        keys: Some(keys_dir.clone()),
        consent: Some(consent),
        plaintext: false,
        blur: BlurArgs::default(),
        quota_mb: 20_480.0,
        free_floor_mb: 2_048.0,
    };
    let recorded = record::run(&args)?;
    record::report(&recorded);
    let inbox = out.join("inbox");
    println!("uploading to the local inbox {} (1 MiB chunks):", inbox.display());
    let config = QueueConfig { chunk_size: 1 << 20, ..QueueConfig::default() };
    let outcome = upload::upload(&args.out, Box::new(InboxTarget::new(&inbox)), config, true, &StopSignal::new())?;
    if outcome != RunOutcome::Empty {
        bail!("the demo's upload stopped: {outcome:?}");
    }
    let received = inbox.join(recorded.dir.file_name().unwrap_or_default());
    println!("verifying {} as the dataset owner:", received.display());
    let report = verify::verify(&received, &keys_dir.join(RECIPIENT_IDENTITY), None)?;
    verify::print_report(&report);
    if !report.is_ok() {
        bail!("the demo's own recording did not verify");
    }
    Ok(())
}
