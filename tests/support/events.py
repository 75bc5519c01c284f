"""The one loader for events/: tests, the local cloud and `sam local invoke -e` share them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


def event_path(name: str) -> Path:
    path = EVENTS_DIR / (name if name.endswith(".json") else f"{name}.json")
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in EVENTS_DIR.glob("*.json")))
        raise FileNotFoundError(f"no event {name!r} in {EVENTS_DIR}; known: {known}")
    return path


def load_event(name: str) -> dict[str, Any]:
    """Load events/<name>.json as the dict Lambda would pass to the handler."""
    event: dict[str, Any] = json.loads(event_path(name).read_text())
    return event
