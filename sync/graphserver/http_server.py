"""The socket side: a ``ThreadingHTTPServer`` whose handler turns HTTP requests into :class:`Call` s.

Keep-alive (HTTP/1.1) so clients reuse connections; nothing is logged (URLs carry UPNs and ids).
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any

from sync.devserver import LocalHTTPServer
from sync.graphserver.batch import run_batch
from sync.graphserver.calls import Call, Reply
from sync.graphserver.errors import GraphError, bad_request
from sync.graphserver.identity import caller
from sync.graphserver.pipeline import Pipeline, error_reply, json_headers

API_PREFIX = "/v1.0"
STATS_PATH = "/_local/stats"


class GraphHTTPServer(LocalHTTPServer):
    #: Clients open many connections at once (a paced adapter with parallel batches); don't refuse them.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], pipeline: Pipeline) -> None:
        super().__init__(address, GraphRequestHandler)
        self.pipeline = pipeline


class GraphRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: Headers and body go out in two writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms each.
    disable_nagle_algorithm = True
    server: GraphHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines hold personal data (UPNs in filters)."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        pipeline = self.server.pipeline
        try:
            raw = self._read_body()
            if self.path.split("?", 1)[0] == STATS_PATH:
                self._send(Reply(200, pipeline.stats.snapshot()))
                return
            pipeline.stats.add("requests")
            with pipeline.in_flight.request():
                reply = self._answer(pipeline, raw)
        except GraphError as err:
            reply = error_reply(err)
        self._send(reply)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _answer(self, pipeline: Pipeline, raw: bytes) -> Reply:
        if not (self.path == API_PREFIX or self.path.startswith(API_PREFIX + "/")):
            raise GraphError(
                404, "Request_BadRequest", f"Only {API_PREFIX} is served; use {API_PREFIX}/… paths."
            )
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise bad_request("Invalid request: the body is not valid JSON.") from None
        headers = {k.lower(): v for k, v in self.headers.items()}
        call = Call.from_url(self.command, self.path[len(API_PREFIX) :], headers=headers, body=body)
        app, tenant = caller(headers.get("authorization"))
        if call.path == "/$batch":
            if call.method != "POST":
                raise GraphError(405, "Request_BadRequest", "$batch accepts POST only.")
            return pipeline.answer(call, lambda: run_batch(pipeline, call, app=app, tenant=tenant))
        return pipeline.handle(call, app=app, tenant=tenant)

    def _send(self, reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body, separators=(",", ":")).encode()
        self.send_response(reply.status)
        for name, value in json_headers(reply).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)
