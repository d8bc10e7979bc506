"""Expose llmrail's counters through `prometheus_client`, the library services already serve
`/metrics` with:

    import llmrail.prometheus
    llmrail.prometheus.register()          # the default registry (REGISTRY)

The collector reads the core's counters at each scrape (`llmrail.metrics_text()`, parsed with
prometheus_client's own parser), so nothing is copied between scrapes and there is one source of
truth. `prometheus_client` is not a dependency of llmrail: install it to use this module.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry

from ._core import metrics_text

__all__ = ["LlmrailCollector", "register"]


class LlmrailCollector(Collector):
    """A `prometheus_client` collector of llmrail's process-wide counters."""

    def collect(self) -> Iterator[Metric]:
        yield from text_string_to_metric_families(metrics_text())


def register(registry: CollectorRegistry | None = None) -> LlmrailCollector:
    """Add llmrail's collector to `registry` (prometheus_client's default one if None) and
    return it (`registry.unregister(collector)` takes it away again)."""
    collector = LlmrailCollector()
    (REGISTRY if registry is None else registry).register(collector)
    return collector
