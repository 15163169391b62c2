//! The share of pipeline CPU spent on signing and sealing: the same frames
//! recorded once through the sealing sink and once through the plaintext
//! sink, each sink's CPU time measured on the worker thread inside
//! `write_segment`, against the process's CPU time for the whole run.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Result;
use egocap_core::age::Identity;
use egocap_core::clock::ClockDomain;
use egocap_core::provenance::consent::{ActiveConsent, ConsentRecord, ConsentTerms, Controller, Notice};
use egocap_core::provenance::identity::{DeviceRegistration, RecipientSet, TrustedRecipientSet};
use egocap_core::provenance::keystore::{FileKeyStore, KeyStore};
use egocap_core::sealer::{SealingSetup, SealingSink};
use egocap_core::segment::FinishedSegment;
use egocap_core::session::{EncoderChoice, RecordingSession, SessionConfig, SessionSummary};
use egocap_core::sink::{PlaintextDirSink, SegmentSink, SinkError};
use egocap_core::source::SourceItem;
use rustix::time::{clock_gettime, ClockId};

use crate::keys::now;
use crate::record::push_item;

/// Counts the CPU time its inner sink spends writing segments.
struct TimedSink {
    inner: Box<dyn SegmentSink>,
    cpu_ns: Arc<AtomicU64>,
}

impl SegmentSink for TimedSink {
    fn write_segment(&mut self, segment: FinishedSegment) -> Result<PathBuf, SinkError> {
        let before = cpu_ns(ClockId::ThreadCPUTime);
        let written = self.inner.write_segment(segment);
        self.cpu_ns.fetch_add(cpu_ns(ClockId::ThreadCPUTime).saturating_sub(before), Ordering::Relaxed);
        written
    }

    fn finish_session(&mut self, summary: &SessionSummary) -> Result<(), SinkError> {
        self.inner.finish_session(summary)
    }
}

fn cpu_ns(clock: ClockId) -> u64 {
    let t = clock_gettime(clock);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

pub fn sealing_share(items: &[SourceItem], config: &SessionConfig, out: &std::path::Path) -> Result<()> {
    let plaintext = Box::new(PlaintextDirSink::create(out, &egocap_core::session::new_session_id())?);
    let (plain_sink_ns, plain_total_ns) = run(items, config, plaintext)?;
    let sealing = Box::new(sealing_sink(out)?);
    let (sealed_sink_ns, sealed_total_ns) = run(items, config, sealing)?;
    let share = |part: u64, whole: u64| 100.0 * part as f64 / whole.max(1) as f64;
    println!("[sealing] {} frames, sealed to one age recipient, signed with Ed25519", items.len());
    println!(
        "  sealing sink (hash + encrypt + sign + write): {:5.2} % of pipeline CPU",
        share(sealed_sink_ns, sealed_total_ns)
    );
    println!(
        "  plaintext sink (write only)                 : {:5.2} % of pipeline CPU",
        share(plain_sink_ns, plain_total_ns)
    );
    println!(
        "  signing + sealing beyond writing            : {:5.2} % (goal <= 3 %)",
        share(sealed_sink_ns, sealed_total_ns) - share(plain_sink_ns, plain_total_ns)
    );
    Ok(())
}

/// (sink CPU ns, process CPU ns) for one recording of `items`.
fn run(items: &[SourceItem], config: &SessionConfig, inner: Box<dyn SegmentSink>) -> Result<(u64, u64)> {
    let cpu = Arc::new(AtomicU64::new(0));
    let sink = TimedSink { inner, cpu_ns: cpu.clone() };
    let before = cpu_ns(ClockId::ProcessCPUTime);
    let session = RecordingSession::start(config.clone(), EncoderChoice::OpenH264, Box::new(sink))?;
    for item in items {
        push_item(&session, item, config.frame_format, true)?;
    }
    session.stop()?;
    Ok((cpu.load(Ordering::Relaxed), cpu_ns(ClockId::ProcessCPUTime) - before))
}

/// A throwaway device, owner and consent, as `egocap demo` makes on disk.
fn sealing_sink(out: &std::path::Path) -> Result<SealingSink> {
    let device = Arc::new(FileKeyStore::ephemeral()?);
    let owner = FileKeyStore::ephemeral()?;
    let identity = Identity::generate()?;
    let set = RecipientSet::sign(&owner, 1, &[identity.recipient()], now())?;
    let terms = ConsentTerms::egocentric_video(
        Controller { name: "bench".into(), contact: "bench".into() },
        "DE",
        Notice::of_text("bench", "en"),
        "worker-bench",
    );
    let consent = ConsentRecord::give(device.as_ref(), terms, now())?;
    let setup = SealingSetup {
        device_registration: DeviceRegistration::sign(device.as_ref(), "desktop", None, now())?,
        recipients: TrustedRecipientSet::check(&set, &owner.public_key()?)?,
        consent: ActiveConsent::check(&consent, &[], &device.public_key()?)?,
        keystore: device,
        clock_domain: ClockDomain::BootTime,
    };
    Ok(SealingSink::create(out, &egocap_core::session::new_session_id(), setup)?)
}
