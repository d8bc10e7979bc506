"""The report's charts as inline SVG strings: drawn here, so the page needs no script library and
no network. Every data point is an element of class ``mark``; each chart's ``data-marks`` says
how many there are (the page's check, and the browser test, compare it with what was laid out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from .stats import ModelResult

PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f", "#edc948")
WIDTH = 760
LABELS = 200  # room on the left for model names
GOLDEN = 0.6180339887  # spreads a strip plot's dots evenly over the row, the same on every run


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def ticks(top: float, n: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``top``."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    return [i * step for i in range(math.ceil(top / step - 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or v == 0 else f"{v:.3g}"


def _svg(chart: str, height: int, marks: int, title: str, body: list[str]) -> str:
    return (
        f'<svg class="chart" id="{chart}" data-marks="{marks}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">' + "".join(body) + "</svg>"
    )


def _x_axis(x0: float, x1: float, y: float, y_top: float, vals: Sequence[float], unit: str) -> list[str]:
    out = []
    for v in vals:
        x = x0 + (x1 - x0) * v / vals[-1]
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{y_top}" x2="{x:.1f}" y2="{y}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{y + 14}" text-anchor="middle">{_fmt(v)}</text>')
    out.append(f'<text class="axis" x="{(x0 + x1) / 2:.1f}" y="{y + 32}" text-anchor="middle">{unit}</text>')
    return out


def latency_chart(models: Sequence[ModelResult], *, ttft: bool = False) -> str:
    """One row per model: a dot per successful request at its latency (or, with ``ttft``, its
    time to first token), lines at p50, p95, p99."""
    row, top, x0, x1 = 56, 24, LABELS, WIDTH - 20
    height = top + row * len(models) + 44
    ms = [
        [v * 1000 for s in m.samples if s.error is None and (v := s.ttft if ttft else s.latency) is not None]
        for m in models
    ]
    vals = ticks(max((max(v) for v in ms if v), default=1.0) * 1.02)
    scale = (x1 - x0) / vals[-1]
    body = [f'<text class="legend" x="{x0}" y="14">each dot one request · solid p50 · dashed p95 · dotted p99</text>']
    body += _x_axis(x0, x1, top + row * len(models), top, vals, "time to first token (ms)" if ttft else "latency (ms)")
    marks = 0
    for i, (m, values) in enumerate(zip(models, ms, strict=True)):
        y0, cy = top + i * row, top + i * row + row / 2
        body.append(f'<text class="label" x="{x0 - 10}" y="{cy + 4:.1f}" text-anchor="end">{escape(m.model)}</text>')
        if not values:
            body.append(f'<text class="note" x="{x0 + 8}" y="{cy + 4:.1f}">no successful requests</text>')
            continue
        for j, v in enumerate(values):
            y = cy + ((j * GOLDEN) % 1 - 0.5) * row * 0.62
            body.append(
                f'<circle class="mark" cx="{x0 + v * scale:.1f}" cy="{y:.1f}" r="2.6" fill="{color(i)}">'
                f"<title>{escape(m.model)}: {v:,.0f} ms</title></circle>"
            )
        marks += len(values)
        pct = m.ttft if ttft else m.latency
        if pct is not None:
            for name, p, dash in (("p50", pct.p50, ""), ("p95", pct.p95, "5 3"), ("p99", pct.p99, "2 2")):
                x = x0 + p * 1000 * scale
                body.append(
                    f'<line class="pct" x1="{x:.1f}" y1="{y0 + 4}" x2="{x:.1f}" y2="{y0 + row - 4}" '
                    f'stroke-dasharray="{dash}"><title>{name} {p * 1000:,.0f} ms</title></line>'
                )
    if ttft:
        return _svg("ttft", height, marks, "time to first token per model", body)
    return _svg("latency", height, marks, "latency distribution per model", body)


def throughput_chart(models: Sequence[ModelResult]) -> str:
    """Two bar panels: requests per second and output tokens per second, one bar per model."""
    bar, top = 26, 30
    height = top + bar * len(models) + 48
    panel = (WIDTH - LABELS - 80) / 2  # room to the right of each for its last tick's label
    body: list[str] = []
    for i, m in enumerate(models):
        y = top + i * bar + bar / 2 + 4
        body.append(f'<text class="label" x="{LABELS - 10}" y="{y:.1f}" text-anchor="end">{escape(m.model)}</text>')
    marks = 0
    panels = (
        ("requests per second", "req/s", [m.requests_per_s for m in models]),
        ("output tokens per second", "tokens/s", [m.output_tokens_per_s for m in models]),
    )
    for k, (title, unit, values) in enumerate(panels):
        x0 = LABELS + k * (panel + 50)
        vals = ticks(max(values, default=1.0) * 1.15 or 1.0)
        body.append(f'<text class="legend" x="{x0}" y="16">{title}</text>')
        body += _x_axis(x0, x0 + panel, top + bar * len(models), top, vals, unit)
        for i, (m, v) in enumerate(zip(models, values, strict=True)):
            w = panel * v / vals[-1]
            y = top + i * bar + 4
            body.append(
                f'<rect class="mark" x="{x0}" y="{y}" width="{w:.1f}" height="{bar - 8}" fill="{color(i)}">'
                f"<title>{escape(m.model)}: {v:,.1f} {unit}</title></rect>"
                f'<text class="value" x="{x0 + w + 4:.1f}" y="{y + bar / 2:.1f}">{_fmt(v)}</text>'
            )
            marks += 1
    return _svg("throughput", height, marks, "throughput per model", body)


def cost_latency_chart(models: Sequence[ModelResult]) -> str:
    """A point per priced model at (p50 latency, USD per 1,000 requests), a whisker to its p95."""
    height, top, bottom, x0, x1 = 340, 24, 290, 90, WIDTH - 30
    shown = [
        (i, m.model, m.latency.p50 * 1000, m.latency.p95 * 1000, m.cost_per_1k_usd)
        for i, m in enumerate(models)
        if m.latency is not None and m.cost_per_1k_usd is not None
    ]
    xs = ticks(max((p95 for *_, p95, _ in shown), default=1.0) * 1.1)
    ys = ticks(max((cost for *_, cost in shown), default=0.0) * 1.15 or 1.0)
    body = _x_axis(x0, x1, bottom, top, xs, "latency p50, whisker to p95 (ms)")
    for v in ys:
        y = bottom - (bottom - top) * v / ys[-1]
        body.append(f'<line class="grid" x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}"/>')
        body.append(f'<text class="tick" x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{v:.3g}</text>')
    body.append(
        f'<text class="axis" transform="translate(18 {(top + bottom) / 2}) rotate(-90)" '
        'text-anchor="middle">USD per 1,000 requests</text>'
    )
    for i, model, p50, p95, cost in shown:
        px, wx = (x0 + (x1 - x0) * v / xs[-1] for v in (p50, p95))
        py = bottom - (bottom - top) * cost / ys[-1]
        body.append(
            f'<line class="whisker" x1="{px:.1f}" y1="{py:.1f}" x2="{wx:.1f}" y2="{py:.1f}" stroke="{color(i)}"/>'
            f'<circle class="mark" cx="{px:.1f}" cy="{py:.1f}" r="6" fill="{color(i)}"><title>{escape(model)}: '
            f"${cost:,.4f} per 1k requests, p50 {p50:,.0f} ms</title></circle>"
            f'<text class="value" x="{px + 9:.1f}" y="{py - 8:.1f}">{escape(model)}</text>'
        )
    unpriced = [m.model for m in models if m.cost_per_1k_usd is None]
    if unpriced:
        body.append(
            f'<text class="note" x="{x0}" y="{height - 6}">no catalogue price: {escape(", ".join(unpriced))}</text>'
        )
    return _svg("cost", height, len(shown), "cost against latency", body)
