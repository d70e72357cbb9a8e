"""A plain-``urllib`` client for driving the server over HTTP in tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"]["code"])
        return None


class Client:
    def __init__(self, base_url: str, *, headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": "Bearer local-test", **(headers or {})}

    def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> Answer:
        full = quote(url if url.startswith("http") else self.base_url + url, safe=":/?&=$',()@%+")
        data = None if body is None else json.dumps(body).encode()
        all_headers = {**self.headers, **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(full, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                return Answer(
                    response.status, {k.lower(): v for k, v in response.headers.items()}, _json(raw)
                )
        except urllib.error.HTTPError as err:
            raw = err.read()
            return Answer(err.code, {k.lower(): v for k, v in err.headers.items()}, _json(raw))

    def get(self, url: str, **kwargs: Any) -> Answer:
        return self.request("GET", url, **kwargs)

    def batch(self, *requests: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
        items = []
        for number, item in enumerate(requests, start=1):
            full = {"id": str(number), "headers": {"Content-Type": "application/json"}, **item}
            items.append(full)
        return self.request("POST", "/$batch", {"requests": items}, headers=headers)

    def write(self, method: str, url: str, body: Any = None) -> dict[str, Any]:
        """One write inside a one-item ``$batch`` (as the adapter sends them); returns the item response."""
        item: dict[str, Any] = {"method": method, "url": url}
        if body is not None:
            item["body"] = body
        answer = self.batch(item)
        assert answer.status == 200, answer
        response: dict[str, Any] = answer.body["responses"][0]
        return response

    def pages(self, url: str, **kwargs: Any) -> tuple[list[dict[str, Any]], str | None]:
        """Follows ``@odata.nextLink``; returns every item and the final ``@odata.deltaLink`` (if any)."""
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        delta = None
        while next_url:
            answer = self.get(next_url, **kwargs)
            assert answer.status == 200, answer
            items.extend(answer.body["value"])
            next_url = answer.body.get("@odata.nextLink")
            delta = answer.body.get("@odata.deltaLink")
        return items, delta


def _json(raw: bytes) -> Any:
    return json.loads(raw) if raw else None
