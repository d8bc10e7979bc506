"""``bench.html``: one page that opens offline, with the summary, the charts and the errors.

Everything is inline (styles, SVG charts from :mod:`.charts`, one short script): no CDN, no
fonts, no request of any kind when it opens. The script only notes, on each chart, how many of
its data points the browser laid out (``data-drawn``), beside how many there are
(``data-marks``): a reader (or a test) sees at once whether a chart drew all its data.
"""

from __future__ import annotations

from html import escape

from .._core import __version__
from .charts import cost_latency_chart, latency_chart, throughput_chart
from .results import TABLE_HEADER, BenchResults, table_row

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1060px;color:#222}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.15em;margin-top:2em}
.meta{color:#666} .wide{overflow-x:auto} table{border-collapse:collapse;font-size:12.5px;margin-top:.5em}
th,td{padding:3px 6px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left} figure{margin:1em 0} figcaption{color:#555;font-size:12.5px}
svg .grid{stroke:#eee} svg .pct{stroke:#222;stroke-width:1.5} svg .whisker{stroke-width:2.5}
svg text{font-size:11.5px;fill:#333} svg .tick{fill:#777;font-size:10.5px} svg .axis,svg .legend{fill:#555}
svg .note{fill:#999;font-style:italic} svg circle.mark{fill-opacity:.5}
"""

SCRIPT = """
for (const chart of document.querySelectorAll('svg.chart')) {
  let drawn = 0;
  for (const mark of chart.querySelectorAll('.mark')) {
    const box = mark.getBBox();
    if (box.width > 0 && box.height > 0) drawn++;
  }
  chart.dataset.drawn = String(drawn);
}
"""


def render(results: BenchResults) -> str:
    s = results.settings
    mode = "streamed" if s.stream else "whole answers"
    where = "llmrail's mock server (per-model latency profiles)" if s.mock else "the providers"
    models = results.models
    return "".join(
        (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">',
            f"<title>llmrail bench: {escape(', '.join(s.models))}</title><style>{STYLE}</style></head><body>",
            "<h1>LLM provider benchmark</h1>",
            f'<p class="meta">{s.requests} requests per model, {s.concurrency} at a time, {mode}, '
            f"max_tokens {s.max_tokens}, {s.prompts} prompts, {s.retries} retries, against {where}; "
            f"started {escape(s.started_at)}; llmrail {escape(__version__)}</p>",
            "<h2>Summary</h2>",
            _table(results),
            "<h2>Latency distribution</h2><figure>",
            latency_chart(models),
            "<figcaption>Successful requests only; time from sending to the whole answer.</figcaption></figure>",
            _ttft(results),
            "<h2>Throughput</h2><figure>",
            throughput_chart(models),
            f"<figcaption>Over each model's run at concurrency {s.concurrency}; failed requests count "
            "as requests, only answers count tokens.</figcaption></figure>",
            "<h2>Cost against latency</h2><figure>",
            cost_latency_chart(models),
            "<figcaption>Cost from llmrail's model catalogue prices (what <code>ChatResponse.cost_usd</code> "
            "reports); lower and further left is better.</figcaption></figure>",
            "<h2>Errors</h2>",
            _errors(results),
            f"<script>{SCRIPT}</script></body></html>\n",
        )
    )


def _ttft(results: BenchResults) -> str:
    if not results.settings.stream:
        return ""
    return (
        "<h2>Time to first token</h2><figure>"
        + latency_chart(results.models, ttft=True)
        + "<figcaption>Streamed requests: time from sending to the first token (text, thinking or a tool "
        "call).</figcaption></figure>"
    )


def _table(results: BenchResults) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in TABLE_HEADER)
    rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in table_row(m)) + "</tr>" for m in results.models)
    return f'<div class="wide"><table id="summary"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>'


def _errors(results: BenchResults) -> str:
    rows = [
        f"<tr><td>{escape(m.model)}</td><td>{escape(kind)}</td><td>{n}</td><td>{n / m.requests:.1%}</td></tr>"
        for m in results.models
        for kind, n in m.errors.items()
    ]
    if not rows:
        return "<p>None: every request succeeded.</p>"
    head = "<tr><th>model</th><th>kind</th><th>requests</th><th>share</th></tr>"
    return f'<table id="errors"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
