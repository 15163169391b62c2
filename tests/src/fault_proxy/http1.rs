//! Just enough HTTP/1.1 for the fault proxy: message heads (RFC 9112 §2–§5)
//! and the body framing rules of RFC 9112 §6.

use std::io::{self, BufRead, Read, Write};

use thiserror::Error;

/// Heads larger than this are refused (a test client never sends one).
const MAX_HEAD_BYTES: usize = 64 * 1024;

#[derive(Debug, Error)]
pub(super) enum Http1Error {
    #[error("HTTP/1.1 i/o: {0}")]
    Io(#[from] io::Error),
    #[error("malformed HTTP/1.1 message: {0}")]
    Malformed(String),
}

/// A request or response head: the start line and the header fields, in order.
#[derive(Debug, Clone)]
pub(super) struct Head {
    pub start_line: String,
    pub headers: Vec<(String, String)>,
}

/// How the body after a head is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

impl Head {
    /// The first field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Does any `name` field list `token` (comma-separated, case-insensitive)?
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// `Content-Length`, when present.
    pub fn content_length(&self) -> Result<Option<u64>, Http1Error> {
        self.header("content-length")
            .map(|v| v.trim().parse().map_err(|_| Http1Error::Malformed(format!("Content-Length {v:?}"))))
            .transpose()
    }

    /// The request line's (method, target).
    pub fn method_and_target(&self) -> Result<(&str, &str), Http1Error> {
        let mut parts = self.start_line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(method), Some(target), Some(version)) if version.starts_with("HTTP/1.") => Ok((method, target)),
            _ => Err(Http1Error::Malformed(format!("request line {:?}", self.start_line))),
        }
    }

    /// The status line's code (the reason phrase may be empty, as node sends it).
    pub fn status(&self) -> Result<u16, Http1Error> {
        let mut parts = self.start_line.split(' ');
        match (parts.next(), parts.next().map(str::parse)) {
            (Some(version), Some(Ok(code))) if version.starts_with("HTTP/1.") => Ok(code),
            _ => Err(Http1Error::Malformed(format!("status line {:?}", self.start_line))),
        }
    }

    /// The framing of a response to a request with method `method` (RFC 9112 §6.3).
    pub fn response_framing(&self, method: &str) -> Result<Framing, Http1Error> {
        let status = self.status()?;
        if method.eq_ignore_ascii_case("HEAD") || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(Framing::Empty);
        }
        if self.header("transfer-encoding").is_some() {
            return Ok(if self.has_token("transfer-encoding", "chunked") {
                Framing::Chunked
            } else {
                Framing::UntilClose
            });
        }
        Ok(self.content_length()?.map_or(Framing::UntilClose, Framing::Length))
    }

    /// Writes the head, leaving out the fields named in `skip`.
    pub fn write_to(&self, out: &mut impl Write, skip: &[&str]) -> io::Result<()> {
        let mut text = format!("{}\r\n", self.start_line);
        for (name, value) in &self.headers {
            if !skip.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                text.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        text.push_str("\r\n");
        out.write_all(text.as_bytes())?;
        out.flush()
    }
}

/// Reads one head; `None` when the peer closed before sending a byte.
pub(super) fn read_head(input: &mut impl BufRead) -> Result<Option<Head>, Http1Error> {
    let mut total = 0;
    let mut start_line = None;
    let mut headers = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = input.read_until(b'\n', &mut line)?;
        total += n;
        if n == 0 {
            return match (total, &start_line) {
                (0, None) => Ok(None),
                _ => Err(Http1Error::Malformed("connection closed inside a message head".into())),
            };
        }
        if total > MAX_HEAD_BYTES {
            return Err(Http1Error::Malformed(format!("head longer than {MAX_HEAD_BYTES} bytes")));
        }
        let line = String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string();
        match &start_line {
            // RFC 9112 §2.2: ignore empty lines before the start line.
            None if line.is_empty() => {}
            None => start_line = Some(line),
            Some(_) if line.is_empty() => break,
            Some(_) => {
                let (name, value) =
                    line.split_once(':').ok_or_else(|| Http1Error::Malformed(format!("header line {line:?}")))?;
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
    }
    let start_line = start_line.unwrap_or_default();
    Ok(Some(Head { start_line, headers }))
}

/// Copies a body framed as `framing` from `input` to `out` unchanged.
pub(super) fn relay_body(input: &mut impl BufRead, out: &mut impl Write, framing: Framing) -> Result<(), Http1Error> {
    match framing {
        Framing::Empty => {}
        Framing::Length(n) => copy_exact(input, out, n)?,
        Framing::UntilClose => {
            io::copy(input, out)?;
        }
        Framing::Chunked => relay_chunked(input, out)?,
    }
    out.flush()?;
    Ok(())
}

/// Reads and drops `n` bytes.
pub(super) fn discard(input: &mut impl BufRead, n: u64) -> Result<(), Http1Error> {
    copy_exact(input, &mut io::sink(), n)
}

fn copy_exact(input: &mut impl BufRead, out: &mut impl Write, n: u64) -> Result<(), Http1Error> {
    let copied = io::copy(&mut input.take(n), out)?;
    if copied < n {
        return Err(
            io::Error::new(io::ErrorKind::UnexpectedEof, format!("body ended after {copied} of {n} bytes")).into()
        );
    }
    Ok(())
}

/// RFC 9112 §7.1: chunk-size lines, chunk data, the last chunk, trailers.
fn relay_chunked(input: &mut impl BufRead, out: &mut impl Write) -> Result<(), Http1Error> {
    loop {
        let line = relay_line(input, out)?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| Http1Error::Malformed(format!("chunk size line {line:?}")))?;
        if size == 0 {
            // Trailer fields, then the empty line.
            while !relay_line(input, out)?.is_empty() {}
            return Ok(());
        }
        copy_exact(input, out, size)?;
        relay_line(input, out)?;
    }
}

/// Copies one line (CRLF included) and returns it without the line ending.
fn relay_line(input: &mut impl BufRead, out: &mut impl Write) -> Result<String, Http1Error> {
    let mut line = Vec::new();
    if input.read_until(b'\n', &mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "chunked body cut short").into());
    }
    out.write_all(&line)?;
    Ok(String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_node_status_line_with_an_empty_reason_and_relays_a_chunked_body() {
        let wire = b"HTTP/1.1 201 \r\nLocation: http://h/files/x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nNEXT";
        let mut input = &wire[..];
        let head = read_head(&mut input).unwrap().unwrap();
        assert_eq!(head.status().unwrap(), 201);
        assert_eq!(head.header("location"), Some("http://h/files/x"));
        assert_eq!(head.response_framing("POST").unwrap(), Framing::Chunked);
        assert_eq!(head.response_framing("HEAD").unwrap(), Framing::Empty);
        let mut out = Vec::new();
        relay_body(&mut input, &mut out, Framing::Chunked).unwrap();
        assert_eq!(out, b"3\r\nabc\r\n0\r\n\r\n");
        assert_eq!(input, b"NEXT");
    }

    #[test]
    fn reads_a_request_head_and_its_tokens() {
        let wire = b"\r\nPATCH /files/x HTTP/1.1\r\nContent-Length: 12\r\nExpect: 100-continue\r\nConnection: keep-alive, close\r\n\r\n";
        let head = read_head(&mut &wire[..]).unwrap().unwrap();
        assert_eq!(head.method_and_target().unwrap(), ("PATCH", "/files/x"));
        assert_eq!(head.content_length().unwrap(), Some(12));
        assert!(head.has_token("expect", "100-continue"));
        assert!(head.has_token("connection", "close"));
        assert!(read_head(&mut &b""[..]).unwrap().is_none());
        assert!(read_head(&mut &b"GET / HTTP/1.1\r\nHost"[..]).is_err());
    }
}
