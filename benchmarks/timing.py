"""What the benchmarks share: the median wall time of a call, in milliseconds."""
from __future__ import annotations

import statistics
import time


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)
