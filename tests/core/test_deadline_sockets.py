"""A call abandoned at its deadline lets go of its connection (issue 20, 3): the MCP server runs for days, and each
abandoned call used to keep a thread and a socket for as long as the endpoint held it (forever, for one that
never answers)."""
from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from agent.core.deadline import Overdue, stream_within, within


class SilentEndpoint:
    """Reads a request, never answers, and notes when the client's side of the connection goes away."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/v1/pages"
        self.requests = 0
        self.gone = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            while conn.recv(65536):  # the request, then nothing until the client shuts or closes its side
                self.requests += 1
            self.gone.set()

    def close(self) -> None:
        self.server.close()


def _workers(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def _ended(name: str, before: int, seconds: float = 5.0) -> bool:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if len(_workers(name)) <= before:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def endpoint():
    e = SilentEndpoint()
    yield e
    e.close()


def test_an_abandoned_call_closes_its_connection_and_its_thread_ends(endpoint):
    before = len(_workers("deadline-call"))
    with httpx.Client(timeout=60) as client:  # a read timeout far past the deadline, as the clients have
        with pytest.raises(Overdue):
            within(0.5, client.get, endpoint.url)
        assert endpoint.gone.wait(5), "the abandoned call still holds its connection"
        assert endpoint.requests >= 1
        assert _ended("deadline-call", before), "the abandoned worker is still waiting on its socket"


def test_an_abandoned_stream_closes_its_connection_and_its_thread_ends(endpoint):
    before = len(_workers("deadline-stream"))

    def chunks():
        with httpx.Client(timeout=60) as client, client.stream("GET", endpoint.url) as response:
            yield from response.iter_bytes()

    with pytest.raises(Overdue):
        for _ in stream_within(time.monotonic() + 0.5, chunks, 0.5):
            pass
    assert endpoint.gone.wait(5), "the abandoned stream still holds its connection"
    assert _ended("deadline-stream", before)


def test_a_call_within_its_deadline_keeps_its_connection():
    """Only an abandoned call is cut: a call that answers in time leaves its (keep-alive) connection alone."""
    server = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{server.getsockname()[1]}/"
    answered = threading.Event()
    closed = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            answered.set()
            conn.settimeout(1.5)
            try:
                if conn.recv(1) == b"":
                    closed.set()
            except TimeoutError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    with httpx.Client(timeout=5) as client:
        assert within(5, client.get, url).text == "ok"
        assert answered.wait(5) and not closed.wait(1.0)
    server.close()


def test_ctrl_c_during_a_call_cuts_its_connection_at_once(endpoint):
    """Issue 22, 2: the first Ctrl-C ends the wait and the connection, not only the wait (the worker used to keep
    reading the response for minutes). Python's own handler is set for the test: a suite started in the background
    of a non-interactive shell (`pytest &`) inherits SIGINT ignored, and the signal would then do nothing."""
    import os
    import signal

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        before = len(_workers("deadline-call"))
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()  # a real SIGINT, as a terminal sends
        started = time.monotonic()
        with httpx.Client(timeout=60) as client, pytest.raises(KeyboardInterrupt):
            within(60, client.get, endpoint.url)
        assert time.monotonic() - started < 5
        assert endpoint.gone.wait(5), "the interrupted call still holds its connection"
        assert _ended("deadline-call", before)
    finally:
        signal.signal(signal.SIGINT, previous)
