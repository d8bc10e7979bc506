"""``llmrail.testing.MockServer`` speaks Bedrock Runtime: Converse JSON, ConverseStream's binary
event-stream frames (each one's lengths and CRC32 checksums checked here), AWS's error form and
its 403 for a call neither signed nor carrying a Bedrock API key. Plain httpx is the client: the
bedrock/ provider is not needed to check the server's side of the wire."""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import pytest
from llmrail.testing import MockServer

httpx = pytest.importorskip("httpx")

MODEL = "anthropic.claude-3-haiku-20240307-v1%3A0"
BEARER = {"authorization": "Bearer bedrock-api-key-123"}


def frames(body: bytes) -> list[tuple[dict[str, str], Any]]:
    """Each frame's string headers and JSON payload, after checking both checksums."""
    out = []
    at = 0
    while at < len(body):
        total, headers_len, prelude_crc = struct.unpack(">III", body[at : at + 12])
        assert zlib.crc32(body[at : at + 8]) == prelude_crc
        frame = body[at : at + total]
        (message_crc,) = struct.unpack(">I", frame[-4:])
        assert zlib.crc32(frame[:-4]) == message_crc
        headers: dict[str, str] = {}
        pos = 12
        while pos < 12 + headers_len:
            name_len = frame[pos]
            name = frame[pos + 1 : pos + 1 + name_len].decode()
            kind = frame[pos + 1 + name_len]
            assert kind == 7, "every header the service sends is a string"
            (value_len,) = struct.unpack(">H", frame[pos + 2 + name_len : pos + 4 + name_len])
            value = frame[pos + 4 + name_len : pos + 4 + name_len + value_len].decode()
            headers[name] = value
            pos += 4 + name_len + value_len
        out.append((headers, json.loads(frame[12 + headers_len : -4])))
        at += total
    return out


def converse(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": [{"text": text}]}]}


def test_converse_answers_json_to_a_bedrock_api_key(srv: MockServer) -> None:
    srv.reply("Paris.")
    r = httpx.post(f"{srv.url}/model/{MODEL}/converse", json=converse("Capital?"), headers=BEARER)
    assert r.status_code == 200
    body = r.json()
    assert body["output"]["message"]["content"] == [{"text": "Paris."}]
    assert body["stopReason"] == "end_turn"
    assert srv.requests[-1]["path"] == f"/model/{MODEL}/converse"


def test_converse_stream_is_checksummed_event_stream_frames(srv: MockServer) -> None:
    srv.reply("The capital is Paris.")
    r = httpx.post(f"{srv.url}/model/{MODEL}/converse-stream", json=converse("Capital?"), headers=BEARER)
    assert r.headers["content-type"] == "application/vnd.amazon.eventstream"
    got = frames(r.content)
    assert [h[":event-type"] for h, _ in got][0] == "messageStart"
    assert [h[":event-type"] for h, _ in got][-2:] == ["messageStop", "metadata"]
    text = "".join(p["delta"]["text"] for h, p in got if h[":event-type"] == "contentBlockDelta")
    assert text == "The capital is Paris."


def test_an_error_mid_stream_is_an_exception_frame(srv: MockServer) -> None:
    srv.fault("error_after", after=1)
    r = httpx.post(f"{srv.url}/model/{MODEL}/converse-stream", json=converse("hi"), headers=BEARER)
    headers, payload = frames(r.content)[-1]
    assert headers[":message-type"] == "exception"
    assert headers[":exception-type"] == "internalServerException"
    assert payload["message"]


def test_a_throttled_call_is_a_429_with_the_exception_in_x_amzn_errortype(srv: MockServer) -> None:
    srv.fault(429)
    r = httpx.post(f"{srv.url}/model/{MODEL}/converse", json=converse("hi"), headers=BEARER)
    assert r.status_code == 429
    assert r.headers["x-amzn-errortype"].startswith("ThrottlingException:")
    assert list(r.json()) == ["message"]


def test_a_call_neither_signed_nor_with_a_key_is_refused(srv: MockServer) -> None:
    r = httpx.post(f"{srv.url}/model/{MODEL}/converse", json=converse("hi"))
    assert r.status_code == 403
    assert r.headers["x-amzn-errortype"].startswith("UnrecognizedClientException:")
