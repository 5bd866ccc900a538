"""Prometheus metrics of one bot process (web and worker roles), served at ``/metrics``.

Metric objects are process-wide, as prometheus-client intends; they hold counts, never
configuration or personal data.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

UPDATES = Counter(
    "loyalty_updates",
    "Telegram updates by type and outcome (handled, refused, unhandled, failed)",
    ["type", "outcome"],
    registry=REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "loyalty_handler_seconds",
    "Time from an update's arrival to its handler's return (effects committed)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "loyalty_outbox_due",
    "Outbox messages due for sending at the sender's last idle look, by priority",
    ["priority"],
    registry=REGISTRY,
)
SENDS = Counter(
    "loyalty_sends",
    "Outbox messages by outcome (sent, retry, flood, forbidden, failed, expired, skipped)",
    ["outcome"],
    registry=REGISTRY,
)
FLOOD_WAITS = Counter(
    "loyalty_telegram_429",
    "Bot API answers 429 Too Many Requests (the sender pauses for retry_after)",
    registry=REGISTRY,
)
LEASE_HELD = Gauge(
    "loyalty_worker_lease_held",
    "1 while this process is the active worker (scheduler and outbox sender), else 0",
    registry=REGISTRY,
)
