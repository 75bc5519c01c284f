"""Suite-wide settings. Nothing in the suite may reach real AWS by accident."""

from __future__ import annotations

import os

# Fake credentials unless a LocalStack run supplies its own (`test`/`test` is what it takes).
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
# Powertools: no X-Ray daemon and no CloudWatch metrics flush target in tests.
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "DeliveryGuarantees")
os.environ.setdefault("POWERTOOLS_DEV", "false")
