"""`python -m llmrail bench` as a user runs it, and its HTML report as a real browser draws it."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import llmrail
import pytest

FAST = ["--mock", "--mock-time-scale", "0.02", "--max-tokens", "16", "--seed", "5"]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    return subprocess.run([sys.executable, "-m", "llmrail", "bench", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_the_cli_prints_the_table_and_writes_json_csv_and_html(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = bench(*FAST, "--requests", "16", "--concurrency", "4", "--mock-error-rate", "0.25", "--out", str(out))
    assert result.returncode == 0, result.stderr
    table = result.stdout.splitlines()
    assert table[0].split()[:4] == ["model", "ok", "errors", "p50"]
    assert table[2].startswith("openai/gpt-4o-mini ") and table[3].startswith("anthropic/claude-haiku-4-5 ")
    assert "12/16" in table[2] and "25.0%" in table[2]
    assert "16/16" in result.stderr and "failed" in result.stderr  # the progress bar (or line) on stderr
    assert f"wrote {out / 'bench.json'}" in result.stdout

    data = json.loads((out / "bench.json").read_text())
    assert data["settings"]["requests"] == 16 and data["settings"]["mock"] is True
    for model in data["models"]:
        assert model["requests"] == 16 and model["succeeded"] == 12 and sum(model["errors"].values()) == 4
        assert len(model["samples"]) == 16 and model["error_rate"] == 0.25
        lat = model["latency"]
        assert lat["p50"] <= lat["p95"] <= lat["p99"]
    rows = list(csv.DictReader((out / "bench.csv").read_text().splitlines()))
    assert [r["model"] for r in rows] == ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]
    assert all(float(r["error_rate"]) == 0.25 and float(r["cost_per_1k_usd"]) > 0 for r in rows)
    assert all(sum(int(kv.split("=")[1]) for kv in r["errors"].split(";")) == 4 for r in rows)

    page = (out / "bench.html").read_text()
    assert page.count('<svg class="chart"') == 3  # latency, throughput, cost (no ttft: not streamed)
    # Opens offline: nothing on the page reaches for the network.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page) and "@import" not in page


def test_the_cli_refuses_bad_input_without_a_traceback(tmp_path: Path) -> None:
    result = bench("--requests", "3")
    assert result.returncode == 2 and "name at least one --model" in result.stderr
    result = bench(*FAST, "--requsts", "3")
    assert result.returncode == 2 and "unrecognized arguments: --requsts" in result.stderr
    bad = tmp_path / "p.jsonl"
    bad.write_text("{not json\n")
    result = bench(*FAST, "--prompts", str(bad))
    assert result.returncode == 2 and "p.jsonl:1: not JSON" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_stops_a_run_without_a_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    command = [sys.executable, "-m", "llmrail", "bench", "--mock", "--requests", "500", "--out", str(tmp_path / "r")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(1.5)  # well into the first model's run: its mocked answers take seconds each
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted, nothing written" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_the_html_report_draws_every_data_point_in_headless_chromium(tmp_path: Path) -> None:
    browser = shutil.which("chromium")
    if browser is None:
        if os.environ.get("CI"):
            raise AssertionError("chromium is missing: `make chromium` installs it")
        pytest.skip("chromium is not installed (`make chromium`)")
    results = llmrail.bench.run(
        ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "openai/my-finetune"], requests=10, concurrency=5,
        stream=True, mock=True, mock_time_scale=0.02, max_tokens=12, mock_error_rate=0.2, seed=9, progress=False,
    )
    html = results.write(tmp_path)["html"]
    dom = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", html.as_uri()],
        capture_output=True, text=True, timeout=60,
    ).stdout
    charts = {
        m["id"]: (int(m["marks"]), int(m["drawn"]))
        for m in re.finditer(r'<svg class="chart" id="(?P<id>\w+)" data-marks="(?P<marks>\d+)"[^>]*'
                             r'data-drawn="(?P<drawn>\d+)"', dom)
    }
    # data-drawn is written by the page's script from each mark's laid-out box in the browser.
    ok = sum(m.succeeded for m in results)
    assert charts == {
        "latency": (ok, ok),
        "ttft": (ok, ok),
        "throughput": (6, 6),  # two bars per model
        "cost": (2, 2),  # my-finetune has no catalogue price
    }
    assert ok == 24
