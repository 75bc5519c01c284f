"""How long an AWS SDK call can take at worst, from the client's own `Config`.

botocore's standard retry mode (botocore/retries/standard.py, ExponentialBackoff, as
pinned in layers/shared/requirements.txt) sleeps before retry i (1-based)
  t_i = rand(0, 1) * min(base_scale * 2 ** (i - 1), 20 s)
with base_scale 1 s after a throttling error (50 ms after any other), and, when the
error response carries an x-amz-retry-after header, max(t_i, min(header, t_i + 5 s)).
The worst case takes each sleep at its maximum and every attempt stalled just short of
its connect and read timeouts. The time budgets of billing and welcome emails are built
from these figures; tests/unit/welcome_email checks them against the installed botocore.
"""

from __future__ import annotations

from botocore.config import Config

STANDARD_MODE_BACKOFF_BASE_SECONDS = 1.0
STANDARD_MODE_MAX_BACKOFF_SECONDS = 20.0
STANDARD_MODE_RETRY_AFTER_EXTRA_SECONDS = 5.0


def standard_mode_max_backoff_seconds(retry: int) -> float:
    """The longest botocore's standard mode sleeps before its `retry`-th retry (1-based)."""
    backoff = min(
        STANDARD_MODE_BACKOFF_BASE_SECONDS * 2 ** (retry - 1), STANDARD_MODE_MAX_BACKOFF_SECONDS
    )
    return backoff + STANDARD_MODE_RETRY_AFTER_EXTRA_SECONDS


def call_worst_case_seconds(config: Config) -> float:
    """The longest one call of a client built from `config` can take: every attempt's
    connect and read timeouts plus botocore's longest back-off before each retry."""
    retries = config.retries or {}
    if retries.get("mode") != "standard" or "total_max_attempts" not in retries:
        raise ValueError(
            "the worst case of a call is known only for botocore's standard retry mode with "
            f"an explicit total_max_attempts, got retries={retries!r}"
        )
    attempts = int(retries["total_max_attempts"])
    connect = float(config.connect_timeout)
    read = float(config.read_timeout)
    backoffs = sum(standard_mode_max_backoff_seconds(retry) for retry in range(1, attempts))
    return attempts * (connect + read) + backoffs
