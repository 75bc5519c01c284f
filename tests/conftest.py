"""Suite-wide settings. Nothing in the suite may reach real AWS by accident."""

from __future__ import annotations

import functools
import os

import botocore.loaders
import botocore.session

from local_cloud.endpoint_warm import ENV_SWITCH, use_warm_starts

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

# One botocore data loader per data path for the whole test process. moto's mock_aws gives
# every test a fresh boto3 default session, and each fresh session read botocore's JSON
# models (endpoints, each service's model) from disk again: the unit tests of billing and
# welcome_email took 44-47 s of CPU before, 26-28 s after (two runs each, in turns).
# botocore treats loaded models as read-only: one session making many clients already
# shares them this way. Only the name the session module calls is replaced:
# botocore.loaders.create_loader stays the original, for a test that needs its own loader
# (test_endpoint_preload counts the loads of fresh sessions).
botocore.session.create_loader = functools.cache(botocore.loaders.create_loader)

# The endpoints the suite starts (47 in the integration tests) are forks of one warm server
# per test process, which imported moto once: ~0.05 s of CPU each instead of ~1.75 s
# (local_cloud/endpoint_warm.py). Subprocesses the tests run (the CLI's `up`) spawn theirs.
# LOCAL_CLOUD_WARM_ENDPOINTS=0 spawns every endpoint, as `up` does (to compare, or debug).
if os.environ.get(ENV_SWITCH) != "0":
    use_warm_starts()
