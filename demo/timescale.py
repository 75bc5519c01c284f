"""A copy of a SAM template with the SQS timeouts divided by a factor, for the demo.

SQS retries are redeliveries after the visibility timeout (4 minutes here, 6x the
consumers' 40 s timeout). The demo has to show retries within two minutes, so it deploys
the same code with its SQS consumers' timeouts, batching windows and visibility timeouts
scaled down together, keeping AWS's rule (visibility >= 6 x function timeout + batching
window) true for every SQS event source. A function no queue feeds keeps its timeout.
Nothing else changes; the demo prints what it scaled.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Scaled:
    resource: str
    setting: str
    original: int
    scaled: int


def _scale(value: int, factor: int) -> int:
    return max(1, math.ceil(value / factor))


def scale_timeouts(
    template: dict[str, Any], template_dir: Path, factor: int
) -> tuple[dict[str, Any], list[Scaled]]:
    """Return the scaled template (code paths made absolute) and what was changed."""
    scaled: list[Scaled] = []
    result = json.loads(json.dumps(template))  # a deep copy that is plain JSON
    resources: dict[str, Any] = result["Resources"]
    globals_function = result.get("Globals", {}).get("Function", {})
    default_timeout = int(globals_function.get("Timeout", 3))

    queue_minimum: dict[str, int] = {}  # queue logical ID -> least visibility AWS accepts
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str):
                props[key] = str((template_dir / props[key]).resolve())
        if kind != "AWS::Serverless::Function":
            continue
        sqs_events = [
            event for event in (props.get("Events") or {}).values() if event.get("Type") == "SQS"
        ]
        if not sqs_events:
            # No visibility timeout depends on this timeout, so scaling it shortens no wait;
            # it only made the function fail: SignupFunction's 10 s scaled to 1 s timed out
            # on a loaded 2-core machine (Init 1.27 s, then 1 s of handler), answering 500.
            continue
        timeout = int(props.get("Timeout", default_timeout))
        props["Timeout"] = _scale(timeout, factor)
        scaled.append(Scaled(logical_id, "Timeout", timeout, props["Timeout"]))
        for event in sqs_events:
            event_props = event["Properties"]
            window = int(event_props.get("MaximumBatchingWindowInSeconds", 0))
            if window:
                event_props["MaximumBatchingWindowInSeconds"] = _scale(window, factor)
                scaled.append(
                    Scaled(
                        logical_id,
                        "MaximumBatchingWindowInSeconds",
                        window,
                        event_props["MaximumBatchingWindowInSeconds"],
                    )
                )
            queue = _queue_logical_id(event_props.get("Queue"))
            if queue:
                need = 6 * props["Timeout"] + event_props.get("MaximumBatchingWindowInSeconds", 0)
                queue_minimum[queue] = max(queue_minimum.get(queue, 0), need)

    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::SQS::Queue":
            continue
        props = resource.setdefault("Properties", {})
        visibility = int(props.get("VisibilityTimeout", 30))
        new = max(_scale(visibility, factor), queue_minimum.get(logical_id, 0))
        props["VisibilityTimeout"] = new
        scaled.append(Scaled(logical_id, "VisibilityTimeout", visibility, new))
    return result, scaled


def _queue_logical_id(reference: Any) -> str | None:
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        target = reference["Fn::GetAtt"]
        parts = target.split(".") if isinstance(target, str) else target
        return str(parts[0])
    return None
