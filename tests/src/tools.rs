//! Running external programs (ffmpeg, ffprobe, egocap) and failing loudly.

use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::{HarnessError, Result};

/// Runs `command` with no stdin; a missing program or a non-zero exit is an error.
pub fn run_checked(command: &mut Command) -> Result<Output> {
    let program = command.get_program().to_string_lossy().into_owned();
    let rendered = render(command);
    let output = command.stdin(Stdio::null()).output().map_err(|e| {
        if e.kind() == ErrorKind::NotFound {
            let package = if program.starts_with("ff") { "ffmpeg".to_string() } else { program.clone() };
            HarnessError::ToolMissing { tool: program.clone(), package }
        } else {
            HarnessError::ToolFailed { command: rendered.clone(), status: e.to_string(), stderr: String::new() }
        }
    })?;
    if !output.status.success() {
        return Err(HarnessError::ToolFailed {
            command: rendered,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    Ok(output)
}

/// `ffprobe -v error -of json ARGS… FILE`, parsed.
pub fn ffprobe_json(args: &[&str], file: &Path) -> Result<Value> {
    let mut command = Command::new("ffprobe");
    command.args(["-v", "error", "-of", "json"]).args(args).arg(file);
    let output = run_checked(&mut command)?;
    serde_json::from_slice(&output.stdout).map_err(|e| HarnessError::Json {
        what: format!("ffprobe output for {}", file.display()),
        reason: e.to_string(),
    })
}

/// `ffmpeg -nostdin -hide_banner ARGS…`; returns stdout and stderr.
pub fn ffmpeg(args: &[&std::ffi::OsStr]) -> Result<Output> {
    let mut command = Command::new("ffmpeg");
    command.args(["-nostdin", "-hide_banner"]).args(args);
    run_checked(&mut command)
}

fn render(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Field `key` of a JSON object as i64 (JSON numbers or ffprobe's numeric strings).
pub fn json_i64(value: &Value, key: &str) -> Result<i64> {
    let field = value.get(key);
    field.and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))).ok_or_else(|| {
        HarnessError::Json { what: format!("field {key:?}"), reason: format!("not an integer: {field:?}") }
    })
}

/// Field `key` of a JSON object as a string.
pub fn json_str<'a>(value: &'a Value, key: &str) -> Result<&'a str> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| HarnessError::Json { what: format!("field {key:?}"), reason: "missing or not a string".into() })
}

/// Field `key` of a JSON object as an array.
pub fn json_array<'a>(value: &'a Value, key: &str) -> Result<&'a Vec<Value>> {
    value
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| HarnessError::Json { what: format!("field {key:?}"), reason: "missing or not an array".into() })
}

/// SHA-256 of a file, lowercase hex, from coreutils' `sha256sum`.
pub fn sha256_hex(path: &Path) -> Result<String> {
    let output = run_checked(Command::new("sha256sum").arg("--").arg(path))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.split_whitespace().next() {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => Ok(hex.to_string()),
        _ => Err(HarnessError::Layout(format!("sha256sum printed {text:?} for {}", path.display()))),
    }
}
