"""An HTTP endpoint that never finishes an answer: `trickle` sends one byte of a status line every
second (each byte restarts a client's read timeout), `silent` accepts and says nothing."""
from __future__ import annotations

import socketserver
import threading

_ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"." * 10_000


class SlowEndpoint:
    def __init__(self, mode: str) -> None:
        assert mode in ("trickle", "silent")
        self.mode = mode
        self.connections = 0
        self._stop = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer.connections += 1
                self.request.settimeout(1.0)
                for byte in _ANSWER:
                    if outer._stop.wait(1.0):
                        return
                    if outer.mode == "trickle":
                        try:
                            self.request.sendall(bytes([byte]))
                        except OSError:
                            return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> "SlowEndpoint":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()

