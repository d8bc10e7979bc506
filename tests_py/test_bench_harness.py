"""make bench's own harness (bench/): ratios taken round by round, rounds combined, the layers
switched off, a cassette of any size replayed, memory read in a fresh interpreter, the charts."""

from __future__ import annotations

import asyncio
import sys
import xml.dom.minidom
from pathlib import Path

import llmrail
import pytest
from llmrail.replay import cassette

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import curves  # noqa: E402 - bench/ is a folder of scripts, not a package
import floors  # noqa: E402
import layers  # noqa: E402
import memory  # noqa: E402
import reference  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402
import server  # noqa: E402


def _rounds(*p50s: float) -> dict[str, object]:
    return {"per_round": [{"p50_us": v} for v in p50s]}


def test_the_python_floors_read_whole_answers_twice_over_one_connection() -> None:
    async def twice(url: str) -> list[str]:
        async with floors.asyncio_floor_chat(url) as call:
            return [await call(), await call()]

    with server.MockServerProcess() as srv:
        with floors.socket_floor_sync(srv.base_url) as call:
            assert [call(), call()] == [server.TEXT] * 2
        assert asyncio.run(twice(srv.base_url)) == [server.TEXT] * 2
        assert srv.stats()["connections"] == 2


def test_ratios_are_taken_round_by_round_then_their_median_and_spread() -> None:
    # Round 2 was slow for both (load from elsewhere): its ratio is still 2.
    ours, ref = _rounds(100, 400, 120), _rounds(50, 200, 40)
    assert report.round_ratio(ours, ref, "p50_us") == (2.0, 2.0, 3.0)


def test_a_peers_rounds_combine_into_medians_with_their_spread() -> None:
    rounds = [{"n": 10, "p50_us": p, "cpu_us": c} for p, c in ((5, 1), (9, 3), (7, 2))]
    row = run.combine(rounds)  # type: ignore[arg-type]
    assert (row["n"], row["rounds"], row["p50_us"], row["cpu_us"]) == (30, 3, 7, 2)
    assert (row["p50_spread"], row["cpu_spread"]) == ([5, 9], [1, 3])
    assert [r["p50_us"] for r in row["per_round"]] == [5, 9, 7]


def test_the_layers_are_each_switched_off_on_replayed_calls() -> None:
    r = layers.measure(quick=True)
    assert set(r["rows"]) == {layers.DEFAULT, *layers.OFF}
    for row in r["rows"].values():
        assert row["cpu_us"] > 0 and len(row["saved_cpu_spread"]) == 2
    assert r["telemetry_us"] >= 0 and r["total_us"] >= r["telemetry_us"]
    assert "Default layers together" in layers.markdown(r)


def test_a_generated_cassette_replays_every_interaction_by_its_body(tmp_path: Path) -> None:
    path = curves._cassette(tmp_path, 50)
    client = llmrail.Client("openai/gpt-4.1-mini", base_url=curves.recorded_base_url(path), api_key="sk")
    with cassette(path, mode="none") as c:
        for i in range(50):
            assert client.chat_sync(f"question number {i}").text
        assert c.all_played


def test_memory_per_held_call_is_read_in_a_fresh_interpreter() -> None:
    point = memory.measure("inflight", "llmrail", 20)
    assert "error" not in point, point
    assert point["n"] == 20 and point["loaded_kb"] >= point["base_kb"] > 0


def test_a_chart_draws_every_point_on_log_axes() -> None:
    svg = curves.line_chart("c", "t", "x", "y", {"a p50": [(1, 1.0), (10, 10.0), (1000, 5.0)], "a p99": [(1, 2.0)]})
    doc = xml.dom.minidom.parseString(svg)
    marks = [c for c in doc.getElementsByTagName("circle") if c.getAttribute("class") == "mark"]
    assert doc.documentElement.getAttribute("data-marks") == "4" and len(marks) == 4
    xs = [float(c.getAttribute("cx")) for c in marks[:3]]
    assert xs[0] < xs[1] < xs[2]  # log scale: 1 → 10 is a third of 1 → 1000
    assert xs[1] - xs[0] == pytest.approx((xs[2] - xs[0]) / 3, abs=0.2)


def test_the_reference_build_names_a_missing_source_folder(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="reference client's sources are not at"):
        reference.build(tmp_path)
