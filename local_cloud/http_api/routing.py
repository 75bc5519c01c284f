"""Which route of which HTTP API a request goes to, chosen as API Gateway chooses.

API Gateway picks the most specific matching route: literal segments beat path
variables, any route beats a greedy `{proxy+}`, a named method beats ANY, and `$default`
takes only what no other route matches. Path parameter values are the URL-decoded
segments (a greedy one keeps its slashes). An API's `$default` stage is served at the
root, any other stage under its name (`/prod/items`), as execute-api URLs are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from local_cloud.model import HttpApiSpec, HttpRouteSpec

_VARIABLE = re.compile(r"^\{([A-Za-z0-9._-]+)(\+?)\}$")


@dataclass(frozen=True)
class RouteMatch:
    api_logical_id: str
    route: HttpRouteSpec
    path_parameters: dict[str, str]
    stage: str = "$default"


class RouteError(ValueError):
    """A route path API Gateway would reject (e.g. a greedy variable that is not last)."""


@dataclass(frozen=True)
class _Segment:
    literal: str | None  # None for a variable
    name: str = ""
    greedy: bool = False


def _segments(route: HttpRouteSpec) -> tuple[_Segment, ...]:
    if not route.path.startswith("/"):
        raise RouteError(f"route {route.route_key}: a path starts with '/'")
    parts = route.path[1:].split("/")
    segments = []
    for index, part in enumerate(parts):
        variable = _VARIABLE.match(part)
        if variable is None:
            segments.append(_Segment(literal=part))
            continue
        greedy = variable.group(2) == "+"
        if greedy and index != len(parts) - 1:
            raise RouteError(f"route {route.route_key}: a greedy variable must be the last segment")
        segments.append(_Segment(literal=None, name=variable.group(1), greedy=greedy))
    return tuple(segments)


class Router:
    """The routes of one or more HTTP APIs, served on one address (as `sam local
    start-api` does); for the same route key, the first API listed wins."""

    def __init__(self, apis: Iterable[HttpApiSpec]) -> None:
        self._routes: list[tuple[str, HttpRouteSpec, tuple[_Segment, ...]]] = []
        self._stages: dict[str, tuple[str, ...]] = {}
        seen: set[str] = set()
        for api in apis:
            self._stages[api.logical_id] = api.stage_names
            for route in api.routes:
                if route.route_key in seen:
                    continue
                seen.add(route.route_key)
                segments = () if route.path == "$default" else _segments(route)
                self._routes.append((api.logical_id, route, segments))

    @property
    def routes(self) -> list[tuple[str, HttpRouteSpec]]:
        return [(api, route) for api, route, _ in self._routes]

    def served_paths(self) -> list[tuple[str, HttpRouteSpec, str]]:
        """(API, route, what a client asks for) per route and stage: `POST /prod/items` for
        route `POST /items` of stage prod, `POST /items` for the `$default` stage (served at
        the root); a `$default` route takes any method and path under its stage."""
        served = []
        for api, route in self.routes:
            for stage in self._stages.get(api, ("$default",)):
                prefix = "" if stage == "$default" else f"/{stage}"
                if route.path == "$default":
                    shown = f"ANY {prefix}/* ($default route)"
                else:
                    shown = f"{route.method} {prefix}{route.path}"
                served.append((api, route, shown))
        return served

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The route for a request (path URL-decoded), or None: API Gateway's 404."""
        best: tuple[tuple[int, ...], RouteMatch] | None = None
        for api, route, segments in self._routes:
            if route.method not in ("ANY", method.upper()):
                continue
            in_stage = _in_stage(path, self._stages.get(api, ("$default",)))
            if in_stage is None:
                continue
            stage, stage_path = in_stage
            requested = stage_path[1:].split("/")
            if route.path == "$default":
                parameters: dict[str, str] | None = {}
                rank: tuple[int, ...] = (0, 0, 0, 0)
            else:
                parameters = _match_segments(segments, requested)
                greedy = any(segment.greedy for segment in segments)
                literals = sum(segment.literal is not None for segment in segments)
                rank = (1, 0 if greedy else 1, literals, int(route.method != "ANY"))
            if parameters is None:
                continue
            if best is None or rank > best[0]:
                best = (rank, RouteMatch(api, route, parameters, stage))
        return best[1] if best else None


def _in_stage(path: str, stage_names: tuple[str, ...]) -> tuple[str, str] | None:
    """(stage, the path within it): all of the path for `$default` (served at the root),
    the rest after /{name} for a named stage (`/prod/items` is `/items` of stage prod);
    None if the path is under none of the API's stages."""
    path = path if path.startswith("/") else f"/{path}"
    for name in stage_names:  # a named stage's prefix first: $default takes what is left
        prefix = f"/{name}"
        if name != "$default" and (path == prefix or path.startswith(f"{prefix}/")):
            return name, path[len(prefix) :] or "/"
    return ("$default", path) if "$default" in stage_names else None


def _match_segments(segments: tuple[_Segment, ...], requested: list[str]) -> dict[str, str] | None:
    parameters: dict[str, str] = {}
    for index, segment in enumerate(segments):
        if segment.greedy:
            rest = requested[index:]
            if not rest or rest == [""]:
                return None  # {proxy+} needs at least one character
            parameters[segment.name] = "/".join(rest)
            return parameters
        if index >= len(requested):
            return None
        part = requested[index]
        if segment.literal is not None:
            if part != segment.literal:
                return None
        elif part == "":
            return None
        else:
            parameters[segment.name] = part
    return parameters if len(requested) == len(segments) else None
