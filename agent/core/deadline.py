"""A wall-clock budget for a whole network call.

A client's read timeout restarts at every byte, so an endpoint that trickles one byte a second never
times out. `within` runs the call in a worker thread and stops waiting at the deadline; `stream_within`
does the same for each item of a stream. The worker (a daemon) is abandoned, not killed, but the sockets it
connected are shut down at once: its blocked read returns, its client fails and closes them, and the
thread ends (a long-running server, MCP, would otherwise keep one thread and one connection per abandoned
call, for as long as the endpoint holds it). Imports nothing of ours.
"""
from __future__ import annotations

import contextvars
import queue
import socket
import sys
import threading
import time
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")

# The sockets a worker connects, seen through the interpreter's audit events (every client library connects
# through socket.connect): a worker sets its own registry, other threads see None and cost one comparison.
_CONNECTED: contextvars.ContextVar["_Connections | None"] = contextvars.ContextVar("deadline_connected", default=None)
_HOOKED = threading.Lock()
_hooked = False


class _Connections:
    """The sockets one worker connected; once abandoned, its sockets are shut down and it connects no more."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sockets: list = []
        self.abandoned = False

    def add(self, sock: Any) -> None:
        with self.lock:
            if self.abandoned:  # raised from the audit hook: the connect is not made
                raise ConnectionAbortedError("the call was abandoned at its deadline")
            self.sockets.append(sock)

    def cut(self) -> None:
        """Shut down every socket: a read blocked on one returns at once (close alone would not wake it), so
        the worker's client fails, closes it, and the thread ends instead of holding the connection."""
        with self.lock:
            self.abandoned = True
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass  # already closed by its client, or never connected


def _audit(event: str, args: tuple) -> None:
    if event == "socket.connect":
        connections = _CONNECTED.get()
        if connections is not None:
            connections.add(args[0])


def _watch(connections: _Connections) -> None:
    """Collect the sockets this worker connects from now on into `connections`."""
    global _hooked
    with _HOOKED:
        if not _hooked:  # installed once, on the first call with a deadline (an audit hook cannot be removed)
            sys.addaudithook(_audit)
            _hooked = True
    _CONNECTED.set(connections)


# The connections of every call in flight, for `cut_all` (Ctrl-C: the caller may wait on a worker it does not own,
# as langgraph's executor waits for its running node before the interrupt reaches the chat).
_IN_FLIGHT: set = set()
_IN_FLIGHT_LOCK = threading.Lock()


def _track(connections: "_Connections", on: bool) -> None:
    with _IN_FLIGHT_LOCK:
        (_IN_FLIGHT.add if on else _IN_FLIGHT.discard)(connections)


def cut_all() -> int:
    """Abandon every call in flight now: their sockets are shut down, their workers' reads return. How many."""
    with _IN_FLIGHT_LOCK:
        flying = list(_IN_FLIGHT)
    for connections in flying:
        connections.cut()
    return len(flying)


class Overdue(Exception):
    """The call did not finish within its budget (`seconds`)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no answer within {seconds:g} s")
        self.seconds = seconds


def within(seconds: float, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs), or Overdue once `seconds` have passed (the call is abandoned)."""
    box: dict[str, Any] = {}
    done = threading.Event()
    ctx = contextvars.copy_context()  # callbacks and budgets set by the caller hold in the worker
    connections = _Connections()

    def call() -> Any:
        _watch(connections)
        _track(connections, True)
        try:
            return fn(*args, **kwargs)
        finally:
            _track(connections, False)

    def run() -> None:
        try:
            box["value"] = ctx.run(call)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller as is
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, daemon=True, name="deadline-call").start()
    try:
        finished = done.wait(max(seconds, 0.0))
    except BaseException:  # Ctrl-C while waiting: the call is abandoned now, its connection with it
        connections.cut()
        raise
    if not finished:
        connections.cut()
        raise Overdue(seconds)
    if "error" in box:
        raise box["error"]
    return box["value"]


_END = object()


def stream_within(deadline: float, items: Callable[[], Iterator[T]], seconds: float) -> Iterator[T]:
    """The items of `items()`, read in a worker; Overdue when the next one has not come by `deadline`
    (a time.monotonic() value; `seconds` is the budget it stands for, for the message)."""
    q: queue.Queue = queue.Queue()
    stop = threading.Event()
    ctx = contextvars.copy_context()
    connections = _Connections()

    def drain() -> None:
        _watch(connections)
        _track(connections, True)
        try:
            for item in items():
                q.put((True, item))
                if stop.is_set():
                    return
            q.put((True, _END))
        except BaseException as exc:  # noqa: BLE001 - handed back to the reader as is
            q.put((False, exc))
        finally:
            _track(connections, False)

    threading.Thread(target=ctx.run, args=(drain,), daemon=True, name="deadline-stream").start()
    finished = False
    try:
        while True:
            try:
                ok, item = q.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                raise Overdue(seconds) from None
            if not ok:
                finished = True
                raise item
            if item is _END:
                finished = True
                return
            yield item
    finally:
        stop.set()
        if not finished:  # overdue, or the reader stopped early: the stream's connection goes
            connections.cut()
