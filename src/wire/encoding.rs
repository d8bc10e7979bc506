//! A body as the server compressed it (`content-encoding`), decoded for whoever must read it
//! while the bytes themselves travel on unchanged: a forwarded answer reaches the SDK as it came
//! (httpx decodes by `content-encoding` itself), but llmrail's usage meter and a cassette's
//! recording read its text. gzip and deflate are decoded (flate2, already here for vcrpy's gzip
//! bodies); another encoding (br, zstd) is left as it is, and says so (`None`).

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

/// `body` decoded from `encoding`, or `None` when the encoding is not one decoded here, the
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
        _ => return None,
    };
    read.ok()
        .filter(|_| out.len() <= max)
        .map(|_| Bytes::from(out))
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
        assert!(decode("br", b"\x0b\x02\x80hi\x03", 1 << 20).is_none());
        assert!(decode("gzip", b"not gzip at all", 1 << 20).is_none());
    }

    #[test]
    fn a_body_that_unpacks_past_the_limit_is_not_decoded() {
        let big = compressed("gzip", &[b'a'; 100_000]);
        assert!(decode("gzip", &big, 1000).is_none());
        assert_eq!(decode("gzip", &big, 100_000).unwrap().len(), 100_000);
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
