"""Operators' view: JSON logs (structlog) and Prometheus metrics (`/metrics`).

Logs never carry secrets, tokens, passwords or reporter contact data: log ids and counts, not content.
"""

from __future__ import annotations

import logging

import structlog
from prometheus_client import Counter, Gauge, Histogram

REPORTS_ACCEPTED = Counter("qinglang_reports_accepted_total", "Reports acknowledged with a receipt")
REPORTS_PROCESSED = Counter("qinglang_reports_processed_total", "Reports through the background pipeline")
DECISIONS = Counter("qinglang_decisions_total", "Decisions on cases", ["action"])
HTTP_LATENCY = Histogram("qinglang_http_request_seconds", "HTTP request latency", ["method", "route", "status"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
# This process's claim index: compare its checkpoint with `qinglang index status` (the database's) to see a lagging
# process; the delta rows wait for a compaction.
INDEX_CHECKPOINT = Gauge("qinglang_claim_index_checkpoint", "Checkpoint this process's claim index reflects")
INDEX_DEBUNKS = Gauge("qinglang_claim_index_debunks", "Debunks in this process's claim index")
INDEX_DELTA_ROWS = Gauge("qinglang_claim_index_delta_rows", "Rows of this process's claim index not yet compacted")


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr, one event per line, with ISO timestamps."""
    logging.basicConfig(level=level.upper(), format="%(message)s")
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer(ensure_ascii=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True)
