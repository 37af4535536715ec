//! An incremental `text/event-stream` parser: bytes in (split anywhere, even inside a UTF-8
//! sequence), frames out. It knows SSE framing only, not Dify's events (`stream.rs` does).
//!
//! It follows the WHATWG rules (LF, CRLF or CR line ends; `:` comments; one optional space after
//! the colon; multi-line `data` joined with `\n`; a leading BOM ignored) with one departure:
//! a frame that has an `event:` line but no `data:` is still emitted, because Dify's keep-alive is
//! exactly that, a bare `event: ping`.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseFrame {
    /// The `event:` field, when the frame had a non-empty one.
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`; `None` when the frame had no `data:` line at all.
    pub data: Option<String>,
    pub id: Option<String>,
    /// The `retry:` field in milliseconds.
    pub retry: Option<u64>,
}

impl SseFrame {
    fn is_empty(&self) -> bool {
        self.event.is_none() && self.data.is_none() && self.id.is_none() && self.retry.is_none()
    }
}

/// Feed it chunks with [`SseParser::push`]; call [`SseParser::finish`] at end of stream.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The last chunk ended in `\r`: a `\n` opening the next chunk belongs to the same line end.
    after_cr: bool,
    first_line_done: bool,
    frame: SseFrame,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Consumes a chunk and returns the frames it completed, in order.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<SseFrame> {
        let mut out = Vec::new();
        if self.after_cr && !bytes.is_empty() {
            self.after_cr = false;
            if bytes[0] == b'\n' {
                bytes = &bytes[1..];
            }
        }
        while let Some(pos) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.line.extend_from_slice(&bytes[..pos]);
            self.end_line(&mut out);
            let is_cr = bytes[pos] == b'\r';
            bytes = &bytes[pos + 1..];
            if is_cr {
                match bytes.first() {
                    Some(b'\n') => bytes = &bytes[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(bytes);
        out
    }

    /// End of stream: an unterminated last line is taken as complete and a frame that was never
    /// closed by a blank line is returned, so the caller can decide whether it is usable (a cut
    /// connection usually leaves half a JSON object here).
    pub fn finish(&mut self) -> Option<SseFrame> {
        if !self.line.is_empty() {
            // A non-empty line never dispatches, so nothing is lost by discarding `out`.
            self.end_line(&mut Vec::new());
        }
        self.after_cr = false;
        let pending = std::mem::take(&mut self.frame);
        (!pending.is_empty()).then_some(pending)
    }

    /// Bytes held for an incomplete line or frame; the caller bounds it against a hostile stream.
    pub fn buffered_len(&self) -> usize {
        self.line.len() + self.frame.data.as_ref().map_or(0, String::len)
    }

    fn end_line(&mut self, out: &mut Vec<SseFrame>) {
        let mut raw = std::mem::take(&mut self.line);
        if !self.first_line_done {
            self.first_line_done = true;
            if raw.starts_with(BOM) {
                raw.drain(..BOM.len());
            }
        }
        if raw.is_empty() {
            let frame = std::mem::take(&mut self.frame);
            if !frame.is_empty() {
                out.push(frame);
            }
            return;
        }
        // Lines are cut at ASCII CR/LF only, which never occur inside a multi-byte sequence, so a
        // complete line decodes whole however the chunks were split.
        let line = String::from_utf8_lossy(&raw);
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.frame.event = (!value.is_empty()).then(|| value.to_string()),
            "data" => match &mut self.frame.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.frame.data = Some(value.to_string()),
            },
            "id" if !value.contains('\0') => self.frame.id = Some(value.to_string()),
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    self.frame.retry = Some(ms);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(s: &str) -> SseFrame {
        SseFrame {
            data: Some(s.to_string()),
            ..Default::default()
        }
    }

    fn event(s: &str) -> SseFrame {
        SseFrame {
            event: Some(s.to_string()),
            ..Default::default()
        }
    }

    fn parse_all(chunks: &[&[u8]]) -> Vec<SseFrame> {
        let mut p = SseParser::new();
        let mut frames: Vec<SseFrame> = chunks.iter().flat_map(|c| p.push(c)).collect();
        frames.extend(p.finish());
        frames
    }

    /// Dify's shapes: compact and spaced JSON, raw Chinese, bare ping, a comment, CRLF, multi-line data.
    const SAMPLE: &str = "\u{feff}data: {\"event\": \"message\", \"answer\": \"你好，\"}\n\n\
        event: ping\n\n\
        : keep-alive comment\n\
        data:{\"event\":\"message\",\"answer\":\"世界🌏\"}\r\n\r\n\
        data: line one\ndata: line two\n\n\
        event: custom\r\ndata: x\r\nid: 7\r\nretry: 3000\r\n\r\n\
        data: {\"event\": \"message_end\"}\n\n";

    fn sample_frames() -> Vec<SseFrame> {
        vec![
            data("{\"event\": \"message\", \"answer\": \"你好，\"}"),
            event("ping"),
            data("{\"event\":\"message\",\"answer\":\"世界🌏\"}"),
            data("line one\nline two"),
            SseFrame {
                event: Some("custom".into()),
                data: Some("x".into()),
                id: Some("7".into()),
                retry: Some(3000),
            },
            data("{\"event\": \"message_end\"}"),
        ]
    }

    #[test]
    fn whole_sample_parses() {
        assert_eq!(parse_all(&[SAMPLE.as_bytes()]), sample_frames());
    }

    #[test]
    fn every_split_point_gives_the_same_frames() {
        let bytes = SAMPLE.as_bytes();
        for i in 0..=bytes.len() {
            let got = parse_all(&[&bytes[..i], &bytes[i..]]);
            assert_eq!(got, sample_frames(), "split at byte {i}");
        }
    }

    #[test]
    fn every_pair_of_split_points_gives_the_same_frames() {
        let bytes = SAMPLE.as_bytes();
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let got = parse_all(&[&bytes[..i], &bytes[i..j], &bytes[j..]]);
                assert_eq!(got, sample_frames(), "split at {i} and {j}");
            }
        }
    }

    #[test]
    fn byte_at_a_time() {
        let chunks: Vec<&[u8]> = SAMPLE.as_bytes().chunks(1).collect();
        assert_eq!(parse_all(&chunks), sample_frames());
    }

    #[test]
    fn lone_cr_ends_lines_even_across_chunks() {
        assert_eq!(
            parse_all(&[b"data: a\r", b"\rdata: b\r\r"]),
            vec![data("a"), data("b")]
        );
        assert_eq!(parse_all(&[b"data: a\r", b"\n", b"\r\n"]), vec![data("a")]);
    }

    #[test]
    fn field_edge_cases() {
        // No space after the colon, only one space stripped, a field with no colon, empty data.
        assert_eq!(
            parse_all(&[b"data:a\ndata:  b\ndata\n\n"]),
            vec![data("a\n b\n")]
        );
        // Unknown fields and comments alone dispatch nothing.
        assert_eq!(parse_all(&[b"foo: bar\n\n: hi\n\n\n\n"]), vec![]);
        // `event:` with an empty value is no event name.
        assert_eq!(parse_all(&[b"event:\ndata: x\n\n"]), vec![data("x")]);
        // A bad retry value is ignored, the frame is not.
        assert_eq!(parse_all(&[b"retry: soon\ndata: x\n\n"]), vec![data("x")]);
    }

    #[test]
    fn finish_returns_an_unterminated_frame() {
        assert_eq!(
            parse_all(&[b"data: {\"event\": \"message_end\"}"]),
            vec![data("{\"event\": \"message_end\"}")]
        );
        assert_eq!(parse_all(&[b"data: a\n"]), vec![data("a")]);
        assert_eq!(parse_all(&[b""]), vec![]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let frames = parse_all(&[b"data: \xff\xfe ok\n\n"]);
        assert_eq!(frames, vec![data("\u{fffd}\u{fffd} ok")]);
    }

    #[test]
    fn buffered_len_tracks_incomplete_input() {
        let mut p = SseParser::new();
        assert!(p.push(b"data: 12345").is_empty());
        assert_eq!(p.buffered_len(), 11);
        assert!(p.push(b"\n").is_empty());
        assert_eq!(p.buffered_len(), 5);
        assert_eq!(p.push(b"\n"), vec![data("12345")]);
        assert_eq!(p.buffered_len(), 0);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        use rand::{rngs::SmallRng, Rng, SeedableRng};
        let mut rng = SmallRng::seed_from_u64(42);
        let alphabet = b"data:event: \r\n\xe4\xbd\xa0\xff{}";
        for _ in 0..2000 {
            let len = rng.gen_range(0..64);
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            let mut p = SseParser::new();
            for chunk in bytes.chunks(rng.gen_range(1..8)) {
                p.push(chunk);
            }
            p.finish();
        }
    }
}
