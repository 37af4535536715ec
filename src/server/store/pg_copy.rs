//! PostgreSQL's binary `COPY … FROM STDIN (FORMAT binary)` data, for the bulk writes of a new
//! batch (its case snapshots and its work rows): the rows stream in as they are encoded, and the
//! server stores them with its multi-row insert rather than one executor row at a time.
//!
//! The binary format needs no escaping: a text field is its UTF-8 bytes behind their length, so
//! a snapshot's tabs, newlines, backslashes and `\N` reach the table as they are. Layout (the
//! PostgreSQL manual, "COPY", "Binary Format"): an 11-byte signature, a 32-bit flags field and a
//! 32-bit header-extension length (both 0); each row a 16-bit field count and each field a 32-bit
//! length (-1 for NULL) and its bytes (BIGINT: 8 bytes, big-endian); a 16-bit -1 ends the data.
//! The data may be sent in pieces that split a row anywhere.

/// The signature that opens binary COPY data.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Binary COPY data being encoded: [`CopyRows::take`] hands over what is ready to send,
/// [`CopyRows::finish`] the rest with the end marker.
#[derive(Debug)]
pub(super) struct CopyRows {
    buf: Vec<u8>,
}

impl CopyRows {
    /// The data's header, with room for about `capacity` bytes.
    pub(super) fn new(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(SIGNATURE.len() + 8));
        buf.extend_from_slice(SIGNATURE);
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
        buf.extend_from_slice(&0i32.to_be_bytes()); // no header extension
        CopyRows { buf }
    }

    /// Starts a row of `fields` fields (as many as the COPY statement names columns).
    pub(super) fn row(&mut self, fields: u16) -> &mut Self {
        self.buf.extend_from_slice(&fields.to_be_bytes());
        self
    }

    /// A BIGINT field.
    pub(super) fn int8(&mut self, value: i64) -> &mut Self {
        self.buf.extend_from_slice(&8i32.to_be_bytes());
        self.buf.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// A TEXT field, its bytes as they are. Refused above the format's 2 GiB per field, which
    /// no single field of a batch comes near (PostgreSQL itself stores at most 1 GiB). The
    /// store writes its text as JSON ([`CopyRows::json`]); the tests check that against this.
    #[cfg(test)]
    pub(super) fn text(&mut self, value: &str) -> Result<&mut Self, sqlx::Error> {
        let len = i32::try_from(value.len()).map_err(|_| {
            sqlx::Error::Protocol(format!(
                "a COPY text field of {} bytes is over the 2 GiB the format allows",
                value.len()
            ))
        })?;
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(value.as_bytes());
        Ok(self)
    }

    /// A TEXT field holding `value`'s JSON, written straight into the data (no string of its
    /// own in between): the same bytes as `text(&serde_json::to_string(value)?)`.
    pub(super) fn json<T: serde::Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<&mut Self, sqlx::Error> {
        let at = self.buf.len();
        self.buf.extend_from_slice(&0i32.to_be_bytes());
        serde_json::to_writer(&mut self.buf, value)
            .map_err(|e| sqlx::Error::Protocol(format!("a COPY JSON field: {e}")))?;
        let written = self.buf.len() - at - 4;
        let len = i32::try_from(written).map_err(|_| {
            sqlx::Error::Protocol(format!(
                "a COPY JSON field of {written} bytes is over the 2 GiB the format allows"
            ))
        })?;
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(self)
    }

    /// Bytes encoded so far.
    pub(super) fn len(&self) -> usize {
        self.buf.len()
    }

    /// What is encoded so far, to send now; the rows that follow continue it.
    pub(super) fn take(&mut self) -> Vec<u8> {
        let capacity = self.buf.capacity();
        std::mem::replace(&mut self.buf, Vec::with_capacity(capacity))
    }

    /// The rest of the data, with the end marker.
    pub(super) fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

/// Runs `statement` (a `COPY … FROM STDIN (FORMAT binary)`) with `encode` of every item as its
/// data, sent in pieces of about `piece` bytes as they are encoded (the server stores one piece
/// while the next is encoded). Answers the rows the server stored.
pub(super) async fn copy_in<T>(
    conn: &mut sqlx::PgConnection,
    statement: &str,
    piece: usize,
    items: impl IntoIterator<Item = T>,
    mut encode: impl FnMut(&mut CopyRows, T) -> Result<(), sqlx::Error>,
) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut data = CopyRows::new(piece + piece / 4);
    for item in items {
        encode(&mut data, item)?;
        if data.len() >= piece {
            copy.send(data.take()).await?;
        }
    }
    copy.send(data.finish()).await?;
    copy.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<u8> {
        let mut h = b"PGCOPY\n\xff\r\n\0".to_vec();
        h.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        h
    }

    #[test]
    fn empty_data_is_the_header_and_the_end_marker() {
        let mut want = header();
        want.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(CopyRows::new(0).finish(), want);
        assert_eq!(header().len(), 19);
    }

    #[test]
    fn bigints_are_eight_bytes_big_endian_behind_their_length() {
        let mut rows = CopyRows::new(64);
        rows.row(3).int8(1).int8(-2).int8(i64::MAX);
        let got = rows.finish();
        let mut want = header();
        want.extend_from_slice(&[0, 3]);
        want.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
        want.extend_from_slice(&[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
        want.extend_from_slice(&[0, 0, 0, 8, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        want.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(got, want);
    }

    #[test]
    fn text_goes_as_its_utf8_bytes_unescaped() {
        // What text-format COPY would have to escape: tabs, newlines, carriage returns,
        // backslashes, a literal \N, and JSON that carries escapes of its own; and non-ASCII.
        let json = serde_json::json!({
            "q": "line one\nline two\ttabbed \\ back \\N 每通道 2.5 Gbps ✓",
            "raw": "\r\u{0}"
        })
        .to_string();
        for value in ["a\tb\nc\\d\\N\r", "", "每通道 2.5 Gbps — ok", json.as_str()] {
            let mut rows = CopyRows::new(0);
            rows.row(1).text(value).unwrap();
            let got = rows.finish();
            let body = &got[19..got.len() - 2];
            assert_eq!(&body[..2], &[0, 1]);
            let len = i32::from_be_bytes(body[2..6].try_into().unwrap());
            assert_eq!(len as usize, value.len(), "{value:?}");
            assert_eq!(&body[6..], value.as_bytes(), "{value:?}");
        }
    }

    #[test]
    fn json_is_the_text_of_the_value_serialised() {
        let values = [
            serde_json::json!({"q": "每通道\n\"2.5\" Gbps", "k": ["a\tb", "\\N"], "t": 0.1}),
            serde_json::json!([]),
            serde_json::json!("x".repeat(70_000)),
        ];
        for value in &values {
            let mut by_json = CopyRows::new(0);
            by_json.row(3).int8(7).json(value).unwrap().int8(8);
            let mut by_text = CopyRows::new(0);
            by_text
                .row(3)
                .int8(7)
                .text(&serde_json::to_string(value).unwrap())
                .unwrap()
                .int8(8);
            assert_eq!(by_json.finish(), by_text.finish());
        }
    }

    #[test]
    fn data_taken_in_pieces_is_the_data_encoded_at_once() {
        let encode = |rows: &mut CopyRows, i: i64| {
            rows.row(2)
                .int8(i)
                .text(&format!("snapshot {i}\t✓"))
                .unwrap();
        };
        let mut whole = CopyRows::new(0);
        for i in 0..100 {
            encode(&mut whole, i);
        }
        let whole = whole.finish();
        let mut pieces = Vec::new();
        let mut rows = CopyRows::new(16);
        for i in 0..100 {
            encode(&mut rows, i);
            if rows.len() >= 64 {
                pieces.extend(rows.take());
            }
        }
        pieces.extend(rows.finish());
        assert_eq!(pieces, whole);
    }
}
