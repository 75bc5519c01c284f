"""In the endpoint process: a resource moto's CloudFormation fails to create is answered as
CloudFormation answers, naming the resource, instead of an HTML 500.

When moto's handler for a resource type raises something that is not one of its own API
errors (a KeyError deep in its model, say), the CreateStack request ends in a 500 with no
text a user could act on, and the deployer saw only botocore's parse error. Wrapped here,
the same failure is a ValidationError whose message names the logical ID, the type and
the endpoint's own reason; the deployer adds what to do about it. moto's own errors (a
ServiceException: already an answer AWS would give) pass unchanged, so does an error
already named for an inner resource created while resolving a reference.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

logger = logging.getLogger("local_cloud.endpoint")

CANNOT_CREATE = "the endpoint cannot create it"


def name_failing_resources() -> None:
    """Patch moto's CloudFormation so a resource that fails to be created is named."""
    from moto.cloudformation import parsing
    from moto.cloudformation.exceptions import ValidationError
    from moto.core.exceptions import ServiceException
    from werkzeug.exceptions import HTTPException  # moto's REST errors are these

    original: Any = parsing.parse_and_create_resource
    if getattr(original, "names_failing_resources", False):
        return

    @functools.wraps(original)
    def parse_and_create_resource(
        logical_id: str, resource_json: dict[str, Any], *args: Any, **kwargs: Any
    ) -> Any:
        try:
            return original(logical_id, resource_json, *args, **kwargs)
        except (ServiceException, HTTPException):
            raise
        except Exception as error:
            resource_type = (
                resource_json.get("Type", "?") if isinstance(resource_json, dict) else "?"
            )
            logger.exception("creating %s (%s) failed in moto", logical_id, resource_type)
            raise ValidationError(
                message=f"{logical_id} ({resource_type}): {CANNOT_CREATE}: "
                f"{type(error).__name__}: {error}"
            ) from error

    parse_and_create_resource.names_failing_resources = True  # type: ignore[attr-defined]
    parsing.parse_and_create_resource = parse_and_create_resource
