"""What the benchmarks share: percentiles, and the stores to run against."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.services import TEST_POSTGRES_URL, reachable, scratch_postgres_database


def percentile(samples: list[float], fraction: float) -> float:
    """The sample below which ``fraction`` of them lie (NaN when there are none)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


@contextmanager
def stores() -> Iterator[dict[str, str]]:
    """A scratch SQLite file, and a scratch PostgreSQL database when the test server answers; both
    gone afterwards."""
    with ExitStack() as stack:
        folder = stack.enter_context(tempfile.TemporaryDirectory())
        found = {"SQLite": f"sqlite+aiosqlite:///{Path(folder) / 'bench.sqlite3'}"}
        if reachable(TEST_POSTGRES_URL, 5432):
            found["PostgreSQL"] = stack.enter_context(scratch_postgres_database("needsbot_bench"))
        yield found
