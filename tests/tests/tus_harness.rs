//! The upload test harness itself, proven with curl rather than our client:
//! the real tus server stores what it is sent, and the fault proxy counts
//! and injects exactly what it claims to.
//!
//! Observed with @tus/server 2.4.5 + @tus/file-store 2.1.1:
//! - Location is an absolute URL built from the request's Host header, so
//!   through the proxy it points at the proxy;
//! - a PATCH cut mid-body keeps a prefix of the bytes that reached the server
//!   (all of them, or up to ~110 kB fewer: node drops what it had buffered
//!   and not yet written); HEAD reports exactly what is on disk, and the
//!   upload resumes from there;
//! - a client killed mid-PATCH: what it had written to its socket (on
//!   loopback, a whole 1 MiB body) still reaches the server and completes
//!   the upload; only `CutAfterBodyBytes` leaves a partial upload for sure;
//! - an upload whose files are gone answers 404 (410 only when the record
//!   outlives the data, or with an expiration period configured).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use egocap_e2e::fault_proxy::{FaultAction, FaultProxy, RequestOutcome};
use egocap_e2e::tus_server::TusServer;
use egocap_e2e::{tools, HarnessError, Result};

const FILE_LEN: usize = 1024 * 1024;

#[test]
fn creation_and_patch_through_the_proxy_store_the_file_byte_identical() -> Result<()> {
    let h = Harness::start()?;
    let file = h.file("segment.bin", FILE_LEN)?;
    let url = h.create(FILE_LEN, Some("filename c2VnbWVudC5tcDQ="), None)?;
    assert!(url.starts_with(&h.proxy.endpoint()), "Location {url} does not point at the proxy");

    let reply = h.patch(&url, 0, &file, None)?;
    assert_eq!(reply.status, 204);
    assert_eq!(reply.header("upload-offset"), Some(FILE_LEN.to_string()));

    let uploads = h.server.uploads()?;
    assert_eq!(uploads.len(), 1);
    assert!(uploads[0].is_complete());
    assert_eq!(uploads[0].sha256_hex()?, tools::sha256_hex(&file)?);
    assert_eq!(uploads[0].metadata.get("filename").map(String::as_str), Some("segment.mp4"));
    assert_eq!(h.proxy.patch_body_bytes_forwarded(), FILE_LEN as u64);

    let log = h.proxy.log();
    let seen: Vec<_> = log.iter().map(|r| (r.method.as_str(), r.status())).collect();
    assert_eq!(seen, [("POST", Some(201)), ("PATCH", Some(204))]);
    assert_eq!(log[0].upload_metadata.as_deref(), Some("filename c2VnbWVudC5tcDQ="));
    assert_eq!((log[1].upload_offset, log[1].body_bytes_forwarded), (Some(0), FILE_LEN as u64));
    assert!(url.ends_with(&log[1].path));
    Ok(())
}

#[test]
fn a_patch_cut_mid_body_keeps_the_bytes_that_reached_the_server() -> Result<()> {
    let h = Harness::start()?;
    let file = h.file("segment.bin", FILE_LEN)?;
    let url = h.create(FILE_LEN, None, None)?;
    h.proxy.push_fault("PATCH", FaultAction::CutAfterBodyBytes(300_000));

    let cut = h.patch(&url, 0, &file, None);
    assert!(cut.is_err(), "curl succeeded through a cut connection: {cut:?}");
    assert_eq!(h.proxy.pending_faults(), 0);
    let last = h.proxy.log().pop();
    assert_eq!(last.map(|r| (r.outcome, r.body_bytes_forwarded)), Some((RequestOutcome::Cut, 300_000)));

    let head = h.head(&url, None)?;
    assert_eq!(head.status, 200);
    let offset: u64 = head.header("upload-offset").and_then(|o| o.parse().ok()).unwrap_or(u64::MAX);
    assert_eq!(offset, h.server.uploads()?[0].stored_bytes);
    // file-store keeps a prefix of what reached it: all 300 000 bytes in most
    // runs, sometimes less (node drops what it had buffered but not yet
    // written when the request aborts). Only HEAD tells the client.
    assert!(offset <= 300_000, "the server claims more than it was sent: {offset}");

    let rest = h.tail_of(&file, offset)?;
    let reply = h.patch(&url, offset, &rest, None)?;
    assert_eq!(reply.status, 204);
    let upload = &h.server.uploads()?[0];
    assert!(upload.is_complete());
    assert_eq!(upload.sha256_hex()?, tools::sha256_hex(&file)?);
    assert_eq!(h.proxy.patch_body_bytes_forwarded(), 300_000 + FILE_LEN as u64 - offset);
    Ok(())
}

#[test]
fn an_injected_503_is_answered_once_then_requests_pass() -> Result<()> {
    let h = Harness::start()?;
    h.proxy.push_fault("POST", FaultAction::Respond(503));
    assert!(matches!(h.create(10, None, None), Err(HarnessError::Layout(e)) if e.contains("503")));
    h.create(10, None, None)?;
    let statuses: Vec<_> = h.proxy.log().iter().map(|r| r.status()).collect();
    assert_eq!(statuses, [Some(503), Some(201)]);
    assert_eq!(h.server.uploads()?.len(), 1, "the 503 reached the server");
    Ok(())
}

#[test]
fn the_bearer_check_refuses_a_wrong_token_and_passes_the_right_one() -> Result<()> {
    let h = Harness::start()?;
    h.proxy.require_bearer(Some("token-2".into()));
    assert!(h.create(FILE_LEN, None, Some("token-1")).is_err());
    assert!(h.create(FILE_LEN, None, None).is_err());
    let url = h.create(FILE_LEN, None, Some("token-2"))?;
    // A refused PATCH (its body drained or never sent) forwards nothing.
    let file = h.file("segment.bin", FILE_LEN)?;
    assert_eq!(h.patch(&url, 0, &file, Some("token-1"))?.status, 401);
    assert_eq!(h.proxy.patch_body_bytes_forwarded(), 0);
    assert_eq!(h.patch(&url, 0, &file, Some("token-2"))?.status, 204);

    let statuses: Vec<_> = h.proxy.log().iter().map(|r| r.status()).collect();
    assert_eq!(statuses, [Some(401), Some(401), Some(201), Some(401), Some(204)]);
    assert_eq!(h.server.uploads()?.len(), 1);
    Ok(())
}

#[test]
fn a_restarted_server_still_knows_the_partial_upload() -> Result<()> {
    let mut h = Harness::start()?;
    let file = h.file("segment.bin", FILE_LEN)?;
    let first_half = h.file_prefix(&file, 400_000)?;
    let url = h.create(FILE_LEN, None, None)?;
    assert_eq!(h.patch(&url, 0, &first_half, None)?.status, 204);

    let addr = h.server.addr();
    h.server.restart()?;
    assert_eq!(h.server.addr(), addr);
    let head = h.head(&url, None)?;
    assert_eq!((head.status, head.header("upload-offset")), (200, Some("400000".into())));

    let rest = h.tail_of(&file, 400_000)?;
    assert_eq!(h.patch(&url, 400_000, &rest, None)?.status, 204);
    assert_eq!(h.server.uploads()?[0].sha256_hex()?, tools::sha256_hex(&file)?);
    Ok(())
}

#[test]
fn an_expired_upload_answers_404() -> Result<()> {
    let h = Harness::start()?;
    let url = h.create(FILE_LEN, None, None)?;
    let id = h.server.uploads()?[0].id.clone();
    h.server.expire(&id)?;
    assert!(h.server.uploads()?.is_empty());
    assert_eq!(h.head(&url, None)?.status, 404);
    let file = h.file("segment.bin", 1000)?;
    assert_eq!(h.patch(&url, 0, &file, None)?.status, 404);
    Ok(())
}

#[test]
fn a_patch_at_the_wrong_offset_is_relayed_as_409() -> Result<()> {
    let h = Harness::start()?;
    let file = h.file("segment.bin", FILE_LEN)?;
    let url = h.create(FILE_LEN + 5, None, None)?;
    // The server answers before reading the body, and closes.
    assert_eq!(h.patch(&url, 5, &file, None)?.status, 409);
    assert_eq!(h.server.uploads()?[0].stored_bytes, 0);
    assert_eq!(h.patch(&url, 0, &file, None)?.status, 204);
    Ok(())
}

#[test]
fn a_stalled_request_times_curl_out_and_the_next_one_passes() -> Result<()> {
    let h = Harness::start()?;
    let url = h.create(10, None, None)?;
    h.proxy.push_fault("HEAD", FaultAction::Stall);
    let out = curl(&["-sS", "--max-time", "2", "-I", "-H", "Tus-Resumable: 1.0.0", &url])?;
    assert_eq!(out.status.code(), Some(28), "curl did not time out: {out:?}");
    assert_eq!(h.proxy.log().last().map(|r| r.outcome), Some(RequestOutcome::Stalled));
    assert_eq!(h.head(&url, None)?.status, 200);
    Ok(())
}

#[test]
fn one_connection_carries_several_requests() -> Result<()> {
    let h = Harness::start()?;
    let url = h.create(10, None, None)?;
    let head = ["-sS", "-o", "/dev/null", "-w", "%{num_connects}\n", "-I", "-H", "Tus-Resumable: 1.0.0", &url];
    let mut args = head.to_vec();
    for _ in 0..2 {
        args.push("--next");
        args.extend(head);
    }
    let out = curl(&args)?;
    assert!(out.status.success(), "{out:?}");
    // curl connected once, then reused the connection twice.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n0\n0\n");
    let heads: Vec<_> = h.proxy.log().iter().skip(1).map(|r| (r.method.clone(), r.status())).collect();
    assert_eq!(heads, vec![("HEAD".to_string(), Some(200)); 3]);
    Ok(())
}

#[test]
fn the_throttle_holds_a_patch_back_and_a_killed_client_leaves_a_consistent_offset() -> Result<()> {
    let h = Harness::start()?;
    let file = h.file("segment.bin", FILE_LEN)?;
    let url = h.create(FILE_LEN, None, None)?;
    // 1 MiB at 100 kB/s takes ten seconds; the kill lands after about half of one.
    h.proxy.set_upstream_rate(Some(100_000));
    let mut child = Command::new("curl")
        .args(patch_args(&url, 0, &file, None))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| HarnessError::Io { path: "curl".into(), reason: e.to_string() })?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while h.proxy.patch_body_bytes_forwarded() < 50_000 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let forwarded_at_kill = h.proxy.patch_body_bytes_forwarded();
    assert!(forwarded_at_kill >= 50_000 && forwarded_at_kill < FILE_LEN as u64 / 2, "forwarded {forwarded_at_kill}");

    // What curl had written before dying sits in socket buffers (on
    // loopback, likely all of it) and still reaches the server.
    h.proxy.set_upstream_rate(None);
    let offset = wait_for_offset(&h, &url)?;
    let forwarded = h.proxy.patch_body_bytes_forwarded();
    assert!(offset <= forwarded && forwarded <= FILE_LEN as u64, "offset {offset}, forwarded {forwarded}");
    assert_eq!(h.server.uploads()?[0].stored_bytes, offset);
    Ok(())
}

/// HEAD until the log shows the killed PATCH as finished (the proxy notices
/// the client's death on its next read), then the offset.
fn wait_for_offset(h: &Harness, url: &str) -> Result<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !h.proxy.log().iter().any(|r| r.method == "PATCH") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let head = h.head(url, None)?;
    head.header("upload-offset")
        .and_then(|o| o.parse().ok())
        .ok_or_else(|| HarnessError::Layout(format!("HEAD gave no offset: {head:?}")))
}

/// A tus server behind a fault proxy, storing in a temporary directory.
struct Harness {
    dir: tempfile::TempDir,
    server: TusServer,
    proxy: FaultProxy,
}

/// A response as curl dumped it (`-D -`): the final status and its headers.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
    }
}

impl Harness {
    fn start() -> Result<Harness> {
        let dir =
            tempfile::tempdir().map_err(|e| HarnessError::Io { path: "tempdir".into(), reason: e.to_string() })?;
        let server = TusServer::start(&dir.path().join("store"))?;
        let proxy = FaultProxy::start(server.addr())?;
        Ok(Harness { dir, server, proxy })
    }

    /// A file of `len` deterministic, incompressible-looking bytes.
    fn file(&self, name: &str, len: usize) -> Result<PathBuf> {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect();
        self.write(name, &bytes)
    }

    fn file_prefix(&self, file: &Path, len: usize) -> Result<PathBuf> {
        let bytes = read(file)?;
        self.write("prefix.bin", &bytes[..len])
    }

    fn tail_of(&self, file: &Path, offset: u64) -> Result<PathBuf> {
        let bytes = read(file)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
        self.write("tail.bin", &bytes[start..])
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes)
            .map_err(|e| HarnessError::Io { path: path.display().to_string(), reason: e.to_string() })?;
        Ok(path)
    }

    /// POST to the proxy's endpoint; the `Location` of a 201, else an error naming the status.
    fn create(&self, length: usize, metadata: Option<&str>, token: Option<&str>) -> Result<String> {
        let length = format!("Upload-Length: {length}");
        let mut args = vec!["-sS", "-D", "-", "-o", "/dev/null", "-X", "POST", "-H", "Tus-Resumable: 1.0.0"];
        args.extend(["-H", &length]);
        let metadata = metadata.map(|m| format!("Upload-Metadata: {m}"));
        if let Some(metadata) = &metadata {
            args.extend(["-H", metadata]);
        }
        let auth = bearer(token);
        if let Some(auth) = &auth {
            args.extend(["-H", auth]);
        }
        let endpoint = self.proxy.endpoint();
        args.push(&endpoint);
        let reply = reply(&curl_checked(&args)?)?;
        match (reply.status, reply.header("location")) {
            (201, Some(location)) => Ok(location),
            _ => Err(HarnessError::Layout(format!("creation answered {reply:?}"))),
        }
    }

    /// PATCH `file` at `offset`; an error when curl fails (e.g. a cut connection).
    fn patch(&self, url: &str, offset: u64, file: &Path, token: Option<&str>) -> Result<Reply> {
        let args = patch_args(url, offset, file, token);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        reply(&curl_checked(&args)?)
    }

    fn head(&self, url: &str, token: Option<&str>) -> Result<Reply> {
        let mut args = vec!["-sS", "-I", "-H", "Tus-Resumable: 1.0.0"];
        let auth = bearer(token);
        if let Some(auth) = &auth {
            args.extend(["-H", auth]);
        }
        args.push(url);
        reply(&curl_checked(&args)?)
    }
}

fn patch_args(url: &str, offset: u64, file: &Path, token: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> =
        ["-sS", "-D", "-", "-o", "/dev/null", "-X", "PATCH", "-H", "Tus-Resumable: 1.0.0"].map(String::from).into();
    args.extend(["-H".into(), format!("Upload-Offset: {offset}")]);
    args.extend(["-H".into(), "Content-Type: application/offset+octet-stream".into()]);
    args.extend(bearer(token).map(|auth| ["-H".into(), auth]).into_iter().flatten());
    args.extend(["--data-binary".into(), format!("@{}", file.display()), url.into()]);
    args
}

fn bearer(token: Option<&str>) -> Option<String> {
    token.map(|t| format!("Authorization: Bearer {t}"))
}

fn curl(args: &[&str]) -> Result<Output> {
    Command::new("curl").args(args).stdin(Stdio::null()).output().map_err(|e| HarnessError::ToolMissing {
        tool: "curl".into(),
        package: format!("curl ({e}); run `bash scripts/install-tus-server.sh`"),
    })
}

fn curl_checked(args: &[&str]) -> Result<Output> {
    let out = curl(args)?;
    if !out.status.success() {
        return Err(HarnessError::ToolFailed {
            command: format!("curl {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(out)
}

/// The last response head in curl's `-D -` dump (after any `100 Continue`).
fn reply(out: &Output) -> Result<Reply> {
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text.rfind("HTTP/1.1 ").ok_or_else(|| HarnessError::Layout(format!("no response in {text:?}")))?;
    let mut lines = text[start..].lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok());
    let status = status.ok_or_else(|| HarnessError::Layout(format!("no status line in {text:?}")))?;
    let headers = lines
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Ok(Reply { status, headers })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| HarnessError::Io { path: path.display().to_string(), reason: e.to_string() })
}
