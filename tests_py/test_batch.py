"""Provider batch jobs from Python against the mock server over 127.0.0.1: submit_batch, wait,
results in input order (answers and typed errors), per-item retries, cancel, the concurrent mode,
the batch price, and a job resumed from its store after its process was SIGKILLed mid-job."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import llmrail
import pytest
from llmrail.testing import MockServer

from .conftest import API_KEY, make_client


def requests(*ids: str) -> list[llmrail.BatchRequest]:
    return [{"custom_id": i, "messages": f"question {i}", "max_tokens": 50} for i in ids]


def posts(srv: MockServer, suffix: str) -> int:
    return sum(1 for r in srv.requests if r["method"] == "POST" and r["path"].endswith(suffix))


async def test_a_job_answers_in_input_order_with_each_items_own_error(
    srv: MockServer, client: llmrail.Client, provider: str, tmp_path: Path
) -> None:
    srv.batch_settings(processing=0.2, outcomes={"c": ["invalid_request_error"]})
    job = await client.submit_batch(requests("a", "b", "c"), store=tmp_path / "jobs.sqlite3")
    assert (job.provider, job.mode) == (provider, "batch")
    assert job.status in ("submitted", "running")
    assert job.expires_at is not None and job.expires_at > job.created_at
    seen: list[llmrail._core._BatchCounts] = []  # type: ignore[name-defined]
    await job.wait(poll_interval=0.02, timeout=20, on_progress=seen.append)
    assert job.status == "ended"
    assert job.counts == {"pending": 0, "succeeded": 2, "errored": 1, "cancelled": 0, "expired": 0}
    assert seen and seen[-1]["succeeded"] == 2
    a, b, c = job.results()
    assert isinstance(a, llmrail.ChatResponse) and a.text == "mock reply to: question a"
    assert isinstance(b, llmrail.ChatResponse) and b.text == "mock reply to: question b"
    assert isinstance(c, llmrail.BadRequestError) and c.attempts == 1
    assert a.attempts == 1 and a.usage.output_tokens > 0
    # Half the price of the same answers had they been calls.
    assert a.cost_usd is not None and job.cost_usd is not None
    assert job.usage.output_tokens == a.usage.output_tokens + b.usage.output_tokens
    assert len(job.provider_batch_ids) == 1


async def test_a_gemini_job_goes_inline_retries_and_costs_half(srv: MockServer, tmp_path: Path) -> None:
    srv.batch_settings(
        processing=0.1,
        outcomes={"b": ["invalid_request_error"], "c": ["overloaded_error", "succeeded"]},
    )
    client = llmrail.Client("gemini/gemini-2.5-flash", base_url=srv.url, api_key=API_KEY)
    job = await client.submit_batch(requests("a", "b", "c"), store=tmp_path / "jobs.sqlite3")
    assert (job.provider, job.mode) == ("gemini", "batch")
    await job.wait(poll_interval=0.02, timeout=20)
    assert job.status == "ended"
    a, b, c = job.results()
    assert isinstance(a, llmrail.ChatResponse) and a.text == "mock reply to: question a"
    assert isinstance(b, llmrail.BadRequestError) and b.attempts == 1
    assert isinstance(c, llmrail.ChatResponse) and c.attempts == 2
    assert posts(srv, "/v1beta/models/gemini-2.5-flash:batchGenerateContent") == 2
    assert len(job.provider_batch_ids) == 2
    assert a.cost_usd is not None and c.cost_usd is not None and job.cost_usd is not None
    assert job.cost_usd == pytest.approx(a.cost_usd + c.cost_usd)
    # The same request as a call: the same usage at twice the price.
    call = await client.chat("question a", max_tokens=50)
    assert call.usage.output_tokens == a.usage.output_tokens
    assert call.cost_usd is not None and a.cost_usd == pytest.approx(call.cost_usd / 2)


async def test_a_cancelled_gemini_job_ends_cancelled(srv: MockServer, tmp_path: Path) -> None:
    srv.batch_settings(processing=30.0)
    client = llmrail.Client("gemini/gemini-2.5-flash", base_url=srv.url, api_key=API_KEY)
    job = await client.submit_batch(requests("a", "b"), store=tmp_path / "s")
    await job.cancel()
    await job.wait(poll_interval=0.02, timeout=20)
    assert job.status == "cancelled"
    assert all(isinstance(r, llmrail.LLMError) for r in job.results())
    assert posts(srv, ":cancel") == 1


INLINE_LIMIT_ENV = "LLMRAIL_GEMINI_BATCH_INLINE_BYTES"


async def test_a_gemini_job_over_the_inline_limit_goes_up_as_a_file_and_answers_in_input_order(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 600 bytes stand for the guide's 20 MB: six requests weigh more, c's retry alone less.
    monkeypatch.setenv(INLINE_LIMIT_ENV, "600")
    srv.batch_settings(
        processing=0.1,
        outcomes={"b": ["invalid_request_error"], "c": ["overloaded_error", "succeeded"]},
    )
    client = llmrail.Client("gemini/gemini-2.5-flash", base_url=srv.url, api_key=API_KEY)
    ids = ["a", "b", "c", "d", "e", "f"]
    job = await client.submit_batch(requests(*ids), store=tmp_path / "jobs.sqlite3")
    await job.wait(poll_interval=0.02, timeout=20)
    assert job.status == "ended"
    results = job.results()
    for i, r in zip(ids, results, strict=True):
        if i == "b":
            assert isinstance(r, llmrail.BadRequestError) and r.attempts == 1
        else:
            assert isinstance(r, llmrail.ChatResponse), r
            assert r.text == f"mock reply to: question {i}"
            assert r.attempts == (2 if i == "c" else 1)
    # The resumable upload: a start with the key, then the bytes at the URL it named.
    start, finish = [r for r in srv.requests if r["path"] == "/upload/v1beta/files"]
    headers = dict(start["headers"])
    assert headers["x-goog-upload-protocol"] == "resumable" and headers["x-goog-upload-command"] == "start"
    assert start["body"]["file"]["displayName"].startswith("llmrail-")
    assert "upload_id=" in finish["query"]
    assert dict(finish["headers"])["x-goog-upload-command"] == "upload, finalize"
    lines = [json.loads(line) for line in finish["body"].splitlines()]
    assert [line["key"] for line in lines] == ids
    assert lines[0]["request"]["contents"][0]["parts"][0]["text"] == "question a"
    assert int(headers["x-goog-upload-header-content-length"]) == len(finish["body"].encode())
    # The first batch names the file and answers in a responses file; c's retry goes inline.
    creates = [r for r in srv.requests if r["path"].endswith(":batchGenerateContent")]
    assert len(creates) == 2
    assert creates[0]["body"]["batch"]["inputConfig"]["fileName"].startswith("files/")
    assert [x["metadata"]["key"] for x in creates[1]["body"]["batch"]["inputConfig"]["requests"]["requests"]] == ["c"]
    downloads = [r for r in srv.requests if r["path"].startswith("/download/v1beta/files/")]
    assert len(downloads) == 1 and downloads[0]["query"] == "alt=media"
    assert job.cost_usd is not None and job.usage.output_tokens > 0


async def test_retryable_failures_go_again_and_each_result_says_how_many_attempts(
    srv: MockServer, tmp_path: Path
) -> None:
    srv.batch_settings(
        outcomes={
            "b": ["overloaded_error"],
            "c": ["expired", "overloaded_error", "overloaded_error"],
        }
    )
    client = make_client(srv, "anthropic")
    a, b, c = await client.batch(requests("a", "b", "c"), poll_interval=0.02, store=tmp_path / "s")
    assert isinstance(a, llmrail.ChatResponse) and a.attempts == 1
    assert isinstance(b, llmrail.ChatResponse) and b.attempts == 2
    assert isinstance(c, llmrail.OverloadedError) and c.attempts == 3
    assert posts(srv, "/v1/messages/batches") == 3


async def test_an_openai_job_where_every_item_failed_ends_with_every_error(
    srv: MockServer, tmp_path: Path
) -> None:
    srv.batch_settings(outcomes={"x": ["invalid_request_error"], "y": ["invalid_request_error"]})
    client = make_client(srv, "openai")
    results = await client.batch(requests("x", "y"), poll_interval=0.02, store=tmp_path / "s")
    assert all(isinstance(r, llmrail.BadRequestError) for r in results)
    assert posts(srv, "/v1/files") == 1 and posts(srv, "/v1/batches") == 1


async def test_a_cancelled_job_ends_cancelled(srv: MockServer, client: llmrail.Client, tmp_path: Path) -> None:
    srv.batch_settings(processing=30)
    job = await client.submit_batch(requests("a", "b"), store=tmp_path / "s")
    await job.cancel()
    assert job.status == "cancelling"
    await job.wait(poll_interval=0.02, timeout=20)
    assert job.status == "cancelled"
    assert job.counts["cancelled"] == 2
    assert all(isinstance(r, llmrail.CancelledError) for r in job.results())


async def test_a_provider_without_a_batch_api_runs_concurrent_calls(srv: MockServer) -> None:
    client = llmrail.Client("openrouter/some-model", base_url=srv.openai_base_url, api_key=API_KEY)
    job = await client.submit_batch(requests("a", "b", "c"), concurrency=2)
    assert job.mode == "concurrent" and job.expires_at is None
    ticks: list[int] = []
    await job.wait(on_progress=lambda counts: ticks.append(counts["succeeded"]))
    assert ticks == [1, 2, 3]
    texts = [r.text for r in job.results() if isinstance(r, llmrail.ChatResponse)]
    assert texts == ["mock reply to: question a", "mock reply to: question b", "mock reply to: question c"]


async def test_a_cancelled_concurrent_wait_calls_again_what_it_left_unfinished(srv: MockServer) -> None:
    srv.default("answer", latency=0.3)
    client = llmrail.Client("openrouter/some-model", base_url=srv.openai_base_url, api_key=API_KEY)
    job = await client.submit_batch(requests("a", "b", "c"))
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(job.wait(), 0.1)
    await srv.wait_for_disconnects(3)
    await job.wait()
    assert job.status == "ended"
    assert [r.text for r in job.results() if isinstance(r, llmrail.ChatResponse)] == ["answer"] * 3


async def test_a_batcher_answers_many_coroutines_from_shared_provider_batches(
    srv: MockServer, tmp_path: Path
) -> None:
    client = make_client(srv, "openai")
    async with client.batcher(max_items=3, max_wait=0.2, poll_interval=0.02, store=tmp_path / "s") as batcher:
        answers = await asyncio.gather(*(batcher.chat(f"question {i}", max_tokens=20) for i in range(7)))
    assert [a.text for a in answers] == [f"mock reply to: question {i}" for i in range(7)]
    assert all(a.attempts == 1 for a in answers)
    assert posts(srv, "/v1/batches") == 3  # 3 + 3 at once, then the seventh after max_wait
    with pytest.raises(llmrail.ConfigurationError, match="closed"):
        await batcher.chat("too late")


async def test_mistakes_are_refused_before_anything_is_sent(srv: MockServer, tmp_path: Path) -> None:
    client = make_client(srv, "anthropic")
    store = tmp_path / "s"
    with pytest.raises(llmrail.ConfigurationError, match='same custom_id "a"'):
        await client.submit_batch(requests("a", "a"), store=store)
    with pytest.raises(llmrail.ConfigurationError, match="cannot stream"):
        await client.submit_batch([{"messages": "hi", "stream": True}], store=store)  # type: ignore[typeddict-unknown-key]
    with pytest.raises(llmrail.ConfigurationError, match="per call"):
        await client.submit_batch([{"messages": "hi", "deadline": 5.0}], store=store)
    with pytest.raises(TypeError, match="max_tokens"):
        await client.submit_batch([{"messages": "hi", "max_token": 5}], store=store)  # type: ignore[typeddict-unknown-key]
    assert srv.requests == []
    with pytest.raises(llmrail.ConfigurationError, match="no batch job"):
        await llmrail.BatchJob.resume("batchjob_missing", store=store)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database, only text " * 100)
    with pytest.raises(llmrail.ConfigurationError, match="not an llmrail batch store"):
        await llmrail.BatchJob.resume("batchjob_missing", store=junk)


async def test_an_exception_in_on_progress_comes_out_of_wait_unchanged(
    srv: MockServer, tmp_path: Path
) -> None:
    srv.batch_settings(processing=30)
    job = await make_client(srv, "anthropic").submit_batch(requests("a"), store=tmp_path / "s")

    class Stop(Exception):
        pass

    def stop(counts: object) -> None:
        raise Stop("enough")

    with pytest.raises(Stop, match="enough"):
        await job.wait(poll_interval=0.02, on_progress=stop)


async def test_a_cancelled_wait_leaves_the_job_to_wait_for_again(srv: MockServer, tmp_path: Path) -> None:
    srv.batch_settings(processing=0.5)
    job = await make_client(srv, "openai").submit_batch(requests("a"), store=tmp_path / "s")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(job.wait(poll_interval=0.02), 0.1)
    with pytest.raises(llmrail.TimeoutError, match="still"):
        await job.wait(poll_interval=0.02, timeout=0.05)
    await job.wait(poll_interval=0.02, timeout=20)
    assert job.status == "ended"


def test_wait_sync_blocks_until_the_job_ended(srv: MockServer, tmp_path: Path) -> None:
    srv.batch_settings(processing=0.1)

    async def submit() -> llmrail.BatchJob:
        return await make_client(srv, "anthropic").submit_batch(requests("a"), store=tmp_path / "s")

    job = asyncio.run(submit())
    job.wait_sync(poll_interval=0.02)
    (a,) = job.results()
    assert isinstance(a, llmrail.ChatResponse)


async def test_wait_progress_shows_a_tqdm_bar_when_tqdm_is_installed(
    srv: MockServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tqdm")
    srv.batch_settings(processing=0.2, outcomes={"c": ["invalid_request_error"]})
    job = await make_client(srv, "anthropic").submit_batch(requests("a", "b", "c"), store=tmp_path / "s")
    ticks: list[int] = []
    await job.wait(poll_interval=0.02, timeout=20, progress=True, on_progress=lambda c: ticks.append(c["pending"]))
    err = capsys.readouterr().err
    assert job.id in err and "3/3" in err and "item" in err and "ended, 1 failed" in err
    assert "0/3" in err  # drawn from the first poll, while the batch ran
    assert ticks[-1] == 0  # on_progress is called as well


async def test_wait_progress_without_tqdm_rewrites_one_line_on_stderr(
    srv: MockServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if it were not installed
    srv.batch_settings(processing=0.2, outcomes={"c": ["invalid_request_error"]})
    job = await make_client(srv, "openai").submit_batch(requests("a", "b", "c"), store=tmp_path / "s")
    await job.wait(poll_interval=0.02, timeout=20, progress=True)
    err = capsys.readouterr().err
    lines = err.split("\r")
    assert lines[0] == "" and err.endswith("\n") and err.count("\n") == 1
    assert lines[1].startswith(f"{job.id} running: 0/3 items (0 %), 0 succeeded, 0 failed, 0 s")
    assert lines[-1].startswith(f"{job.id} ended: 3/3 items (100 %), 2 succeeded, 1 failed, 0 s")


async def test_a_cancelled_wait_ends_its_progress_line(
    srv: MockServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    srv.batch_settings(processing=30)
    job = await make_client(srv, "anthropic").submit_batch(requests("a"), store=tmp_path / "s")
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(job.wait(poll_interval=0.02, progress=True), 0.2)
    err = capsys.readouterr().err
    assert f"{job.id} running: 0/1 items" in err and err.endswith("\n")


def test_wait_sync_shows_progress_and_calls_on_progress_too(
    srv: MockServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    srv.batch_settings(processing=0.1)

    async def submit() -> llmrail.BatchJob:
        return await make_client(srv, "anthropic").submit_batch(requests("a", "b"), store=tmp_path / "s")

    job = asyncio.run(submit())
    seen: list[int] = []
    job.wait_sync(poll_interval=0.02, progress=True, on_progress=lambda c: seen.append(c["succeeded"]))
    assert seen[-1] == 2
    assert capsys.readouterr().err.rstrip("\n").split("\r")[-1].startswith(f"{job.id} ended: 2/2 items")

    class Stop(Exception):
        pass

    def stop(counts: object) -> None:
        raise Stop("enough")

    srv.batch_settings(processing=30)
    job = asyncio.run(submit())
    with pytest.raises(Stop, match="enough"):
        job.wait_sync(poll_interval=0.02, on_progress=stop)


async def test_an_anthropic_batch_with_a_one_hour_cache_sends_the_extended_ttl_beta(
    srv: MockServer, tmp_path: Path
) -> None:
    policy = "You are the support assistant of Example Corp. " + "Follow the refund policy. " * 300
    srv.batch_settings(outcomes={"x0": ["overloaded_error", "succeeded"]})
    client = make_client(srv, "anthropic")
    cached: list[llmrail.BatchRequest] = [
        {"custom_id": f"x{i}", "messages": [{"role": "system", "content": policy}, {"role": "user", "content": "q"}],
         "prompt_cache": "1h", "max_tokens": 20} for i in range(2)
    ]
    job = await client.submit_batch(cached, store=tmp_path / "s")
    await job.wait(poll_interval=0.02, timeout=20)
    assert job.status == "ended" and job.results()[0].attempts == 2  # type: ignore[union-attr]
    await client.submit_batch(requests("plain"), store=tmp_path / "s")
    first, retry, plain = (r for r in srv.requests if r["path"] == "/v1/messages/batches")
    assert first["body"]["requests"][0]["params"]["system"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    # The retry's batch carries it too: the betas are kept with the job (and so resume with it).
    for create in (first, retry):
        assert dict(create["headers"])["anthropic-beta"] == "extended-cache-ttl-2025-04-11"
    assert "anthropic-beta" not in dict(plain["headers"])


def batch_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "llmrail", "batch", *args], capture_output=True, text=True,
                          timeout=60)


async def test_the_command_line_lists_shows_reads_and_cancels_kept_jobs(srv: MockServer, tmp_path: Path) -> None:
    store = str(tmp_path / "jobs.sqlite3")
    srv.batch_settings(outcomes={"b": ["invalid_request_error"]})
    client = make_client(srv, "anthropic")
    ended = await client.submit_batch(requests("a", "b"), store=store)
    await ended.wait(poll_interval=0.02, timeout=20)
    srv.batch_settings(processing=30)
    running = await client.submit_batch(requests("c", "d", "e"), store=store)

    listed = batch_cli("list", "--store", store)
    assert listed.returncode == 0, listed.stderr
    first, second = listed.stdout.splitlines()
    assert first.startswith(f"{ended.id}  ended ") and "succeeded=1 errored=1" in first
    assert second.startswith(f"{running.id}  running ") and "pending=3" in second
    assert "anthropic/claude-sonnet-4-5" in first

    stats = json.loads(batch_cli("stats", "--store", store).stdout)
    assert stats["jobs"]["ended"] == stats["jobs"]["running"] == 1 and stats["jobs"]["failed"] == 0
    assert stats["items"] == {"pending": 3, "succeeded": 1, "errored": 1, "cancelled": 0, "expired": 0}
    assert stats["provider_batches"] == 2

    shown = json.loads(batch_cli("show", running.id, "--store", store).stdout)
    assert shown["status"] == "running" and shown["provider_batch_ids"] == running.provider_batch_ids

    results = [json.loads(line) for line in batch_cli("results", ended.id, "--store", store).stdout.splitlines()]
    assert results[0] == {"index": 0, "custom_id": "a", "text": "mock reply to: question a", "attempts": 1,
                          "input_tokens": results[0]["input_tokens"], "output_tokens": results[0]["output_tokens"]}
    assert results[1]["custom_id"] == "b" and results[1]["error"] == "BadRequestError"
    unfinished = batch_cli("results", running.id, "--store", store)
    assert unfinished.returncode == 1 and "await job.wait()" in unfinished.stderr

    cancelled = batch_cli("cancel", running.id, "--store", store, "--api-key", API_KEY)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.startswith(f"{running.id} cancelling")
    assert any(r["path"].endswith("/cancel") for r in srv.requests)

    missing = batch_cli("show", "batchjob_nope", "--store", store)
    assert missing.returncode == 1 and "no batch job" in missing.stderr
    assert batch_cli("show", "--store", store).returncode == 2
    (tmp_path / "other.db").write_text("not a database at all, but long enough to be read as one" * 20)
    other = batch_cli("list", "--store", str(tmp_path / "other.db"))
    assert other.returncode == 1 and "not an llmrail batch store" in other.stderr


async def test_stats_count_the_processs_jobs_and_a_stores(srv: MockServer, tmp_path: Path) -> None:
    gc.collect()  # jobs of earlier tests, still waiting for the collector, leave the numbers now
    before = llmrail.BatchJob.process_stats()
    srv.batch_settings(outcomes={"b": ["invalid_request_error"]})
    client = make_client(srv, "openai")
    job = await client.submit_batch(requests("a", "b", "c"), store=tmp_path / "s")
    during = llmrail.BatchJob.process_stats()
    assert sum(during["jobs"].values()) - sum(before["jobs"].values()) == 1
    assert during["jobs"]["ended"] == before["jobs"]["ended"]  # not collected yet
    assert sum(during["items"].values()) - sum(before["items"].values()) == 3
    await job.wait(poll_interval=0.02, timeout=20)
    after = llmrail.BatchJob.process_stats()
    assert after["jobs"]["ended"] - before["jobs"]["ended"] == 1
    assert after["items"]["succeeded"] - before["items"]["succeeded"] == 2
    assert after["items"]["errored"] - before["items"]["errored"] == 1
    assert after["provider_batches"] - before["provider_batches"] == 1
    del job
    gc.collect()
    assert llmrail.BatchJob.process_stats() == before

    store = llmrail.BatchStore(tmp_path / "s")
    assert store.path == tmp_path / "s" and repr(store) == f'BatchStore("{tmp_path / "s"}")'
    assert store.stats() == {
        "jobs": {"submitted": 0, "running": 0, "finalizing": 0, "ended": 1, "failed": 0, "cancelling": 0,
                 "cancelled": 0, "expired": 0},
        "items": {"pending": 0, "succeeded": 2, "errored": 1, "cancelled": 0, "expired": 0},
        "provider_batches": 1,
    }
    (summary,) = store.jobs()
    assert summary["status"] == "ended" and summary["provider"] == "openai" and summary["mode"] == "batch"
    assert summary["counts"]["succeeded"] == 2 and len(summary["provider_batch_ids"]) == 1


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import llmrail

    async def main():
        client = llmrail.Client("anthropic/claude-sonnet-4-5", base_url=sys.argv[1], api_key=sys.argv[2])
        reqs = [{"custom_id": f"r{i}", "messages": f"question {i}", "max_tokens": 20} for i in range(50)]
        job = await client.submit_batch(reqs, store=sys.argv[3])
        print(job.id, flush=True)
        await job.wait(poll_interval=0.05)
        print("finished", flush=True)

    asyncio.run(main())
    """
)


async def test_a_job_whose_process_was_killed_resumes_with_nothing_submitted_twice_or_lost(
    srv: MockServer, tmp_path: Path
) -> None:
    # r7 fails once (a retry is owed when the process dies); the rest succeed after 1.5 s.
    srv.batch_settings(processing=1.5, outcomes={"r7": ["overloaded_error"]})
    store = tmp_path / "jobs.sqlite3"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, srv.anthropic_base_url, API_KEY, str(store), stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    job_id = (await child.stdout.readline()).decode().strip()
    assert job_id.startswith("batchjob_")
    # Killed while polling: after its first polls, before the batch has ended.
    deadline = time.monotonic() + 10
    while sum(1 for r in srv.requests if r["method"] == "GET") < 3:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    assert await child.wait() == -signal.SIGKILL
    assert posts(srv, "/v1/messages/batches") == 1

    job = await llmrail.BatchJob.resume(job_id, store=store, api_key=API_KEY)
    assert job.id == job_id and job.status == "running"
    await job.wait(poll_interval=0.05, timeout=20)
    results = job.results()
    assert len(results) == 50
    for i, r in enumerate(results):
        assert isinstance(r, llmrail.ChatResponse), r
        assert r.text == f"mock reply to: question {i}"
        assert r.attempts == (2 if i == 7 else 1)
    # The first batch once, then r7's retry once: nothing sent twice.
    assert posts(srv, "/v1/messages/batches") == 2
    creates = [r for r in srv.requests if r["method"] == "POST" and r["path"].endswith("/batches")]
    assert [x["custom_id"] for x in creates[1]["body"]["requests"]] == ["r7"]


GEMINI_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    import llmrail

    async def main():
        client = llmrail.Client("gemini/gemini-2.5-flash", base_url=sys.argv[1], api_key=sys.argv[2])
        reqs = [{"custom_id": f"r{i}", "messages": f"question {i}", "max_tokens": 20} for i in range(50)]
        job = await client.submit_batch(reqs, store=sys.argv[3])
        print(job.id, flush=True)
        await job.wait(poll_interval=0.05)
        print("finished", flush=True)

    asyncio.run(main())
    """
)


async def test_a_killed_gemini_job_that_went_up_as_a_file_resumes_and_reads_its_responses_file(
    srv: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Fifty requests weigh more than 2,000 bytes (a file); r7's retry alone less (inline).
    monkeypatch.setenv(INLINE_LIMIT_ENV, "2000")
    srv.batch_settings(processing=1.5, outcomes={"r7": ["overloaded_error"]})
    store = tmp_path / "jobs.sqlite3"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", GEMINI_CHILD, srv.url, API_KEY, str(store), stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    job_id = (await child.stdout.readline()).decode().strip()
    assert job_id.startswith("batchjob_")
    deadline = time.monotonic() + 10
    while sum(1 for r in srv.requests if r["method"] == "GET") < 3:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    assert await child.wait() == -signal.SIGKILL
    assert posts(srv, ":batchGenerateContent") == 1 and posts(srv, "/upload/v1beta/files") == 2

    job = await llmrail.BatchJob.resume(job_id, store=store, api_key=API_KEY)
    assert job.status == "running"
    await job.wait(poll_interval=0.05, timeout=20)
    results = job.results()
    assert len(results) == 50
    for i, r in enumerate(results):
        assert isinstance(r, llmrail.ChatResponse), r
        assert r.text == f"mock reply to: question {i}"
        assert r.attempts == (2 if i == 7 else 1)
    # One upload and its batch, then r7's retry inline: nothing sent twice.
    assert posts(srv, "/upload/v1beta/files") == 2 and posts(srv, ":batchGenerateContent") == 2
    creates = [r for r in srv.requests if r["path"].endswith(":batchGenerateContent")]
    assert "fileName" in creates[0]["body"]["batch"]["inputConfig"]
    assert [x["metadata"]["key"] for x in creates[1]["body"]["batch"]["inputConfig"]["requests"]["requests"]] == ["r7"]
    assert sum(1 for r in srv.requests if r["path"].startswith("/download/v1beta/")) == 1


REAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "real-batches" / "curator"


async def test_a_real_anthropic_batch_replays_through_submit_wait_and_results(tmp_path: Path) -> None:
    from llmrail.replay import cassette

    path = REAL / "tests" / "integrations" / "anthropic" / "fixtures" / "basic_batch_completion.yaml"
    client = llmrail.Client("anthropic/claude-3-5-sonnet-20241022", api_key="sk-replay-only")
    foods = ["Spagetti", "Sushi", "Ramen"]
    reqs: list[llmrail.BatchRequest] = [
        {"custom_id": str(i), "messages": food, "max_tokens": 8192} for i, food in enumerate(foods)
    ]
    started = time.monotonic()
    with cassette(path, mode="none"):
        job = await client.submit_batch(reqs, store=tmp_path / "s")
        await job.wait()  # 30 s between polls when live; none while replaying
    assert time.monotonic() - started < 5
    results = job.results()
    assert all(isinstance(r, llmrail.ChatResponse) for r in results)
    texts = [r.text[:30] for r in results if isinstance(r, llmrail.ChatResponse)]
    assert texts == [
        "Here's a basic spaghetti recip",
        "Sushi is a Japanese dish featu",
        "Ramen is a popular Japanese no",
    ]
    usage = [(r.usage.input_tokens, r.usage.output_tokens) for r in results if isinstance(r, llmrail.ChatResponse)]
    assert usage == [(11, 273), (10, 259), (10, 313)]
    # The catalogue has no price for Claude 3.5 Sonnet (retired): no cost, never a guess.
    assert job.cost_usd is None and job.usage.output_tokens == 273 + 259 + 313


async def test_extract_batch_validates_each_answer_and_re_asks_the_failures_in_a_follow_up_batch(
    srv: MockServer, tmp_path: Path
) -> None:
    from pydantic import BaseModel

    class City(BaseModel):
        city: str

    # First batch a, b, c in order (b's answer is not a City); then b alone, fixed.
    for text in ['{"city": "Paris"}', '{"city": 5}', '{"city": "Rome"}', '{"city": "Lima"}']:
        srv.reply(text)
    client = llmrail.Client("gemini/gemini-2.5-flash", base_url=srv.url, api_key=API_KEY)
    out = await client.extract_batch(
        City,
        ["Capital of France?", "Capital of Peru?", "Capital of Italy?"],
        max_retries=1,
        poll_interval=0.02,
        store=tmp_path / "s",
    )
    assert out == [City(city="Paris"), City(city="Lima"), City(city="Rome")]
    assert posts(srv, ":batchGenerateContent") == 2


async def test_extract_batch_hands_back_the_error_of_an_item_that_never_validated(
    srv: MockServer, tmp_path: Path
) -> None:
    for text in ['{"city": "Paris"}', "no JSON", "still none"]:
        srv.reply(text)
    client = llmrail.Client("gemini/gemini-2.5-flash", base_url=srv.url, api_key=API_KEY)
    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    a, b = await client.extract_batch(
        schema, ["one", "two"], max_retries=1, poll_interval=0.02, store=tmp_path / "s"
    )
    assert a == {"city": "Paris"}
    assert isinstance(b, llmrail.ExtractionError) and b.attempts == 2


DIES_IN_CREATE = textwrap.dedent(
    """
    import asyncio, sys
    import llmrail

    async def main():
        client = llmrail.Client(sys.argv[1], base_url=sys.argv[2], api_key=sys.argv[3])
        reqs = [{"custom_id": f"r{i}", "messages": f"question {i}", "max_tokens": 20} for i in range(5)]
        await client.submit_batch(reqs, store=sys.argv[4])
        print("the create was answered", flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize(
    ("model", "base", "create", "listing"),
    [
        ("anthropic/claude-sonnet-4-5", "anthropic_base_url", "/v1/messages/batches", "/v1/messages/batches"),
        ("openai/gpt-4.1", "openai_base_url", "/v1/batches", "/v1/batches"),
        ("gemini/gemini-2.5-flash", "url", ":batchGenerateContent", "/v1beta/batches"),
    ],
)
async def test_a_process_killed_between_the_create_and_saving_its_answer_is_resumed_onto_the_same_batch(
    srv: MockServer, tmp_path: Path, model: str, base: str, create: str, listing: str
) -> None:
    # The mock makes the batch, then holds its answer back: the child is killed in that gap, so
    # the provider has a batch its store never heard of.
    srv.batch_settings(processing=0.3, create_delay=60)
    store = tmp_path / "jobs.sqlite3"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DIES_IN_CREATE, model, getattr(srv, base), API_KEY, str(store)
    )
    deadline = time.monotonic() + 20
    while posts(srv, create) < 1:
        assert time.monotonic() < deadline, "the child never sent its create"
        await asyncio.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    assert await child.wait() == -signal.SIGKILL
    srv.batch_settings(processing=0.3)

    (kept,) = llmrail.BatchStore(store).jobs()
    assert kept["provider_batch_ids"] == [] and kept["counts"]["pending"] == 5
    job = await llmrail.BatchJob.resume(kept["id"], store=store, api_key=API_KEY)
    await job.wait(poll_interval=0.05, timeout=20)
    results = job.results()
    for i, r in enumerate(results):
        assert isinstance(r, llmrail.ChatResponse), r
        assert r.text == f"mock reply to: question {i}" and r.attempts == 1
    # Exactly one provider batch: the one the killed process made, found through the list.
    assert posts(srv, create) == 1
    assert len(job.provider_batch_ids) == 1
    lists = [r for r in srv.requests if r["method"] == "GET" and r["path"].endswith(listing)]
    assert len(lists) == 1


@pytest.mark.parametrize(
    ("model", "base", "create"),
    [
        ("anthropic/claude-sonnet-4-5", "anthropic_base_url", "/v1/messages/batches"),
        ("openai/gpt-4.1", "openai_base_url", "/v1/batches"),
        ("gemini/gemini-2.5-flash", "url", ":batchGenerateContent"),
    ],
)
async def test_a_job_cancelled_while_its_create_was_unanswered_cancels_the_batch_that_create_made(
    srv: MockServer, tmp_path: Path, model: str, base: str, create: str
) -> None:
    # The child is killed after the provider made the batch and before the store heard of it.
    srv.batch_settings(processing=30, create_delay=60)
    store = tmp_path / "jobs.sqlite3"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DIES_IN_CREATE, model, getattr(srv, base), API_KEY, str(store)
    )
    deadline = time.monotonic() + 20
    while posts(srv, create) < 1:
        assert time.monotonic() < deadline, "the child never sent its create"
        await asyncio.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    assert await child.wait() == -signal.SIGKILL
    srv.batch_settings(processing=30)

    (kept,) = llmrail.BatchStore(store).jobs()
    assert kept["provider_batch_ids"] == []
    job = await llmrail.BatchJob.resume(kept["id"], store=store, api_key=API_KEY)
    await job.cancel()
    # The batch the killed process made is found, kept as the job's, and cancelled at the
    # provider; nothing new is created.
    assert len(job.provider_batch_ids) == 1
    cancels = [r for r in srv.requests if r["method"] == "POST" and r["path"].endswith("cancel")]
    assert len(cancels) == 1 and job.provider_batch_ids[0] in cancels[0]["path"]
    await job.wait(poll_interval=0.05, timeout=20)
    assert job.status == "cancelled"
    assert all(isinstance(r, llmrail.CancelledError) for r in job.results())
    assert posts(srv, create) == 1
    (kept,) = llmrail.BatchStore(store).jobs()
    assert kept["provider_batch_ids"] == job.provider_batch_ids


@pytest.mark.parametrize(
    ("model", "base", "create"),
    [
        ("anthropic/claude-sonnet-4-5", "anthropic_base_url", "/v1/messages/batches"),
        ("openai/gpt-4.1", "openai_base_url", "/v1/batches"),
        ("gemini/gemini-2.5-flash", "url", ":batchGenerateContent"),
    ],
)
async def test_a_batch_found_for_a_job_cancelled_before_cancels_looked_for_it_is_cancelled_too(
    srv: MockServer, tmp_path: Path, model: str, base: str, create: str
) -> None:
    srv.batch_settings(processing=30, create_delay=60)
    store = tmp_path / "jobs.sqlite3"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DIES_IN_CREATE, model, getattr(srv, base), API_KEY, str(store)
    )
    deadline = time.monotonic() + 20
    while posts(srv, create) < 1:
        assert time.monotonic() < deadline, "the child never sent its create"
        await asyncio.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    assert await child.wait() == -signal.SIGKILL
    srv.batch_settings(processing=30)
    # What a cancel of the version before cancels looked up unanswered creates wrote: the job
    # cancelled and its pending items ended cancelled, the create's record still there.
    with sqlite3.connect(store) as db:
        ((job_id, meta),) = db.execute("SELECT id, meta FROM jobs").fetchall()
        meta = json.loads(meta)
        assert meta["creating"] is not None
        meta["cancel_requested"] = True
        db.execute("UPDATE jobs SET meta = ?", (json.dumps(meta),))
        db.execute("UPDATE items SET place = ?", (json.dumps({"state": "done", "outcome": {"type": "cancelled"}}),))
    db.close()

    job = await llmrail.BatchJob.resume(job_id, store=store, api_key=API_KEY)
    # The batch the killed process made is found and cancelled at the provider, so the job
    # ends now rather than when that batch would have (30 s), and nothing new is created.
    await job.wait(poll_interval=0.05, timeout=20)
    assert len(job.provider_batch_ids) == 1
    cancels = [r for r in srv.requests if r["method"] == "POST" and r["path"].endswith("cancel")]
    assert len(cancels) == 1 and job.provider_batch_ids[0] in cancels[0]["path"]
    assert job.status == "cancelled"
    assert [type(r) for r in job.results()] == [llmrail.CancelledError] * 5
    assert posts(srv, create) == 1


EXTRACTS = textwrap.dedent(
    """
    import asyncio, sys
    import llmrail

    SCHEMA = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}

    async def main():
        client = llmrail.Client("gemini/gemini-2.5-flash", base_url=sys.argv[1], api_key=sys.argv[2])
        questions = ["Capital of France?", "Capital of Peru?", "Capital of Italy?"]
        await client.extract_batch(
            SCHEMA, questions, max_retries=2, poll_interval=0.05, store=sys.argv[3], run_id="cities"
        )
        print("finished", flush=True)

    asyncio.run(main())
    """
)


async def test_extract_batch_killed_during_its_re_ask_batch_continues_from_the_store_when_run_again(
    srv: MockServer, tmp_path: Path
) -> None:
    # Round one answers a, b, c (b's answer is not valid); round two re-asks b and is running
    # when the process is killed.
    for text in ['{"city": "Paris"}', '{"city": 5}', '{"city": "Rome"}', '{"city": "Lima"}']:
        srv.reply(text)
    srv.batch_settings(processing=1.0)
    store = tmp_path / "extract.sqlite3"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", EXTRACTS, srv.url, API_KEY, str(store), stdout=subprocess.PIPE
    )
    deadline = time.monotonic() + 20
    # The re-ask batch is made, then kept (the store is ours by then: the first job is in it).
    while posts(srv, ":batchGenerateContent") < 2 or [
        len(j["provider_batch_ids"]) for j in llmrail.BatchStore(store).jobs()
    ] != [1, 1]:
        assert time.monotonic() < deadline, "the re-ask batch was never kept"
        await asyncio.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    assert await child.wait() == -signal.SIGKILL
    kept = llmrail.BatchStore(store).jobs()
    assert [j["status"] for j in kept] == ["ended", "running"]

    # The same extraction in this process: round one is read back from the store and validated
    # again, round two is waited for; no batch is sent again and no answer is asked twice.
    client = llmrail.Client("gemini/gemini-2.5-flash", base_url=srv.url, api_key=API_KEY)
    schema = {"type": "object", "required": ["city"], "properties": {"city": {"type": "string"}}}
    questions = ["Capital of France?", "Capital of Peru?", "Capital of Italy?"]
    out = await client.extract_batch(
        schema, questions, max_retries=2, poll_interval=0.05, store=store, run_id="cities", include_raw=True
    )
    assert [x.value for x in out] == [{"city": "Paris"}, {"city": "Lima"}, {"city": "Rome"}]
    assert [x.attempts for x in out] == [1, 2, 1]
    assert posts(srv, ":batchGenerateContent") == 2
    assert len(llmrail.BatchStore(store).jobs()) == 2

    # Without a run id (or with another one) a run starts afresh.
    srv.reply('{"city": "Oslo"}')
    (fresh,) = await client.extract_batch(schema, ["Capital of Norway?"], poll_interval=0.05, store=store)
    assert fresh == {"city": "Oslo"}
    assert posts(srv, ":batchGenerateContent") == 3
