"""Helpers for the timing-oracle tests: does one request look the same as another, in the SQL it runs and
in how long it takes, on a shared machine whose load comes and goes?"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable, Hashable, Sequence


def statements(action: Callable[[], object]) -> list[str]:
    """The SQL `action` runs, without its values (literals, numbers, NULL, Django's savepoint names)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        action()
    return [re.sub(r"'[^']*'|\b\d+\b|NULL|\"s\d+_x\d+\"", "?", query["sql"]) for query in queries.captured_queries]


def interleaved_medians(
    action: Callable[[Hashable, int], object], variants: Sequence[Hashable], pairs: int = 40, warm_up: int = 5
) -> list[float]:
    """The median time of `action(variant, i)` for each variant, sampled in alternating order (ABBA...)
    after a few unmeasured rounds, so a burst of load lands on every variant alike instead of on whichever
    ran second. `i` counts every call, for actions that need a fresh value each time."""
    samples: dict[Hashable, list[float]] = {variant: [] for variant in variants}
    calls = 0
    for round_ in range(warm_up + pairs):
        for variant in variants if round_ % 2 else reversed(variants):
            start = time.perf_counter()
            action(variant, calls)
            elapsed = time.perf_counter() - start
            calls += 1
            if round_ >= warm_up:
                samples[variant].append(elapsed)
    return [statistics.median(samples[variant]) for variant in variants]


def median_hash_time(hash_once: Callable[[], object], tries: int = 9) -> float:
    """How long one password hash takes here and now (the median, so one slow moment does not set it)."""
    samples = []
    for _ in range(tries):
        start = time.perf_counter()
        hash_once()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
