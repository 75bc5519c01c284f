"""Build moto's application for the services a start-up will call, before it calls them.

moto builds a service's application on the first request for it: importing the backend
(moto.ssm and moto.cloudformation import moto.ec2, which loads its region and instance
type tables) and loading botocore's model. Measured in the endpoint process on a loaded
2-core machine: ssm 1.3-3.8 s, cloudformation 0.7-1.8 s, s3 0.7 s, lambda 0.3 s of wall
time, paid one after another by the deployment's first calls. The endpoint started by
the local cloud does it in a background thread as soon as it serves, while the parent
process is still importing, building and zipping; a request for a service being built
waits for it under moto's own lock, as a first request does.

A service is named as in a SigV4 credential scope (botocore's signing name: "lambda",
"ssm", CloudWatch's "monitoring"); the application is built through moto's dispatcher,
the path a signed request for that service takes, so what is cached is exactly what
that request would build.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import re
import threading
from collections.abc import Sequence
from typing import Any

from local_cloud.errors import SettingsError

logger = logging.getLogger(__name__)

_SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_REGION = "us-east-1"


class PreloadError(SettingsError):
    """A --preload list naming no service botocore knows (SettingsError: a ValueError too)."""


def parse_services(text: str) -> list[str]:
    """ "sts,s3,ssm" -> ["sts", "s3", "ssm"]; an empty or malformed name is an error."""
    services = [name.strip() for name in text.split(",")]
    for name in services:
        if not _SERVICE_NAME.fullmatch(name):
            raise PreloadError(
                f"{name!r} is not a service name (lower-case signing names such as "
                "sts,s3,ssm, separated by commas)"
            )
    return services


def _environ(service: str) -> dict[str, Any]:
    """A request environ moto's dispatcher routes to `service`, as it routes a signed one."""
    return {
        "PATH_INFO": "/",
        "REQUEST_METHOD": "GET",
        "HTTP_HOST": "localhost",
        "HTTP_AUTHORIZATION": (
            f"AWS4-HMAC-SHA256 Credential=preload/20250101/{_REGION}/{service}/aws4_request, "
            "SignedHeaders=host, Signature=preload"
        ),
    }


def check_services(dispatcher: Any, services: Sequence[str]) -> None:
    """PreloadError naming the first service no moto backend serves."""
    for service in services:
        with contextlib.redirect_stdout(io.StringIO()):  # moto prints its own complaint
            host = dispatcher.infer_service_region_host(_environ(service), "/")
            backend = dispatcher.get_backend_for_host(host)
        if backend is None:
            raise PreloadError(
                f"no moto backend serves the service {service!r} (give signing names: "
                "CloudWatch's is monitoring)"
            )


def _load_backend(dispatcher: Any, service: str) -> None:
    """Import the service's backend and make its us-east-1 instance, as moto's
    create_backend_app does first, but outside the dispatcher's lock: get_application
    holds that lock while it builds an application, so every request, for any service,
    waited while ssm's import ran under it (the zips' upload took 5-6.6 s instead of
    about 1 s on a loaded machine). Python's import lock is per module: a request for
    another service goes on meanwhile."""
    from moto import backends
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.base_backend import BackendDict

    with contextlib.redirect_stdout(io.StringIO()):
        name = dispatcher.get_backend_for_host(
            dispatcher.infer_service_region_host(_environ(service), "/")
        )
    if name is None or name == "moto_api":
        return
    backend_dict = backends.get_backend(name)
    if isinstance(backend_dict, BackendDict):
        regions = backend_dict[DEFAULT_ACCOUNT_ID]
        _ = regions[_REGION] if _REGION in regions else regions["aws"]


def share_region_lookups() -> None:
    """boto3.Session.get_available_regions answered by one session, once per question.

    moto asks it of fresh sessions: moto.ec2, at import, of three (one per partition),
    and each loads botocore's endpoints and EC2's service model anew. Of the 0.46 s of
    CPU the endpoint spent loading botocore's data for a start-up's services, 0.34 s was
    EC2's model loaded three times and 0.09 s the endpoints loaded four (measured
    in-process, process_time). The answers come from botocore's data files, which are
    part of the installed package: they cannot change while the process runs."""
    import boto3

    original = boto3.Session.get_available_regions
    if getattr(original, "shares_region_lookups", False):
        return  # installed already (the warm endpoint's fork server did it)
    lock = threading.Lock()
    shared: list[boto3.Session] = []

    @functools.cache
    def regions(
        service_name: str, partition_name: str, allow_non_regional: bool
    ) -> tuple[str, ...]:
        with lock:  # one session, asked from one thread at a time
            if not shared:
                shared.append(boto3.Session())
            return tuple(original(shared[0], service_name, partition_name, allow_non_regional))

    def get_available_regions(
        self: boto3.Session,
        service_name: str,
        partition_name: str = "aws",
        allow_non_regional: bool = False,
    ) -> list[str]:
        return list(regions(service_name, partition_name, allow_non_regional))

    get_available_regions.shares_region_lookups = True  # type: ignore[attr-defined]
    boto3.Session.get_available_regions = get_available_regions


def preload(dispatcher: Any, services: Sequence[str]) -> threading.Thread:
    """Build each service's application in a daemon thread, in the order given."""

    def run() -> None:
        for service in services:
            try:
                _load_backend(dispatcher, service)
            except Exception:  # get_application tries again, under the lock
                logger.exception("loading moto's %s backend failed", service)
            try:
                dispatcher.get_application(_environ(service))  # quick now, under the lock
            except Exception:  # the first real request builds it, and reports any error
                logger.exception("preloading moto's %s failed", service)

    thread = threading.Thread(target=run, name="moto-preload", daemon=True)
    thread.start()
    return thread
