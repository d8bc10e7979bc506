"""The durable queue from Python: real sqlite files, the mock server over HTTP, and worker
processes killed mid-way."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import API_KEY

ONCE = llmrail.Retry(max_attempts=1)
NO_BREAKER = False


def url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'queue.db'}"


def client(srv: MockServer, **kwargs: object) -> llmrail.Client:
    return llmrail.Client("openai/gpt-4.1-mini", base_url=srv.openai_base_url, api_key=API_KEY,
                          retry=ONCE, **kwargs)  # type: ignore[arg-type]


async def test_a_submitted_request_is_answered_by_a_worker(srv: MockServer, tmp_path: Path) -> None:
    queue = llmrail.Queue(url(tmp_path))
    c = client(srv)
    qid = await queue.submit({"messages": "Capital of France?", "max_tokens": 20, "temperature": 0.1},
                             target=c, metadata={"user": 7}, priority=2)
    item = await queue.status(qid)
    assert (item.state, item.attempts, item.target) == ("QUEUED", 0, "openai/gpt-4.1-mini")
    assert item.metadata == {"user": 7} and item.priority == 2
    assert item.request["max_tokens"] == 20
    srv.reply("Paris.")
    async with queue.worker(concurrency=2):
        r = await queue.result(qid, wait=10)
    assert r.text == "Paris."
    body = srv.last_request["body"]
    assert body["max_tokens"] == 20 and body["temperature"] == 0.1
    assert body["messages"] == [{"role": "user", "content": "Capital of France?"}]
    done = await queue.status(qid)
    assert done.state == "COMPLETED" and done.attempts == 1 and done.finished_at is not None


async def test_a_worker_builds_a_client_from_the_model_string_and_the_environment(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_base_url)
    queue = llmrail.Queue(url(tmp_path))
    qid = await queue.submit("hello", target="openai/gpt-4.1-mini")
    task = asyncio.create_task(queue.work(concurrency=1))
    try:
        r = await queue.result(qid, wait=10)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert r.text == "mock reply to: hello"


async def test_on_event_sees_every_state_change_this_process_makes(srv: MockServer, tmp_path: Path) -> None:
    queue = llmrail.Queue(url(tmp_path))
    seen: list[tuple[str, str, int]] = []
    queue.on_event(lambda e: seen.append((e["queue_id"], e["state"], e["attempts"])))
    queue.on_event(lambda e: 1 / 0)  # a failing callback is logged and hurts no other
    c = client(srv, circuit_breaker=NO_BREAKER)
    srv.fault(500)
    qid = await queue.submit("hi", target=c)
    async with queue.worker(concurrency=1):
        await queue.result(qid, wait=10)
        deadline = time.monotonic() + 5
        while len(seen) < 5:  # noqa: ASYNC110 - callbacks run on a runtime thread
            assert time.monotonic() < deadline, seen
            await asyncio.sleep(0.02)
    assert seen == [(qid, "QUEUED", 0), (qid, "PROCESSING", 1), (qid, "QUEUED", 1),
                    (qid, "PROCESSING", 2), (qid, "COMPLETED", 2)]


PERSON = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
          "required": ["name", "age"]}


async def test_a_queued_extraction_carries_its_schema_and_reads_back_the_value(
    srv: MockServer, tmp_path: Path
) -> None:
    import pydantic

    class Person(pydantic.BaseModel):
        name: str
        age: int

    queue = llmrail.Queue(url(tmp_path))
    c = client(srv)
    srv.reply('{"name": "Ada", "age": "not a number"}')  # fails the schema: re-asked
    srv.reply('{"name": "Ada", "age": 36}')
    by_schema = await queue.submit({"messages": "Who wrote the first program?", "max_retries": 2},
                                   target=c, response_model=PERSON)
    srv.reply('{"name": "Grace", "age": 85}')
    by_model = await queue.submit("Who found the first bug?", target=c, response_model=Person)
    assert (await queue.status(by_model)).request["extract"]["name"] == "Person"
    async with queue.worker(concurrency=1):
        assert await queue.extracted(by_schema, wait=10) == {"name": "Ada", "age": 36}
        assert Person.model_validate(await queue.extracted(by_model, wait=10)) == Person(name="Grace", age=85)
        with pytest.raises(llmrail.ConfigurationError, match="extracted"):
            await queue.result(by_model, wait=10)
    assert len(srv.requests) == 3
    with pytest.raises(llmrail.ConfigurationError, match="validation_context"):
        await queue.submit({"messages": "x", "validation_context": {}}, target=c, response_model=Person)


async def test_an_extraction_with_processing_queues_its_schema_and_the_handle_reads_the_value(
    srv: MockServer, tmp_path: Path
) -> None:
    import pydantic

    class Person(pydantic.BaseModel):
        name: str
        age: int

    queue = llmrail.Queue(url(tmp_path))
    c = client(srv, circuit_breaker=llmrail.CircuitBreaker(failure_threshold=1, cooldown=0.5))
    srv.reply('{"name": "Ada", "age": 36}')
    direct = await c.extract(Person, "Who wrote the first program?", queue=queue, processing="auto")
    assert direct == Person(name="Ada", age=36)  # healthy: answered directly, validated by the model
    later = await c.extract(PERSON, "Who found the first bug?", queue=queue, processing="queue")
    assert isinstance(later, llmrail.Queued) and len(srv.requests) == 1
    assert (await queue.status(later.queue_id)).request["extract"]["schema"] == PERSON
    srv.fault(529)  # overloaded: the breaker opens and the extraction goes to the queue
    queued = await c.extract(Person, "Who designed COBOL?", queue=queue, processing="auto")
    assert isinstance(queued, llmrail.Queued)
    assert (await queue.status(queued.queue_id)).request["extract"]["name"] == "Person"
    srv.reply('{"name": "Grace", "age": 85}')
    srv.reply('{"name": "Grace", "age": 85}')
    async with queue.worker(concurrency=1):
        assert await later.result(wait=10) == {"name": "Grace", "age": 85}
        value = await queued.result(wait=10)
    assert value == await queue.extracted(queued.queue_id) == {"name": "Grace", "age": 85}
    synced = c.extract_sync(PERSON, "Who?", queue=queue, processing="queue")
    assert isinstance(synced, llmrail.Queued) and (await queue.status(synced.queue_id)).state == "QUEUED"
    with pytest.raises(llmrail.ConfigurationError, match="include_raw"):
        await c.extract(Person, "x", queue=queue, processing="auto", include_raw=True)
    with pytest.raises(llmrail.ConfigurationError, match="needs a queue"):
        c.extract_sync(Person, "x", processing="queue")


async def test_the_same_idempotency_key_returns_the_same_id(tmp_path: Path) -> None:
    queue = llmrail.Queue(url(tmp_path))
    first = await queue.submit("hi", target="openai/gpt-4.1-mini", idempotency_key="order-17")
    again = await queue.submit("other", target="openai/gpt-4.1-mini", idempotency_key="order-17")
    assert first == again
    assert (await queue.stats())["queued"] == 1


async def test_a_full_queue_refuses_with_a_retry_hint_until_it_drains(srv: MockServer, tmp_path: Path) -> None:
    queue = llmrail.Queue(url(tmp_path), capacity=10)
    c = client(srv)
    ids = [await queue.submit(f"q{i}", target=c) for i in range(8)]
    with pytest.raises(llmrail.QueueFullError) as info:
        await queue.submit("one too many", target=c)
    assert info.value.retry_after is not None and info.value.retry_after > 0
    assert "8 items" in str(info.value)
    assert (await queue.stats())["refusing"] is True
    with queue.worker(concurrency=4):
        for qid in ids:
            await queue.result(qid, wait=10)
    assert await queue.submit("room again", target=c)
    assert (await queue.stats())["refusing"] is False


async def test_an_item_past_its_ttl_is_expired_without_any_worker(tmp_path: Path) -> None:
    queue = llmrail.Queue(url(tmp_path), ttl=0.2)
    qid = await queue.submit("hi", target="openai/gpt-4.1-mini")
    await asyncio.sleep(0.3)
    item = await queue.status(qid)
    assert item.state == "EXPIRED" and item.attempts == 0
    with pytest.raises(llmrail.ExpiredError):
        await queue.result(qid, wait=0)


async def test_after_max_attempts_the_item_fails_with_every_error_kept(srv: MockServer, tmp_path: Path) -> None:
    srv.fault(500, times=10)
    queue = llmrail.Queue(url(tmp_path), max_attempts=3)
    qid = await queue.submit("hi", target=client(srv, circuit_breaker=NO_BREAKER))
    async with queue.worker(concurrency=1):
        with pytest.raises(llmrail.ServerError) as info:
            await queue.result(qid, wait=10)
    assert info.value.status == 500 and info.value.attempts == 3
    item = await queue.status(qid)
    assert item.state == "FAILED"
    assert [e["kind"] for e in item.errors] == ["ServerError"] * 3
    assert item.last_error is not None and item.last_error.startswith("ServerError")
    assert len(srv.requests) == 3
    assert await queue.retry(qid)
    assert (await queue.status(qid)).state == "QUEUED"


async def test_an_unfinished_result_times_out_and_an_unknown_id_is_not_found(tmp_path: Path) -> None:
    queue = llmrail.Queue(url(tmp_path))
    qid = await queue.submit("hi", target="openai/gpt-4.1-mini")
    with pytest.raises(llmrail.TimeoutError):
        await queue.result(qid, wait=0.05)
    with pytest.raises(llmrail.NotFoundError):
        await queue.status("q_missing")


async def test_cancelling_a_result_wait_ends_it_promptly(tmp_path: Path) -> None:
    queue = llmrail.Queue(url(tmp_path))
    qid = await queue.submit("hi", target="openai/gpt-4.1-mini")
    task = asyncio.create_task(queue.result(qid))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1


def test_bad_settings_and_requests_are_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(llmrail.ConfigurationError, match="low_watermark"):
        llmrail.Queue(url(tmp_path), high_watermark=0.5, low_watermark=0.7)
    with pytest.raises(llmrail.ConfigurationError, match="sqlite"):
        llmrail.Queue("postgres://db")
    queue = llmrail.Queue("memory://")
    with pytest.raises(llmrail.ConfigurationError, match="messages"):
        queue.submit({"max_tokens": 3}, target="openai/x")  # type: ignore[typeddict-item]
    with pytest.raises(llmrail.ConfigurationError, match="retry"):
        queue.submit({"messages": "hi", "retry": ONCE}, target="openai/x")
    with pytest.raises(TypeError, match="max_tokens"):
        queue.submit({"messages": "hi", "max_token": 3}, target="openai/x")  # type: ignore[typeddict-unknown-key]


async def test_auto_processing_queues_during_an_outage_and_completes_on_recovery(srv: MockServer) -> None:
    queue = llmrail.Queue("memory://")
    c = client(srv, circuit_breaker=llmrail.CircuitBreaker(failure_threshold=1, cooldown=0.5))
    srv.reply("healthy")
    direct = await c.chat("first", queue=queue, processing="auto")
    assert isinstance(direct, llmrail.ChatResponse) and direct.text == "healthy"
    srv.fault(529)  # overloaded: the breaker opens
    queued = [await c.chat(f"during {i}", queue=queue, processing="auto") for i in range(3)]
    assert all(isinstance(q, llmrail.Queued) for q in queued)
    assert len(srv.requests) == 2  # the later calls met the open breaker and were not sent
    async with queue.worker(concurrency=2):
        await asyncio.sleep(0.2)
        # Still cooling down: the worker left them queued, their attempts unspent.
        for q in queued:
            assert isinstance(q, llmrail.Queued)
            item = await queue.status(q.queue_id)
            assert (item.state, item.attempts) == ("QUEUED", 0)
        answers = [await q.result(wait=10) for q in queued if isinstance(q, llmrail.Queued)]
    assert sorted(a.text for a in answers) == [f"mock reply to: during {i}" for i in range(3)]
    assert len(srv.requests) == 5


def test_queue_processing_always_queues_and_needs_a_queue(srv: MockServer) -> None:
    queue = llmrail.Queue("memory://")
    c = client(srv)
    queued = c.chat_sync("later", queue=queue, processing="queue")
    assert isinstance(queued, llmrail.Queued) and queued.queue_id.startswith("q_")
    assert srv.requests == []
    with pytest.raises(llmrail.ConfigurationError, match="needs a queue"):
        c.chat_sync("hi", processing="auto")  # type: ignore[call-overload]
    with pytest.raises(llmrail.ConfigurationError, match="processing"):
        c.chat_sync("hi", queue=queue, processing="later")  # type: ignore[call-overload]
    srv.fault(400)
    with pytest.raises(llmrail.BadRequestError):  # not an outage: raised, not queued
        c.chat_sync("bad", queue=queue, processing="auto")


async def test_a_stream_does_not_queue_and_the_error_names_what_does(srv: MockServer, tmp_path: Path) -> None:
    queue = llmrail.Queue(url(tmp_path))
    c = client(srv)
    refused = r'stream\(\) does not queue \(got {}=\).*chat\(\.\.\., queue=queue, processing="auto"\).*queue\.submit'
    with pytest.raises(TypeError, match=refused.format("processing")):
        c.stream("hi", processing="auto")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=refused.format("processing")):
        c.stream("hi", queue=queue, processing="queue")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=refused.format("queue")):
        c.stream("hi", queue=queue)  # type: ignore[call-arg]
    assert srv.requests == [] and (await queue.stats())["queued"] == 0


WORKER = textwrap.dedent("""
    import asyncio, sys
    import llmrail

    async def main() -> None:
        secret = sys.argv[5] if len(sys.argv) > 5 else None
        queue = llmrail.Queue(sys.argv[1], lease=float(sys.argv[3]), webhook_secret=secret)
        client = llmrail.Client("openai/gpt-4.1-mini", base_url=sys.argv[2], api_key="sk-test-key-123456",
                                retry=llmrail.Retry(max_attempts=1))
        print("ready", flush=True)
        await queue.work(concurrency=int(sys.argv[4]), clients=[client])

    asyncio.run(main())
""")


def start_worker(queue_url: str, srv: MockServer, lease: float = 1.0, concurrency: int = 1,
                 webhook_secret: str | None = None) -> subprocess.Popen[str]:
    secret = [webhook_secret] if webhook_secret else []
    proc = subprocess.Popen([sys.executable, "-c", WORKER, queue_url, srv.openai_base_url, str(lease),
                             str(concurrency), *secret], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def kill(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    proc.send_signal(sig)
    proc.wait(10)
    if proc.stdout is not None:
        proc.stdout.close()


def wait_for(check: object, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture(params=["sqlite", "redis"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A queue URL that several processes share: a sqlite file, or a queue on a real redis-server."""
    if request.param == "sqlite":
        return url(tmp_path)
    redis_url: str = request.getfixturevalue("redis_url")
    return f"{redis_url}?queue={uuid.uuid4().hex}"


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
async def test_a_worker_killed_mid_call_is_replaced_and_the_item_completes_once(
    srv: MockServer, shared_url: str
) -> None:
    queue = llmrail.Queue(shared_url, lease=1)
    qid = await queue.submit("survive", target="openai/gpt-4.1-mini")
    srv.reply("too late", latency=30)  # the first worker is inside this call when it dies
    first = start_worker(shared_url, srv)
    wait_for(lambda: len(srv.requests) == 1)
    assert (await queue.status(qid)).state == "PROCESSING"
    kill(first)
    srv.reply("answered after the restart")
    second = start_worker(shared_url, srv)
    try:
        r = await queue.result(qid, wait=20)
    finally:
        kill(second)
    assert r.text == "answered after the restart"
    item = await queue.status(qid)
    assert (item.state, item.attempts) == ("COMPLETED", 2)
    assert "lease ran out" in item.errors[0]["message"]
    assert len(srv.requests) == 2
    # Exactly one item, with one result: nothing lost, nothing stored twice.
    stats = await queue.stats()
    assert (stats["completed"], stats["queued"], stats["processing"], stats["failed"]) == (1, 0, 0, 0)
    if shared_url.startswith("sqlite://"):
        with sqlite3.connect(shared_url.removeprefix("sqlite://")) as db:
            assert db.execute("SELECT COUNT(*), COUNT(result) FROM items").fetchone() == (1, 1)


async def test_two_processes_of_four_workers_complete_a_thousand_items_once_each(
    srv: MockServer, redis_url: str
) -> None:
    shared = f"{redis_url}?queue={uuid.uuid4().hex}"
    queue = llmrail.Queue(shared, capacity=2000)
    ids = [await queue.submit(f"item {i}", target="openai/gpt-4.1-mini") for i in range(1000)]
    assert len(set(ids)) == 1000
    workers = [start_worker(shared, srv, lease=10, concurrency=4) for _ in range(2)]
    try:
        deadline = time.monotonic() + 120
        while (await queue.stats())["completed"] < 1000:
            assert time.monotonic() < deadline, await queue.stats()
            await asyncio.sleep(0.1)
    finally:
        for w in workers:
            kill(w, signal.SIGTERM)
    done = await queue.list(state="COMPLETED", limit=5000)
    assert sorted(i.id for i in done) == sorted(ids)
    assert all(i.attempts == 1 for i in done)
    texts = {(await queue.result(qid, wait=0)).text for qid in ids}
    assert texts == {f"mock reply to: item {i}" for i in range(1000)}
    assert len(srv.requests) == 1000
    stats = await queue.stats()
    assert (stats["queued"], stats["processing"], stats["failed"]) == (0, 0, 0)


def item_reads(redis_url: str) -> int:
    """How many times the queue's Redis has read an item (each read, a claim's or a waiter's, is
    one LRANGE of its errors), from INFO commandstats over a plain socket."""
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        head = b""
        while not head.endswith(b"\r\n"):
            head += sock.recv(1)
        size, body = int(head[1:-2]), b""
        while len(body) < size + 2:
            body += sock.recv(65536)
    for line in body.decode().splitlines():
        if line.startswith("cmdstat_lrange:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def test_a_result_awaited_in_another_process_is_woken_by_the_completion_not_a_poll(
    srv: MockServer, redis_url: str
) -> None:
    # While subscribed to the queue's completions a waiter looks at the store only once a
    # second (or when the item's TTL or lease runs out): an answer taking 0.3 s that reaches
    # this process well within the second, after the waiter read the item twice (a 50 ms poll
    # would have read it six times more), came through the completion's message.
    shared = f"{redis_url}?queue={uuid.uuid4().hex}"
    queue = llmrail.Queue(shared)
    worker = start_worker(shared, srv, lease=30, concurrency=2)
    try:
        await queue.result(await queue.submit("warm up", target="openai/gpt-4.1-mini"), wait=20)
        for i in range(3):
            srv.reply(f"answer {i}", latency=0.3)
            qid = await queue.submit(f"item {i}", target="openai/gpt-4.1-mini")
            reads, start = item_reads(redis_url), time.monotonic()
            r = await queue.result(qid, wait=20)
            took, reads = time.monotonic() - start, item_reads(redis_url) - reads
            assert r.text == f"answer {i}"
            assert 0.25 < took < 0.9, took
            # The worker's claim, the waiter's first read and the one it was woken for.
            assert reads <= 4, reads
    finally:
        kill(worker, signal.SIGTERM)


async def test_an_unreachable_redis_at_submit_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = llmrail.Queue(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(llmrail.ConnectionError, match="unreachable"):
        await queue.submit("keep me", target="openai/gpt-4.1-mini")


class Receiver:
    """A local webhook receiver: answers each POST with the next status of ``statuses`` (then 200),
    keeping what came and whether its signature was right."""

    def __init__(self, secret: str, statuses: list[int], port: int = 0) -> None:
        self.got: list[tuple[dict[str, Any], bool]] = []
        self.delivery_ids: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                ts = self.headers["x-llmrail-timestamp"]
                expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
                fresh = abs(time.time() - int(ts)) < 300
                valid = fresh and hmac.compare_digest(self.headers["x-llmrail-signature"], f"v1={expected}")
                outer.delivery_ids.append(self.headers["x-llmrail-delivery"])
                outer.got.append((json.loads(body), valid))
                self.send_response(statuses.pop(0) if statuses else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_a_finished_item_is_posted_signed_and_redelivered_after_a_failed_delivery(
    srv: MockServer, tmp_path: Path
) -> None:
    secret = "whsec-test-0123456789"
    queue = llmrail.Queue(url(tmp_path), webhook_secret=secret)
    c = client(srv, circuit_breaker=NO_BREAKER)
    with Receiver(secret, statuses=[500]) as receiver:
        srv.reply("graded: B+")
        ok = await queue.submit("grade", target=c, callback_url=receiver.url, metadata={"essay": 42})
        srv.fault(400)
        bad = await queue.submit("bad", target=c, callback_url=receiver.url)
        async with queue.worker(concurrency=1):
            await queue.result(ok, wait=10)
            with pytest.raises(llmrail.BadRequestError):
                await queue.result(bad, wait=10)
            deadline = time.monotonic() + 10
            while len(receiver.got) < 3:  # noqa: ASYNC110 - the receiver is a thread
                assert time.monotonic() < deadline, receiver.got
                await asyncio.sleep(0.05)
    assert all(valid for _, valid in receiver.got)
    completed = [body for body, _ in receiver.got if body["queue_id"] == ok]
    assert len(completed) == 2 and completed[0] == completed[1]  # answered 500, so sent again
    first = completed[0]
    assert first["state"] == "COMPLETED" and first["text"] == "graded: B+"
    assert first["metadata"] == {"essay": 42} and first["error"] is None
    [failed] = [body for body, _ in receiver.got if body["queue_id"] == bad]
    assert failed["state"] == "FAILED"
    assert failed["error"]["kind"] == "BadRequestError" and failed["result"] is None
    assert secret not in repr(queue) and secret not in str(await queue.status(ok))


async def test_a_callback_needs_the_queues_secret(tmp_path: Path) -> None:
    queue = llmrail.Queue(url(tmp_path))
    with pytest.raises(llmrail.ConfigurationError, match="webhook_secret"):
        await queue.submit("hi", target="openai/x", callback_url="http://127.0.0.1:1/hook")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmrail", "queue", *args], capture_output=True, text=True,
                          timeout=60)


async def test_the_command_line_shows_retries_and_purges_items(tmp_path: Path) -> None:
    queue_url = url(tmp_path)
    queue = llmrail.Queue(queue_url, ttl=0.1)
    qid = await queue.submit("hi", target="openai/gpt-4.1-mini", metadata={"essay": 42})
    await asyncio.sleep(0.2)
    stats = cli("stats", "--url", queue_url)
    assert stats.returncode == 0, stats.stderr
    assert "expired                1" in stats.stdout and "queued                 0" in stats.stdout
    listed = cli("list", "--url", queue_url, "--state", "expired")
    assert qid in listed.stdout and "EXPIRED" in listed.stdout
    shown = cli("show", qid, "--url", queue_url)
    assert '"state": "EXPIRED"' in shown.stdout and '"essay": 42' in shown.stdout
    retried = cli("retry", qid, "--url", queue_url)
    assert retried.returncode == 0 and "queued again" in retried.stdout
    assert cli("retry", qid, "--url", queue_url).returncode == 1  # now QUEUED: nothing to retry
    # Queued again with its TTL anew, it has expired again since: purged with the finished items.
    await asyncio.sleep(0.2)
    assert cli("purge", "--url", queue_url, "--state", "queued").stdout.strip() == "purged 0 items"
    assert cli("purge", "--url", queue_url).stdout.strip() == "purged 1 items"
    missing = cli("show", "q_nope", "--url", queue_url)
    assert missing.returncode == 1 and "NotFoundError" in missing.stderr


async def test_an_expiry_is_posted_and_reported_once_however_many_readers_see_it(tmp_path: Path) -> None:
    secret = "whsec-test-0123456789"
    one = llmrail.Queue(url(tmp_path), ttl=0.3, webhook_secret=secret)
    two = llmrail.Queue(url(tmp_path), ttl=0.3, webhook_secret=secret)
    seen: list[tuple[str, str]] = []
    for q in (one, two):
        q.on_event(lambda e: seen.append((e["queue_id"], e["state"])))
    with Receiver(secret, statuses=[500]) as receiver:
        qid = await one.submit("too late", target="openai/gpt-4.1-mini", callback_url=receiver.url,
                               metadata={"essay": 9})
        await asyncio.sleep(0.4)
        for _ in range(3):  # every reader sees EXPIRED; one of them reports it
            assert (await one.status(qid)).state == (await two.status(qid)).state == "EXPIRED"
        with pytest.raises(llmrail.ExpiredError):
            await two.result(qid, wait=1)
        deadline = time.monotonic() + 10
        while len(receiver.got) < 2:  # noqa: ASYNC110 - the receiver is a thread
            assert time.monotonic() < deadline, receiver.got
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # room for a second report, were there one
    assert [e for e in seen if e[1] == "EXPIRED"] == [(qid, "EXPIRED")]
    assert len(receiver.got) == 2 and receiver.got[0] == receiver.got[1]  # answered 500: sent again
    body, valid = receiver.got[0]
    assert valid and body["state"] == "EXPIRED" and body["metadata"] == {"essay": 9}
    assert body["error"]["kind"] == "ExpiredError" and body["result"] is None


async def test_a_worker_that_finds_an_item_past_its_ttl_reports_the_expiry(srv: MockServer, tmp_path: Path) -> None:
    secret = "whsec-test-0123456789"
    queue = llmrail.Queue(url(tmp_path), ttl=0.3, webhook_secret=secret)
    seen: list[tuple[str, str]] = []
    queue.on_event(lambda e: seen.append((e["queue_id"], e["state"])))
    c = client(srv, circuit_breaker=llmrail.CircuitBreaker(failure_threshold=1, cooldown=30))
    srv.fault(529)
    with pytest.raises(llmrail.OverloadedError):
        await c.chat("down")  # the breaker opens: the worker leaves the target's items waiting
    with Receiver(secret, statuses=[]) as receiver:
        qid = await queue.submit("waits", target=c, callback_url=receiver.url)
        async with queue.worker(concurrency=1):
            deadline = time.monotonic() + 10
            while not receiver.got:  # noqa: ASYNC110 - the receiver is a thread
                assert time.monotonic() < deadline, seen
                await asyncio.sleep(0.05)
    assert seen == [(qid, "QUEUED"), (qid, "EXPIRED")]  # no status() call: the worker found it
    assert [(b["queue_id"], b["state"], v) for b, v in receiver.got] == [(qid, "EXPIRED", True)]
    assert len(srv.requests) == 1


async def webhook_of(queue: llmrail.Queue, qid: str, done: Any, timeout: float = 20) -> dict[str, Any]:
    """The item's webhook once ``done(webhook)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        w = (await queue.status(qid)).webhook
        if w is not None and done(w):
            return dict(w)
        assert time.monotonic() < deadline, w
        await asyncio.sleep(0.05)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
async def test_a_webhook_a_killed_worker_owed_is_delivered_by_the_next_worker_with_the_same_delivery_id(
    srv: MockServer, shared_url: str
) -> None:
    secret = "whsec-test-0123456789"
    with socket.socket() as s:  # the receiver's port, with nothing listening on it yet
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    queue = llmrail.Queue(shared_url, lease=1, webhook_secret=secret)
    qid = await queue.submit("grade", target="openai/gpt-4.1-mini", callback_url=f"http://127.0.0.1:{port}/hook",
                             metadata={"essay": 7})
    srv.reply("graded: A")
    first = start_worker(shared_url, srv, webhook_secret=secret)
    try:
        owed = await webhook_of(queue, qid, lambda w: w["attempts"] >= 1 and w["last_error"])
    finally:
        kill(first)  # SIGKILL: nothing of this process runs after the failed delivery
    assert (await queue.status(qid)).state == "COMPLETED"
    assert owed["state"] == "PENDING" and "ConnectionError" in owed["last_error"]
    assert (await queue.stats())["webhooks_pending"] == 1
    with Receiver(secret, statuses=[], port=port) as receiver:
        second = start_worker(shared_url, srv, webhook_secret=secret)
        try:
            done = await webhook_of(queue, qid, lambda w: w["state"] == "DELIVERED")
        finally:
            kill(second)
    assert receiver.got and all(valid for _, valid in receiver.got)
    assert set(receiver.delivery_ids) == {owed["delivery_id"]} == {b["delivery_id"] for b, _ in receiver.got}
    body = receiver.got[0][0]
    assert (body["queue_id"], body["state"], body["text"]) == (qid, "COMPLETED", "graded: A")
    assert body["metadata"] == {"essay": 7}
    assert done["delivery_id"] == owed["delivery_id"] and done["settled_at"] is not None
    assert len(srv.requests) == 1  # the item ran once; only its webhook was owed
    stats = await queue.stats()
    assert (stats["webhooks_pending"], stats["webhooks_failed"], stats["completed"]) == (0, 0, 1)


async def test_a_webhook_is_given_up_after_its_attempts_and_status_stats_and_the_cli_show_it(
    srv: MockServer, tmp_path: Path
) -> None:
    secret = "whsec-test-0123456789"
    queue = llmrail.Queue(url(tmp_path), webhook_secret=secret, webhook_attempts=2)
    c = client(srv)
    with Receiver(secret, statuses=[503, 503, 503]) as receiver:
        srv.reply("graded")
        qid = await queue.submit("grade", target=c, callback_url=receiver.url)
        async with queue.worker(concurrency=1):
            w = await webhook_of(queue, qid, lambda w: w["state"] != "PENDING", timeout=10)
    assert len(receiver.got) == 2 and all(valid for _, valid in receiver.got)
    assert (w["state"], w["attempts"], w["next_at"]) == ("GAVE_UP", 2, None)
    assert "503" in w["last_error"] and w["settled_at"] is not None
    stats = await queue.stats()
    assert (stats["webhooks_pending"], stats["webhooks_failed"]) == (0, 1)
    shown = cli("show", qid, "--url", url(tmp_path))
    assert shown.returncode == 0 and '"state": "GAVE_UP"' in shown.stdout
    assert "webhooks_failed        1" in cli("stats", "--url", url(tmp_path)).stdout


async def test_a_webhook_older_than_its_max_age_is_given_up_unsent(srv: MockServer, tmp_path: Path) -> None:
    secret = "whsec-test-0123456789"
    queue = llmrail.Queue(url(tmp_path), webhook_secret=secret, webhook_max_age=0.5)
    c = client(srv)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    qid = await queue.submit("grade", target=c, callback_url=f"http://127.0.0.1:{port}/hook")
    async with queue.worker(concurrency=1):
        # The first POST finds nobody; its retry, a second later, is past the age.
        w = await webhook_of(queue, qid, lambda w: w["state"] != "PENDING", timeout=10)
    assert (w["state"], w["attempts"]) == ("GAVE_UP", 2)
    assert "webhook_max_age" in w["last_error"]


def test_a_script_without_an_event_loop_submits_and_waits_with_the_sync_forms(srv: MockServer, tmp_path: Path) -> None:
    queue = llmrail.Queue(url(tmp_path))
    c = client(srv)
    seen: list[str] = []
    queue.on_event(lambda e: seen.append(e["state"]))  # needs the GIL while result_sync waits
    qid = queue.submit_sync({"messages": "Capital of Peru?", "max_tokens": 9}, target=c, metadata={"n": 1})
    keyed = queue.submit_sync("again", target=c, idempotency_key="k")
    assert queue.submit_sync("other", target=c, idempotency_key="k") == keyed != qid
    item = queue.status_sync(qid)
    assert (item.state, item.metadata, item.request["max_tokens"]) == ("QUEUED", {"n": 1}, 9)
    ticks: list[float] = []
    stop = threading.Event()

    def tick() -> None:  # runs only while the waiting thread has let the GIL go
        while not stop.is_set():
            ticks.append(time.monotonic())
            for _ in range(10_000):
                pass

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        with pytest.raises(llmrail.TimeoutError, match="QUEUED"):
            start = time.monotonic()
            try:
                queue.result_sync(qid, wait=0.3)  # no worker yet
            finally:
                end = time.monotonic()
    finally:
        stop.set()
        ticker.join()
    assert end - start >= 0.3
    assert len([t for t in ticks if start + 0.1 < t < end - 0.1]) > 10
    srv.reply("Lima.")
    with queue.worker(concurrency=1):
        assert queue.result_sync(qid, wait=10).text == "Lima."
        assert queue.result_sync(keyed, wait=10).text == "mock reply to: again"
    assert queue.status_sync(qid).state == "COMPLETED"
    wait_for(lambda: seen.count("COMPLETED") == 2)
    with pytest.raises(llmrail.NotFoundError):
        queue.status_sync("q_missing")


def gauges(queue_url: str) -> dict[str, float]:
    """The queue's samples in `llmrail.metrics_text()`: name{state} -> value."""
    out: dict[str, float] = {}
    for line in llmrail.metrics_text().splitlines():
        if line.startswith("llmrail_queue_") and f'queue="{queue_url}"' in line:
            name, value = line.rsplit(" ", 1)
            state = name.split('state="')[1].split('"')[0] if 'state="' in name else ""
            out[name.split("{")[0] + (f"{{{state}}}" if state else "")] = float(value)
    return out


async def test_the_metrics_show_depth_by_state_oldest_queued_age_rate_and_expirations(
    srv: MockServer, tmp_path: Path
) -> None:
    queue_url = url(tmp_path)
    queue, short = llmrail.Queue(queue_url), llmrail.Queue(queue_url, ttl=0.2)
    c = client(srv)
    done = [await queue.submit("hi", target=c) for _ in range(3)]
    async with queue.worker(concurrency=2):
        for qid in done:
            await queue.result(qid, wait=10)
    late = await short.submit("too late", target=c)
    await asyncio.sleep(0.4)
    with pytest.raises(llmrail.ExpiredError):
        await queue.result(late, wait=1)
    await queue.submit("waits", target="openai/gpt-4.1-mini")
    await asyncio.sleep(0.05)
    got = gauges(queue_url)
    assert got["llmrail_queue_items{completed}"] == 3
    assert got["llmrail_queue_items{expired}"] == 1
    assert got["llmrail_queue_items{queued}"] == 1
    assert got["llmrail_queue_items{processing}"] == got["llmrail_queue_items{failed}"] == 0
    assert got["llmrail_queue_oldest_queued_seconds"] >= 0.04
    assert got["llmrail_queue_finished_last_minute"] == 3
    assert got["llmrail_queue_refusing"] == 0
