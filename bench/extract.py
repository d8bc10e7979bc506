"""``make bench``, structured extraction: validating a ~1 KB answer against a ~20-field schema,
llmrail's lenient parse + JSON Schema validation (Rust) against Python ``jsonschema`` and
``pydantic.model_validate_json``, in the same run; then what extraction adds beyond the HTTP call
(``client.extract_sync`` against ``client.chat_sync`` with the same answer from the mock server).

    .venv/bin/python bench/extract.py [--n 20000] [--calls 2000] [--out bench-results]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jsonschema
import llmrail
from llmrail._core import JsonSchema
from llmrail.testing import MockServer
from pydantic import BaseModel, Field


class Address(BaseModel):
    street: str
    city: str
    postcode: str = Field(pattern=r"^[0-9A-Z -]{3,10}$")
    country: Literal["FR", "DE", "GB", "US", "ES"]


class Order(BaseModel):
    """20 fields at the top level, a nested object and lists: a realistic extraction target."""

    order_id: str
    customer: str
    email: str
    status: Literal["new", "paid", "shipped", "delivered", "returned"]
    total: float = Field(ge=0)
    currency: Literal["EUR", "USD", "GBP"]
    items: list[str] = Field(min_length=1)
    quantities: list[int]
    shipping: Address
    billing: Address
    gift: bool
    notes: str = Field(max_length=400)
    priority: int = Field(ge=1, le=5)
    channel: Literal["web", "app", "phone"]
    coupon: str | None
    tax: float = Field(ge=0)
    weight_kg: float
    fragile: bool
    tags: list[str]
    rating: float = Field(ge=1.0, le=5.0)


ADDRESS = {"street": "12 Rue de la Paix", "city": "Paris", "postcode": "75002", "country": "FR"}
ANSWER = {
    "order_id": "ORD-2024-118734",
    "customer": "Camille Durand",
    "email": "camille.durand@example.com",
    "status": "shipped",
    "total": 1249.9,
    "currency": "EUR",
    "items": ["laptop stand", "mechanical keyboard", "usb-c dock", "monitor arm"],
    "quantities": [1, 1, 2, 1],
    "shipping": ADDRESS,
    "billing": {**ADDRESS, "street": "3 Avenue Foch"},
    "gift": False,
    "notes": "Leave the parcel with the concierge if nobody answers; the customer asked for an invoice "
    "with the company name and VAT number printed on it, and for the dock to ship first.",
    "priority": 2,
    "channel": "web",
    "coupon": "SPRING24",
    "tax": 208.32,
    "weight_kg": 6.4,
    "fragile": True,
    "tags": ["b2b", "invoice", "split-shipment", "repeat-customer"],
    "rating": 4.5,
}


def per_call_us(fn: Callable[[], Any], n: int) -> float:
    """Median of 5 runs of n calls, in microseconds per call."""
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(runs)


def validation(n: int) -> dict[str, float]:
    schema = Order.model_json_schema()
    text = json.dumps(ANSWER)
    ours = JsonSchema(schema)
    theirs = jsonschema.Draft202012Validator(schema)
    assert ours.validate_json(text) == ANSWER and Order.model_validate_json(text)
    theirs.validate(json.loads(text))
    return {
        "answer_bytes": len(text),
        "llmrail_parse_validate_us": per_call_us(lambda: ours.validate_json(text), n),
        "jsonschema_loads_validate_us": per_call_us(lambda: theirs.validate(json.loads(text)), max(n // 20, 200)),
        "pydantic_model_validate_json_us": per_call_us(lambda: Order.model_validate_json(text), n),
    }


def overhead(calls: int) -> dict[str, float]:
    """Calls interleaved (chat, extract dict, extract model, chat, ...) and medians compared, so
    load from other processes hits all three alike."""
    with MockServer() as srv:
        srv.default(json.dumps(ANSWER), latency=0)
        client = llmrail.Client("openai/gpt-4.1-mini", base_url=srv.openai_base_url, api_key="sk-bench")
        schema = Order.model_json_schema()
        # The baseline sends the same request body (the schema as response_format), so the
        # difference is what extraction adds: schema lookup, parse, validation, conversion.
        shaped = {"response_format": {"type": "json_schema", "json_schema": {"name": "Order", "schema": schema}}}
        runs: dict[str, Callable[[], Any]] = {
            "chat_sync_us": lambda: client.chat_sync("Extract the order.", extra_body=shaped),
            # For scale: the same answer without the schema in the request.
            "chat_sync_plain_us": lambda: client.chat_sync("Extract the order."),
            "extract_sync_dict_us": lambda: client.extract_sync(schema, "Extract the order."),
            "extract_sync_pydantic_us": lambda: client.extract_sync(Order, "Extract the order."),
        }
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(calls):
            for name, fn in runs.items():
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1e6)
    out = {k: statistics.median(v) for k, v in times.items()}
    out["extract_overhead_dict_us"] = out["extract_sync_dict_us"] - out["chat_sync_us"]
    out["extract_overhead_pydantic_us"] = out["extract_sync_pydantic_us"] - out["chat_sync_us"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args()
    v = validation(args.n)
    o = overhead(args.calls)
    speedup = v["jsonschema_loads_validate_us"] / v["llmrail_parse_validate_us"]
    print(f"\nStructured extraction: a {v['answer_bytes']}-byte answer, a 20-field schema (median of 5 runs)")
    rows = [
        ("llmrail lenient parse + validate (Rust)", v["llmrail_parse_validate_us"], ""),
        ("jsonschema (json.loads + validate)", v["jsonschema_loads_validate_us"], f"({speedup:.0f}x slower)"),
        ("pydantic model_validate_json", v["pydantic_model_validate_json_us"], ""),
    ]
    for label, us, note in rows:
        print(f"  {label:<42}{us:8.1f} us   {note}".rstrip())
    print("Extraction overhead beyond the HTTP call (mock server, sync, same request and answer; medians)")
    rows = [
        ("chat_sync, no schema in the request", o["chat_sync_plain_us"], "(for scale)"),
        ("chat_sync, schema dict as extra_body", o["chat_sync_us"], "(the baseline)"),
        ("extract_sync(schema dict)", o["extract_sync_dict_us"], f"(+{o['extract_overhead_dict_us']:.1f})"),
        ("extract_sync(pydantic model)", o["extract_sync_pydantic_us"], f"(+{o['extract_overhead_pydantic_us']:.1f})"),
    ]
    for label, us, note in rows:
        print(f"  {label:<42}{us:8.1f} us   {note}".rstrip())
    out = Path(args.out)
    out.mkdir(exist_ok=True)
    (out / "extract.json").write_text(json.dumps({**v, **o, "speedup_vs_jsonschema": speedup}, indent=2))


if __name__ == "__main__":
    main()
