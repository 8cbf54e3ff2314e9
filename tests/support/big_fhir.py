"""A real HTTP server that answers every FHIR search with one huge Bundle page, streamed
(chunked, no Content-Length) so the client only learns the size by reading it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_CHUNK = b"A" * 65536


class _Handler(BaseHTTPRequestHandler):
    size = 0
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path.split("?", 1)[0])
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        # A DiagnosticReport with an inline PDF the size of the whole page.
        head = (
            b'{"resourceType":"Bundle","type":"searchset","entry":[{"resource":'
            b'{"resourceType":"DiagnosticReport","id":"r1","status":"final",'
            b'"presentedForm":[{"contentType":"application/pdf","data":"'
        )
        try:
            self._chunk(head)
            sent = 0
            while sent < self.size:
                self._chunk(_CHUNK)
                sent += len(_CHUNK)
            self._chunk(b'"}]}}]}')
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: what we want it to do

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def big_fhir_server(size: int) -> Iterator[tuple[str, list[str]]]:
    """(FHIR base URL, paths requested) of a server whose every answer is `size` bytes."""
    requests: list[str] = []
    handler = type("Handler", (_Handler,), {"size": size, "requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/fhir", requests
    finally:
        server.shutdown()
        server.server_close()
