"""Interleaved timing shared by the A/B benchmark scripts (`python benchmarks/<script>.py`)."""

import statistics
import time


def interleaved_medians(functions, rounds, calls=20):
    """Milliseconds per call of each function, the median of `rounds` rounds of `calls` calls.

    Each round runs every function in turn, so that drift of a shared machine
    falls on all of them alike. A function's result is materialised by its
    own code (e.g. `.numpy()`), so that the time covers the work.

    Args:
        functions: `{key: function()}`.
        rounds: interleaved rounds.
        calls: calls per function per round.

    Returns:
        `{key: median milliseconds per call}`.
    """
    times = {key: [] for key in functions}
    for _ in range(rounds):
        for key, function in functions.items():
            start = time.perf_counter()
            for _ in range(calls):
                function()
            times[key].append((time.perf_counter() - start) / calls * 1000)
    return {key: statistics.median(values) for key, values in times.items()}
