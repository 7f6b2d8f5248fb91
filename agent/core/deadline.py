"""A wall-clock budget for a whole network call.

A client's read timeout restarts at every byte, so an endpoint that trickles one byte a second never
times out. `within` runs the call in a worker thread and stops waiting at the deadline; `stream_within`
does the same for each item of a stream. The worker (a daemon) is abandoned, not killed: its socket
closes when the endpoint gives up or the process ends. Imports nothing of ours.
"""
from __future__ import annotations

import contextvars
import queue
import threading
import time
from typing import Any, Callable, Iterator, TypeVar

T = TypeVar("T")


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

    def run() -> None:
        try:
            box["value"] = ctx.run(fn, *args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller as is
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, daemon=True, name="deadline-call").start()
    if not done.wait(max(seconds, 0.0)):
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

    def drain() -> None:
        try:
            for item in items():
                q.put((True, item))
                if stop.is_set():
                    return
            q.put((True, _END))
        except BaseException as exc:  # noqa: BLE001 - handed back to the reader as is
            q.put((False, exc))

    threading.Thread(target=ctx.run, args=(drain,), daemon=True, name="deadline-stream").start()
    try:
        while True:
            try:
                ok, item = q.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                raise Overdue(seconds) from None
            if not ok:
                raise item
            if item is _END:
                return
            yield item
    finally:
        stop.set()
