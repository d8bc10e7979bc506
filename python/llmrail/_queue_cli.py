"""``python -m llmrail queue stats|list|show ID|retry ID|purge --url URL``: look into a durable
queue and act on its items from a shell. Everything it does is a ``Queue`` method; this only
prints."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ._cli import run_async, when
from ._core import Queue, QueueItem

STATES = ["QUEUED", "PROCESSING", "COMPLETED", "FAILED", "EXPIRED"]


def add_parser(sub: Any) -> None:
    q = sub.add_parser("queue", help="inspect a durable queue: stats, list, show ID, retry ID, purge")
    q.add_argument("action", choices=["stats", "list", "show", "retry", "purge"])
    q.add_argument("id", nargs="?", help="the item's queue id (show, retry)")
    q.add_argument("--url", required=True, help="the queue's URL: sqlite:///path/queue.db")
    q.add_argument("--state", type=str.upper, choices=STATES, action="append",
                   help="list: only this state; purge: these states (default: every finished one)")
    q.add_argument("--limit", type=int, default=100, help="list: at most this many items (100)")


def _item(item: QueueItem) -> dict[str, Any]:
    return {
        "id": item.id, "state": item.state, "target": item.target, "attempts": item.attempts,
        "max_attempts": item.max_attempts, "priority": item.priority,
        "idempotency_key": item.idempotency_key, "metadata": item.metadata,
        "created_at": when(item.created_at), "expires_at": when(item.expires_at),
        "finished_at": when(item.finished_at), "errors": item.errors, "request": item.request,
        "webhook": _webhook(item),
    }


def _webhook(item: QueueItem) -> dict[str, Any] | None:
    if (w := item.webhook) is None:
        return None
    return {**w, "created_at": when(w["created_at"]), "next_at": when(w["next_at"]),
            "settled_at": when(w["settled_at"])}


async def _run(args: argparse.Namespace) -> int:
    queue = Queue(args.url)
    if args.action in ("show", "retry") and not args.id:
        print(f"queue {args.action} needs an item id", file=sys.stderr)
        return 2
    if args.action == "stats":
        for name, value in (await queue.stats()).items():
            print(f"{name:22} {value}")
    elif args.action == "list":
        state = args.state[0] if args.state else None
        for item in await queue.list(state=state, limit=args.limit):
            print(f"{item.id}  {item.state:10}  {item.target:30}  attempts={item.attempts}  "
                  f"created={when(item.created_at)}  {item.last_error or ''}".rstrip())
    elif args.action == "show":
        print(json.dumps(_item(await queue.status(args.id)), indent=2, default=str))
    elif args.action == "retry":
        if not await queue.retry(args.id):
            print(f"{args.id} is not FAILED or EXPIRED: nothing to retry", file=sys.stderr)
            return 1
        print(f"{args.id} queued again")
    else:
        print(f"purged {await queue.purge(states=args.state)} items")
    return 0


def run(args: argparse.Namespace) -> int:
    return run_async(_run(args))
