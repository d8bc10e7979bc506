"""``python -m llmrail batch list|stats|show ID|results ID|cancel ID [--store PATH]``: look into
the batch jobs kept in a store and act on them from a shell. Everything it does is a
``BatchStore`` or ``BatchJob`` method; this only prints."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._cli import run_async, when
from ._core import BatchJob, BatchStore, ChatResponse
from .errors import LLMError


def add_parser(sub: Any) -> None:
    b = sub.add_parser("batch", help="inspect kept batch jobs: list, stats, show ID, results ID, cancel ID")
    b.add_argument("action", choices=["list", "stats", "show", "results", "cancel"])
    b.add_argument("id", nargs="?", help="the job's id, batchjob_... (show, results, cancel)")
    b.add_argument("--store", help="the store file (default: llmrail/batches.sqlite3 in the user cache directory)")
    b.add_argument("--api-key", help="cancel: the provider's key (default: its usual environment variable)")


def _counts(c: Any) -> str:
    return " ".join(f"{k}={v}" for k, v in c.items())


def _job(job: BatchJob) -> dict[str, Any]:
    return {
        "id": job.id, "provider": job.provider, "model": job.model, "status": job.status, "mode": job.mode,
        "counts": job.counts, "created_at": when(job.created_at), "expires_at": when(job.expires_at),
        "provider_batch_ids": job.provider_batch_ids,
    }


def _result(index: int, custom_id: str, r: ChatResponse | LLMError) -> dict[str, Any]:
    out: dict[str, Any] = {"index": index, "custom_id": custom_id}
    if isinstance(r, ChatResponse):
        out.update(text=r.text, attempts=r.attempts, input_tokens=r.usage.input_tokens,
                   output_tokens=r.usage.output_tokens)
        if r.tool_calls:
            out["tool_calls"] = [{"name": t.name, "arguments": t.arguments} for t in r.tool_calls]
    else:
        out.update(error=type(r).__name__, message=str(r), attempts=r.attempts)
    return out


async def _run(args: argparse.Namespace) -> int:
    if args.action in ("show", "results", "cancel") and not args.id:
        print(f"batch {args.action} needs a job id", file=sys.stderr)
        return 2
    if args.action == "list":
        for j in BatchStore(args.store).jobs():
            print(f"{j['id']}  {j['status']:10}  {j['provider']}/{j['model']:28}  {j['mode']:10}  "
                  f"created={when(j['created_at'])}  {_counts(j['counts'])}")
        return 0
    if args.action == "stats":
        print(json.dumps(BatchStore(args.store).stats(), indent=2))
        return 0
    job = await BatchJob.resume(args.id, store=args.store, api_key=args.api_key)
    if args.action == "show":
        print(json.dumps(_job(job), indent=2))
    elif args.action == "results":
        # One JSON line per request, in input order.
        for i, (custom_id, r) in enumerate(zip(job.custom_ids, job.results(), strict=True)):
            print(json.dumps(_result(i, custom_id, r), ensure_ascii=False))
    else:
        await job.cancel()
        print(f"{job.id} {job.status}: {_counts(job.counts)}")
    return 0


def run(args: argparse.Namespace) -> int:
    return run_async(_run(args))
