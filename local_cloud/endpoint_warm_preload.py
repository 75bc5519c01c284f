"""What the warm endpoints' fork server imports once (local_cloud/endpoint_warm.py).

Imported in the fork server only (never in a process that serves or deploys): the
endpoint's modules, moto's CloudFormation (which imports moto.ec2, its region and
instance-type tables, moto.autoscaling, ...), and the process-wide patches main()
applies before it serves. Every endpoint forked from the server starts with them done;
main() applies the same patches again, and each is idempotent (installed once, never a
wrapper around a wrapper). None of this starts a thread: the fork server must stay
single-threaded for its fork() to be safe (tests/unit/local_cloud/test_endpoint_warm.py
checks both).
"""

from __future__ import annotations

from local_cloud import endpoint_server
from local_cloud.cloudformation_errors import name_failing_resources
from local_cloud.endpoint_preload import share_region_lookups
from local_cloud.stack_resources import list_stack_resources


def prepare() -> None:
    """The patches, in main()'s order (share_region_lookups before moto.ec2 is imported)."""
    share_region_lookups()
    name_failing_resources()
    list_stack_resources()
    endpoint_server.speed_up_moto()


prepare()
