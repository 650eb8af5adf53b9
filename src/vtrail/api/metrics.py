"""The recorder's own Prometheus metrics, served at `/metrics`.

Two kinds: counters this process keeps (observations and rows it recorded,
ingest latency, HTTP requests), and figures read from the store at scrape
time (observations per source in the journal, whether each source is
connected, when it last reported), which stay true whichever process did the
recording (`vtrail record`, `vtrail ingest`, this server).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vtrail.api.heavy import Heavy
from vtrail.query.state import source_state
from vtrail.recording.recorder import RecordStats
from vtrail.store import Store
from vtrail.store.journal import Journal
from vtrail.store.reads.stats import StatsReader

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class StoreCollector(Collector):
    """Per-source figures read from the store when Prometheus scrapes."""

    def __init__(self, store: Callable[[], Store]) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        store = self.store()
        r = StatsReader(store)
        observations = GaugeMetricFamily(
            "vtrail_source_observations",
            "Observations in the journal, per source.",
            labels=["source"],
        )
        connected = GaugeMetricFamily(
            "vtrail_source_connected",
            "1 while the source reports: not after a disconnect, nor once it ended "
            "all it reported (a deleted namespace).",
            labels=["source"],
        )
        last = GaugeMetricFamily(
            "vtrail_source_last_observed_timestamp_seconds",
            "When the source last reported (its own clock).",
            labels=["source"],
        )
        for name, n, t, kind, alive in r.sources():
            observations.add_metric([name], n)
            connected.add_metric([name], 1 if source_state(kind, alive) == "connected" else 0)
            last.add_metric([name], t / 1e6)
        yield observations
        yield connected
        yield last
        rows = GaugeMetricFamily(
            "vtrail_store_rows", "Rows per table of the store.", labels=["table"]
        )
        for table, n in r.counts().items():
            rows.add_metric([table], n)
        yield rows
        kept = Journal(store).horizon()
        if kept is not None:
            yield GaugeMetricFamily(
                "vtrail_journal_replayable_from_timestamp_seconds",
                "Journal bodies of observations before this were dropped by vtrail compact: "
                "late observations can be put in place, and history re-derived, from then on.",
                value=kept / 1e6,
            )


class AnswerCollector(Collector):
    """How the whole-fabric questions were answered (api/heavy.py)."""

    def __init__(self, heavy: Heavy) -> None:
        self.heavy = heavy

    def collect(self) -> Iterator[Metric]:
        answers = CounterMetricFamily(
            "vtrail_answers",
            "Whole-fabric questions by how they were answered: asked anew (then computed in "
            "a worker, or kept from an unchanged store: cached), or joined to the same "
            "question waiting.",
            labels=["question", "how"],
        )
        for (question, how), n in sorted(self.heavy.counts.items()):
            answers.add_metric([question, how], n)
        yield answers


class Metrics:
    """The metrics of one app, in a registry of its own (tests make many apps)."""

    def __init__(self, store: Callable[[], Store], heavy: Heavy) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.received = Counter(
            "vtrail_observations_received",
            "Observations received by this process, per source (duplicates included).",
            ["source"],
            registry=self.registry,
        )
        self.observations = Counter(
            "vtrail_observations",
            "New observations recorded by this process.",
            registry=self.registry,
        )
        self.duplicates = Counter(
            "vtrail_observations_duplicate",
            "Observations received again and left unchanged.",
            registry=self.registry,
        )
        self.rows = Counter(
            "vtrail_rows_written", "Rows written by the recorder.", registry=self.registry
        )
        self.rejected = Counter(
            "vtrail_ingest_rejected", "Observation batches refused whole.", registry=self.registry
        )
        self.ingest = Histogram(
            "vtrail_ingest_seconds",
            "Time to record one batch of observations.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = Histogram(
            "vtrail_http_request_seconds",
            "HTTP request latency by route and status.",
            ["route", "status"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(StoreCollector(store))
        self.registry.register(AnswerCollector(heavy))

    def recorded(self, stats: RecordStats, seconds: float, per_source: dict[str, int]) -> None:
        for source, n in per_source.items():
            self.received.labels(source).inc(n)
        self.observations.inc(stats.observations)
        self.duplicates.inc(stats.duplicates)
        self.rows.inc(stats.rows_written)
        self.ingest.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestTimer:
    """Pure ASGI middleware timing each request by its route template (not its raw path,
    which would make a label value per entity id)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(name, str(status[0])).observe(time.perf_counter() - start)
