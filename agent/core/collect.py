"""How often Python's collector runs while a review builds its objects."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def few_collections() -> Iterator[None]:
    """A review builds a few hundred thousand objects that live as long as it does: Python's collector, at its
    default thresholds, walks them again and again (1.1-1.3 s of a 2,000-service review). The objects alive before
    it starts (modules, the caller's state) are set aside (`gc.freeze`) and young collections run 50 times less
    often; both are undone after, so a long-lived server still collects what its sessions leave behind. Nested
    uses (a command around its session) keep the outermost's."""
    import gc

    global _COLLECTING_LESS
    if _COLLECTING_LESS:
        yield
        return
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], 35_000), *threshold[1:])
    _COLLECTING_LESS = True
    try:
        yield
    finally:
        _COLLECTING_LESS = False
        gc.set_threshold(*threshold)
        gc.unfreeze()


_COLLECTING_LESS = False
