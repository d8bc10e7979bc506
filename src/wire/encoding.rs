//! A body as the server compressed it (`content-encoding`), decoded for whoever must read it
//! while the bytes themselves travel on unchanged: a forwarded answer reaches the SDK as it came
//! (httpx decodes by `content-encoding` itself), but llmrail's usage meter and a cassette's
//! recording read its text. gzip and deflate are decoded (flate2, already here for vcrpy's gzip
//! bodies), whole or as a stream passes ([`Inflater`]); br and zstd whole (a cassette's body, a
//! whole answer's usage); another encoding is left as it is, and says so (`None`).

use std::io::Read;

use bytes::Bytes;
use http::HeaderMap;

/// The encoding `headers` say the body is in; `None` for a plain body (no header, `identity`).
pub fn of(headers: &HeaderMap) -> Option<&str> {
    let value = headers
        .get(http::header::CONTENT_ENCODING)?
        .to_str()
        .ok()?
        .trim();
    (!value.is_empty() && !value.eq_ignore_ascii_case("identity")).then_some(value)
}

/// `body` decoded from `encoding` (gzip, deflate, br, zstd), or `None` when the encoding is not one decoded here, the
/// body is not in it, or it unpacks to more than `max` bytes (a small body may unpack to a great
/// deal; only the first `max` + 1 bytes are ever unpacked).
pub fn decode(encoding: &str, body: &[u8], max: usize) -> Option<Bytes> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    let read = match encoding.to_ascii_lowercase().as_str() {
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out),
        // RFC 9110's deflate is zlib-wrapped; some servers send it raw.
        "deflate" if body.first().is_some_and(|b| b & 0x0f == 8) => {
            flate2::read::ZlibDecoder::new(body)
                .take(limit)
                .read_to_end(&mut out)
        }
        "deflate" => flate2::read::DeflateDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out),
        "br" => brotli_decompressor::Decompressor::new(body, 4096)
            .take(limit)
            .read_to_end(&mut out),
        "zstd" => ruzstd::decoding::StreamingDecoder::new(body)
            .ok()?
            .take(limit)
            .read_to_end(&mut out),
        _ => return None,
    };
    read.ok()
        .filter(|_| out.len() <= max)
        .map(|_| Bytes::from(out))
}

/// A compressed stream decoded piece by piece as it passes, for a reader beside it (the usage
/// meter reads a streamed answer's events as they arrive, whatever their encoding on the wire).
pub struct Inflater(Kind);

enum Kind {
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    Zlib(flate2::write::ZlibDecoder<Vec<u8>>),
    Raw(flate2::write::DeflateDecoder<Vec<u8>>),
    /// deflate, zlib-wrapped or raw: its first byte says which.
    Deflate,
    /// Not in the encoding it claimed: nothing more is decoded.
    Broken,
}

impl Inflater {
    /// `None` for an encoding not decoded here (as [`decode`]).
    pub fn new(encoding: &str) -> Option<Self> {
        match encoding.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Self(Kind::Gzip(flate2::write::MultiGzDecoder::new(
                Vec::new(),
            )))),
            "deflate" => Some(Self(Kind::Deflate)),
            _ => None,
        }
    }

    /// The plain bytes `chunk` completes (maybe none yet); `None` once the stream proved not to
    /// be in its encoding.
    pub fn push(&mut self, chunk: &[u8]) -> Option<Vec<u8>> {
        use std::io::Write;
        if chunk.is_empty() {
            return Some(Vec::new());
        }
        if matches!(self.0, Kind::Deflate) {
            self.0 = if chunk[0] & 0x0f == 8 {
                Kind::Zlib(flate2::write::ZlibDecoder::new(Vec::new()))
            } else {
                Kind::Raw(flate2::write::DeflateDecoder::new(Vec::new()))
            };
        }
        // A flush after each write: flate2's writers hand on what a write decoded only at the next.
        let out = match &mut self.0 {
            Kind::Gzip(d) => d
                .write_all(chunk)
                .and_then(|()| d.flush())
                .map(|()| d.get_mut()),
            Kind::Zlib(d) => d
                .write_all(chunk)
                .and_then(|()| d.flush())
                .map(|()| d.get_mut()),
            Kind::Raw(d) => d
                .write_all(chunk)
                .and_then(|()| d.flush())
                .map(|()| d.get_mut()),
            Kind::Deflate | Kind::Broken => return None,
        };
        match out {
            Ok(plain) => Some(std::mem::take(plain)),
            Err(_) => {
                self.0 = Kind::Broken;
                None
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use super::*;

    fn compressed(encoding: &str, text: &[u8]) -> Vec<u8> {
        let level = flate2::Compression::default();
        match encoding {
            "gzip" => {
                let mut w = flate2::write::GzEncoder::new(Vec::new(), level);
                w.write_all(text).unwrap();
                w.finish().unwrap()
            }
            "zlib" => {
                let mut w = flate2::write::ZlibEncoder::new(Vec::new(), level);
                w.write_all(text).unwrap();
                w.finish().unwrap()
            }
            _ => {
                let mut w = flate2::write::DeflateEncoder::new(Vec::new(), level);
                w.write_all(text).unwrap();
                w.finish().unwrap()
            }
        }
    }

    #[test]
    fn gzip_and_both_kinds_of_deflate_are_decoded() {
        let text = br#"{"usage":{"prompt_tokens":3}}"#;
        assert_eq!(
            decode("gzip", &compressed("gzip", text), 1 << 20).unwrap(),
            &text[..]
        );
        assert_eq!(
            decode("deflate", &compressed("zlib", text), 1 << 20).unwrap(),
            &text[..]
        );
        assert_eq!(
            decode("deflate", &compressed("raw", text), 1 << 20).unwrap(),
            &text[..]
        );
    }

    #[test]
    fn other_encodings_and_broken_bodies_are_not_decoded() {
        assert!(decode("compress", b"\x1f\x9dhi", 1 << 20).is_none());
        assert!(decode("gzip", b"not gzip at all", 1 << 20).is_none());
        assert!(decode("zstd", b"not zstd at all", 1 << 20).is_none());
        assert!(decode("br", b"\xff\xff\xff not brotli", 1 << 20).is_none());
    }

    #[test]
    fn brotli_and_zstd_bodies_are_decoded() {
        // `brotli.compress` (Google's Python binding) and the `zstd` tool's output.
        let text = br#"{"usage":{"prompt_tokens":3}}"#;
        let br = b"\x0b\x0e\x80\x7b\x22\x75\x73\x61\x67\x65\x22\x3a\x7b\x22\x70\x72\x6f\x6d\x70\x74\x5f\x74\x6f\x6b\x65\x6e\x73\x22\x3a\x33\x7d\x7d\x03";
        assert_eq!(decode("br", br, 1 << 20).unwrap(), &text[..]);
        let zstd = b"\x28\xb5\x2f\xfd\x04\x58\xe9\x00\x00\x7b\x22\x75\x73\x61\x67\x65\x22\x3a\x7b\x22\x70\x72\x6f\x6d\x70\x74\x5f\x74\x6f\x6b\x65\x6e\x73\x22\x3a\x33\x7d\x7d\x83\xf0\x14\x19";
        assert_eq!(decode("zstd", zstd, 1 << 20).unwrap(), &text[..]);
        assert!(decode("br", br, 5).is_none());
        assert!(decode("zstd", zstd, 5).is_none());
    }

    #[test]
    fn a_body_that_unpacks_past_the_limit_is_not_decoded() {
        let big = compressed("gzip", &[b'a'; 100_000]);
        assert!(decode("gzip", &big, 1000).is_none());
        assert_eq!(decode("gzip", &big, 100_000).unwrap().len(), 100_000);
    }

    #[test]
    fn a_stream_is_inflated_piece_by_piece_as_it_passes() {
        let text: Vec<u8> = (0..200)
            .flat_map(|i| format!("data: {{\"n\":{i}}}\n\n").into_bytes())
            .collect();
        for (encoding, kind) in [("gzip", "gzip"), ("deflate", "zlib"), ("deflate", "raw")] {
            let packed = compressed(kind, &text);
            let mut inflater = Inflater::new(encoding).unwrap();
            let mut plain = Vec::new();
            for piece in packed.chunks(7) {
                plain.extend(inflater.push(piece).unwrap());
            }
            assert_eq!(plain, text, "{kind}");
        }
        assert!(Inflater::new("br").is_none());
        let mut broken = Inflater::new("gzip").unwrap();
        assert!(broken.push(b"not gzip at all").is_none());
        assert!(broken.push(b"more").is_none());
    }

    #[test]
    fn identity_or_no_header_is_a_plain_body() {
        let mut headers = HeaderMap::new();
        assert_eq!(of(&headers), None);
        headers.insert("content-encoding", "identity".parse().unwrap());
        assert_eq!(of(&headers), None);
        headers.insert("content-encoding", "gzip".parse().unwrap());
        assert_eq!(of(&headers), Some("gzip"));
    }
}
