"""What leaves a function in its traces and logs, and whether personal data is in it.

`TraceRecorder` records what Powertools' Tracer hands to X-Ray as metadata: a handler's
or method's response and a raised error's details, each with the capture setting it was
decorated with, plus anything put with put_metadata or put_annotation. Tests run with
tracing disabled, where nothing is sent, so the recorder patches the Tracer methods that
would put it on the segment, and `would_leave` applies the template's
POWERTOOLS_TRACER_CAPTURE_RESPONSE / _ERROR settings, which decide it on AWS.

`personal_data_in` finds, in any text, the personal values of the test's inputs, any
email address, any card-like number (13 to 19 digits, separators allowed) and anything
shaped like a provider secret key.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aws_lambda_powertools import Tracer

from tests.unit.template.cfn_template import load_templates, resources_of_type

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# 13 to 19 digits, spaces or dashes between, not inside a longer token of letters and
# digits (an ID such as acc_07b10e509e... or a UUID's segments is not a card number).
CARD_LIKE = re.compile(r"(?<![A-Za-z0-9-])(?:\d[ -]?){12,18}\d(?![A-Za-z0-9])")
UUID = re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b")
SECRET = re.compile(r"\b[sr]k_(?:test|live)_[A-Za-z0-9]{8,}")


@dataclass
class TraceRecorder:
    responses: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    metadata: list[Any] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> TraceRecorder:
        recorder = self

        def add_response(
            self: Tracer,
            method_name: str | None = None,
            data: Any = None,
            subsegment: Any = None,
            capture_response: Any = None,
        ) -> None:
            if data is not None:
                recorder.responses.append(data)

        def add_error(
            self: Tracer,
            method_name: str,
            error: Exception,
            subsegment: Any,
            capture_error: Any = None,
        ) -> None:
            recorder.errors.append(f"{type(error).__name__}: {error}")

        def put_metadata(self: Tracer, key: str, value: Any, namespace: str | None = None) -> None:
            recorder.metadata.append({key: value})

        def put_annotation(self: Tracer, key: str, value: Any) -> None:
            recorder.metadata.append({key: value})

        monkeypatch.setattr(Tracer, "_add_response_as_metadata", add_response)
        monkeypatch.setattr(Tracer, "_add_full_exception_as_metadata", add_error)
        monkeypatch.setattr(Tracer, "put_metadata", put_metadata)
        monkeypatch.setattr(Tracer, "put_annotation", put_annotation)
        return self

    def would_leave(self, function_logical_id: str) -> list[str]:
        """What X-Ray would receive from this function under template.yaml's settings."""
        capture_response, capture_error = tracer_capture(function_logical_id)
        sent: list[Any] = list(self.metadata)
        if capture_response:
            sent += self.responses
        if capture_error:
            sent += self.errors
        return [json.dumps(item, default=str) for item in sent]


def tracer_capture(function_logical_id: str) -> tuple[bool, bool]:
    """(capture responses, capture errors) as the function's environment sets them."""
    templates = load_templates()
    function = resources_of_type(templates.cfn, "AWS::Lambda::Function")[function_logical_id]
    if function.get("TracingConfig", {}).get("Mode") != "Active":
        return False, False
    variables = function.get("Environment", {}).get("Variables", {})

    def enabled(name: str) -> bool:
        return str(variables.get(name, "true")).lower() != "false"

    return (
        enabled("POWERTOOLS_TRACER_CAPTURE_RESPONSE"),
        enabled("POWERTOOLS_TRACER_CAPTURE_ERROR"),
    )


# What every LogRecord carries about the process, not what the code logged.
_RECORD_BOOKKEEPING = frozenset(vars(logging.makeLogRecord({}))) - {"msg", "args"}


def logged_text(record: logging.LogRecord) -> str:
    """A log record as its handler would write it: the message and the extra fields
    (exception text included), without the process bookkeeping (thread IDs, times)."""
    fields = {
        name: value for name, value in vars(record).items() if name not in _RECORD_BOOKKEEPING
    }
    fields["message"] = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        fields["exception"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
    return json.dumps(fields, default=str)


def personal_data_in(
    texts: Iterable[str], personal_values: Iterable[str], *, system_addresses: Iterable[str] = ()
) -> list[str]:
    """Each text where a personal value or a pattern of one occurs, with what was found.

    `system_addresses` are the service's own email addresses (the sender identity), not
    anyone's personal data.
    """
    values = [value for value in personal_values if value]
    ours = set(system_addresses)
    found: list[str] = []
    for text in texts:
        hits = [value for value in values if value in text]
        hits += [m.group(0) for m in EMAIL.finditer(text) if m.group(0) not in ours]
        without_ids = UUID.sub("<uuid>", text)  # message and request IDs
        hits += [m.group(0) for m in CARD_LIKE.finditer(without_ids) if _card_like(m.group(0))]
        hits += [m.group(0) for m in SECRET.finditer(text)]
        if hits:
            found.append(f"{sorted(set(hits))} in {text[:300]}")
    return found


def _card_like(number: str) -> bool:
    """Passes the Luhn check and is not an epoch-milliseconds timestamp of these years
    (EMF lines carry one)."""
    digits = [int(d) for d in number if d.isdigit()]
    if len(digits) == 13 and number.isdigit() and 1.5e12 < int(number) < 2.2e12:
        return False
    checksum = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return checksum % 10 == 0
