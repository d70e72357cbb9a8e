"""Routes: ``(method, path pattern) → handler``. Patterns use ``{name}`` for one path segment."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sync.graphserver.calls import Call, Reply
from sync.graphserver.errors import GraphError

Handler = Callable[[Call, dict[str, str]], Reply]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: str
    handler: Handler


def _compile(pattern: str) -> re.Pattern[str]:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(pattern).replace(r"\{", "{").replace(r"\}", "}"))
    return re.compile(f"^{regex}$")


class Router:
    def __init__(self, routes: Iterable[Route]) -> None:
        self._routes = [(route.method, _compile(route.pattern), route.handler) for route in routes]

    def dispatch(self, call: Call) -> Reply:
        path = call.path.rstrip("/") or "/"
        allowed = False
        for method, regex, handler in self._routes:
            match = regex.match(path)
            if match is None:
                continue
            if method == call.method:
                return handler(call, match.groupdict())
            allowed = True
        if allowed:
            raise GraphError(
                405, "Request_BadRequest", f"The HTTP method '{call.method}' is not allowed on this resource."
            )
        segment = path.strip("/").split("/")[-1] or "/"
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
