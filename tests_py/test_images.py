"""Image generation (`client.images` / `client.images_sync`) over real HTTP to the mock server:
the PNG it makes on the fly carries the requested size in its IHDR header, which these tests read
back from the bytes the client decoded."""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from pathlib import Path

import llmrail
import pytest
from llmrail.replay import cassette
from llmrail.testing import MockServer

from .conftest import API_KEY

GEMINI_KEY = "AIzaSy-live-GEMINI-images-5b2f"


def png_size(data: bytes | None) -> tuple[int, int]:
    assert data is not None
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def openai(srv: MockServer, model: str = "openai/gpt-image-1", **kwargs: object) -> llmrail.Client:
    return llmrail.Client(model, base_url=srv.openai_base_url, api_key=API_KEY, **kwargs)  # type: ignore[arg-type]


async def test_gpt_image_returns_pngs_of_the_size_asked_with_usage_and_cost(srv: MockServer) -> None:
    client = openai(srv)
    r = await client.images.generate("a lighthouse at dusk", n=2, size="1536x1024", quality="low")
    assert len(r) == len(r.images) == 2
    for image in r.images:
        assert png_size(image.data) == (1536, 1024)
        assert image.b64_json is not None and base64.b64decode(image.b64_json) == image.data
        assert (image.url, image.mime_type) == (None, "image/png")
    assert (r.provider, r.model, r.size, r.quality) == ("openai", "gpt-image-1", "1536x1024", "low")
    assert r.usage.output_tokens == 2 * 272 and r.usage.input_tokens > 0
    # The pricing page: a low-quality 1536x1024 gpt-image-1 image is $0.016.
    assert r.cost_usd == pytest.approx(0.032)
    sent = srv.last_request
    assert sent["path"] == "/v1/images/generations"
    assert sent["body"] == {
        "model": "gpt-image-1",
        "prompt": "a lighthouse at dusk",
        "n": 2,
        "size": "1536x1024",
        "quality": "low",
    }


def test_the_sync_call_sends_only_the_options_given(srv: MockServer) -> None:
    r = openai(srv).images_sync.generate("a fox", background="transparent", output_format="png")
    assert png_size(r.images[0].data) == (1024, 1024)
    assert srv.last_request["body"] == {
        "model": "gpt-image-1",
        "prompt": "a fox",
        "background": "transparent",
        "output_format": "png",
    }
    # The mock made it at medium quality ("auto" asked): priced at $0.042.
    assert r.cost_usd == pytest.approx(0.042)


async def test_dall_e_3_answers_a_url_and_a_revised_prompt_and_takes_a_style(srv: MockServer) -> None:
    client = openai(srv)
    r = await client.images.generate("a fox", model="openai/dall-e-3", style="natural", quality="hd")
    image = r.images[0]
    assert image.url is not None and image.url.startswith("https://")
    assert (image.data, image.b64_json) == (None, None)
    assert image.revised_prompt == "A detailed picture of a fox"
    assert r.cost_usd == pytest.approx(0.08)
    b64 = await client.images.generate("a fox", model="openai/dall-e-3", response_format="b64_json", size="1024x1792")
    assert png_size(b64.images[0].data) == (1024, 1792)
    assert srv.last_request["body"]["model"] == "dall-e-3"
    # Calls naming a model of their own are the client's calls too.
    s = client.stats()
    assert s.requests == 2 and s.cost_usd == pytest.approx(0.08 + 0.08)


@pytest.mark.parametrize(
    ("model", "options", "words"),
    [
        ("openai/gpt-image-1", {"response_format": "url"}, ["response_format", "openai/gpt-image-1", "background"]),
        ("openai/dall-e-3", {"n": 2}, ["n=2", "openai/dall-e-3", "only n=1"]),
        ("openai/gpt-image-1", {"style": "vivid"}, ["style", "openai/gpt-image-1"]),
        ("openai/gpt-image-1", {"size": "1792x1024"}, ["size", "1024x1024, 1536x1024, 1024x1536"]),
        ("openai/dall-e-3", {"quality": "high"}, ["quality", "standard, hd"]),
        ("gemini/gemini-2.5-flash-image", {"quality": "hd"}, ["quality", "gemini/gemini-2.5-flash-image"]),
    ],
)
async def test_a_combination_the_model_refuses_is_caught_before_sending(
    srv: MockServer, monkeypatch: pytest.MonkeyPatch, model: str, options: dict[str, object], words: list[str]
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", GEMINI_KEY)  # a model of another provider reads its own key
    client = openai(srv)
    with pytest.raises(llmrail.ConfigurationError) as info:
        await client.images.generate("a fox", model=model, **options)  # type: ignore[arg-type]
    for word in words:
        assert word in str(info.value)
    with pytest.raises(llmrail.ConfigurationError):
        client.images_sync.generate("a fox", model=model, **options)  # type: ignore[arg-type]
    assert srv.requests == []


async def test_gemini_image_output_comes_through_the_same_call(srv: MockServer) -> None:
    client = llmrail.Client("gemini/gemini-2.5-flash-image", base_url=srv.url, api_key=GEMINI_KEY)
    r = await client.images.generate("a cat on a mat", aspect_ratio="16:9")
    assert png_size(r.images[0].data) == (1344, 768)
    assert (r.provider, r.images[0].mime_type) == ("gemini", "image/png")
    assert r.usage.output_tokens >= 1290
    assert r.cost_usd == pytest.approx(0.039)
    sent = srv.last_request
    assert sent["path"] == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert sent["body"]["generationConfig"] == {
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "16:9"},
    }


async def test_server_errors_are_retried_and_counted_like_chat(srv: MockServer) -> None:
    client = openai(srv, retry=llmrail.Retry(initial_delay=0.001, max_delay=0.01))
    srv.fault(503).fault(429, retry_after=0.01)
    r = await client.images.generate("a fox", quality="low")
    assert (r.attempts, len(srv.requests)) == (3, 3)
    assert png_size(r.images[0].data) == (1024, 1024)
    s = client.stats()
    assert s.requests == 1 and s.output_tokens == 272
    assert s.cost_usd == pytest.approx(0.011)


async def test_a_calls_own_retry_replaces_the_clients(srv: MockServer) -> None:
    client = openai(srv, retry=llmrail.Retry(max_attempts=1))
    srv.fault(503).fault(503)
    r = await client.images.generate("a fox", retry=llmrail.Retry(max_attempts=3, initial_delay=0.001))
    assert (r.attempts, len(srv.requests)) == (3, 3)
    srv.fault(503)
    with pytest.raises(llmrail.ServerError) as info:
        client.images_sync.generate("a fox", retry=llmrail.Retry(max_attempts=1))
    assert info.value.attempts == 1


async def test_a_calls_own_deadline_stops_its_retries(srv: MockServer) -> None:
    client = openai(srv, retry=llmrail.Retry(max_attempts=20, initial_delay=0.05, jitter="none"))
    srv.fault(503, times=20)
    started = time.monotonic()
    with pytest.raises(llmrail.ServerError) as info:
        await client.images.generate("a fox", deadline=0.25)
    assert time.monotonic() - started < 0.6
    assert 2 <= info.value.attempts < 20


def test_a_calls_own_deadline_bounds_a_slow_image(srv: MockServer) -> None:
    srv.push({"latency": 3})
    started = time.monotonic()
    with pytest.raises(llmrail.TimeoutError, match="deadline"):
        openai(srv).images_sync.generate("a fox", deadline=0.3)
    assert time.monotonic() - started < 1.5


@pytest.mark.parametrize("deadline", [0, -1.0, float("nan")])
def test_a_deadline_that_is_not_positive_seconds_is_refused_before_sending(srv: MockServer, deadline: float) -> None:
    with pytest.raises(llmrail.ConfigurationError, match="deadline"):
        openai(srv).images_sync.generate("a fox", deadline=deadline)
    assert srv.requests == []


@pytest.mark.parametrize("code", ["moderation_blocked", "content_policy_violation"])
async def test_a_content_policy_refusal_is_typed_and_never_retried(srv: MockServer, code: str) -> None:
    client = openai(srv, fallbacks=[{"model": "openai/dall-e-2", "base_url": srv.openai_base_url, "api_key": API_KEY}])
    message = "Your request was rejected by the safety system."
    body = {"error": {"code": code, "message": message, "type": "image_generation_user_error"}}
    srv.fault(400, body=body, times=3)
    with pytest.raises(llmrail.ContentPolicyError) as info:
        await client.images.generate("something refused")
    e = info.value
    assert isinstance(e, llmrail.BadRequestError)
    assert (e.status, e.attempts, e.model) == (400, 1, "gpt-image-1")
    assert "safety system" in str(e)
    assert len(srv.requests) == 1  # neither retried nor sent to the fallback


def test_gemini_safety_blocks_are_content_policy_refusals_too(srv: MockServer) -> None:
    srv.push({"fault": {"status": 200, "body": {"candidates": [{"content": {}, "finishReason": "IMAGE_SAFETY"}]}}})
    client = llmrail.Client("gemini/gemini-2.5-flash-image", base_url=srv.url, api_key=GEMINI_KEY)
    with pytest.raises(llmrail.ContentPolicyError, match="IMAGE_SAFETY"):
        client.images_sync.generate("something refused")
    assert len(srv.requests) == 1


async def test_an_unverified_organisation_is_a_permission_error_not_retried(srv: MockServer) -> None:
    message = (
        "Your organization must be verified to use the model `gpt-image-1`. Please go to: "
        "https://platform.openai.com/settings/organization/general and click on Verify Organization."
    )
    srv.fault(403, body={"error": {"message": message, "type": "invalid_request_error", "code": None}})
    with pytest.raises(llmrail.PermissionDeniedError, match="must be verified") as info:
        await openai(srv).images.generate("a fox")
    assert not isinstance(info.value, llmrail.ContentPolicyError)
    assert (info.value.attempts, len(srv.requests)) == (1, 1)


async def test_a_failing_image_model_falls_back_to_another(srv: MockServer) -> None:
    with MockServer() as other:
        fallback = {"model": "gemini/gemini-2.5-flash-image", "base_url": other.url, "api_key": GEMINI_KEY}
        client = openai(srv, retry=llmrail.Retry(max_attempts=1), fallbacks=[fallback])
        srv.fault(500)
        r = await client.images.generate("a fox")
        assert (r.fallback_used, r.provider) == (True, "gemini")
        assert png_size(r.images[0].data) == (1024, 1024)
        assert len(other.requests) == 1


async def test_a_fallback_that_refuses_an_option_is_named_before_anything_is_sent(srv: MockServer) -> None:
    fallback = {"model": "openai/dall-e-3", "base_url": srv.openai_base_url, "api_key": API_KEY}
    client = openai(srv, fallbacks=[fallback])
    with pytest.raises(llmrail.ConfigurationError, match="openai/dall-e-3"):
        await client.images.generate("a fox", n=2)
    assert srv.requests == []


async def test_an_open_breaker_stops_image_calls(srv: MockServer) -> None:
    client = openai(
        srv,
        retry=llmrail.Retry(max_attempts=1),
        circuit_breaker=llmrail.CircuitBreaker(failure_threshold=2, cooldown=60),
    )
    srv.fault(500, times=2)
    for _ in range(2):
        with pytest.raises(llmrail.ServerError):
            await client.images.generate("a fox")
    with pytest.raises(llmrail.CircuitOpenError):
        await client.images.generate("a fox")
    assert len(srv.requests) == 2


def test_recorded_images_replay_offline_with_the_base64_kept_as_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    path = tmp_path / "images.yaml"
    with MockServer() as srv:
        client = openai(srv)
        with cassette(path, mode="once") as c:
            live = client.images_sync.generate("a lighthouse", size="1024x1536")
        assert c.record_count == 1
    text = path.read_text()
    b64 = live.images[0].b64_json
    assert b64 is not None and b64 in text  # one string, not re-encoded or split
    assert len(text) < len(b64) + 3000
    assert API_KEY not in text
    with cassette(path, mode="none") as c:
        again = client.images_sync.generate("a lighthouse", size="1024x1536")
    assert again.images[0].data == live.images[0].data
    assert png_size(again.images[0].data) == (1024, 1536)
    assert (again.cost_usd, c.play_count) == (live.cost_usd, 1)


async def test_cancelling_an_image_call_drops_the_request(srv: MockServer) -> None:
    srv.push({"latency": 5})
    call = asyncio.ensure_future(openai(srv).images.generate("a fox"))
    await asyncio.sleep(0.2)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert len(srv.requests) == 1


def test_the_in_process_mock_provider_makes_images_too() -> None:
    r = llmrail.Client("mock/images").images_sync.generate("a fox", size="512x256", n=3)
    assert [png_size(i.data) for i in r.images] == [(512, 256)] * 3
    assert r.provider == "mock"


async def test_the_clients_rate_limit_holds_image_calls_too(srv: MockServer) -> None:
    client = openai(srv, rate_limit=llmrail.RateLimit(rpm=2, wait=False))
    await client.images.generate("one")
    client.images_sync.generate("two")
    with pytest.raises(llmrail.RateLimitError):
        await client.images.generate("three")
    assert len(srv.requests) == 2
