"""Garbage-collector pauses: keep them short for a long-running bot, and measure them.

CPython's cyclic collector stops everything while it runs. A full (generation 2) collection
walks every tracked object, and after start-up there are some 300,000 of them (the modules,
SQLAlchemy's, aiogram's and pydantic's classes and caches): about 0.2 s on a small machine,
during which no update is served. None of them will ever be garbage.

`tune_gc()`, called once the app is built, collects once, then moves everything that exists
(gc.freeze) into a generation the collector never looks at, and raises the thresholds so
that young collections run less often. `GcPauses` times every collection (gc.callbacks) and
keeps the worst and the count per generation; the benches print it.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from typing import Any

# (gen0, gen1, gen2), chosen by measurement (Python's own are 700, 10, 10): the worst pause in
# vote_burst (2,000 presses in 60 s, rtt 60 ms) on PostgreSQL / on SQLite (where, before the
# short write transactions, 800 presses queue for 30 s and fail: many young objects survive),
# and in report_flow (40 residents, PostgreSQL):
#   nothing frozen, (700, 10, 10):  285 / 371 / 232 ms (full collections of the whole heap)
#   frozen, (700, 10, 10):           56 /  94 /   9 ms (full collections of what came since)
#   frozen, (5000, 10, 100):         10 /  46 /  10 ms
#   frozen, (5000, 5, 200):          19 /  48 ms
#   frozen, (8000, 5, 100):          32 /  32 ms
#   frozen, (10000, 10, 100):      8-15 / 63-142 / 7 ms (a middle collection: up to 100,000)
#   frozen, (50000, 20, 100):     21-34 /  28-37 / 12 ms (a young collection: up to 50,000)
# A collection walks up to about gen0 objects (young) or gen0 x (gen1 + 1) (middle), some
# 0.6 us each here; a full one waits for 8,000 x 5 x 100 = 4 million more tracked objects made
# than freed (and Python's own rule: 25 % more long-lived ones), and walks only what was made
# after start-up.
THRESHOLDS = (8_000, 5, 100)


def tune_gc(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Freeze what start-up allocated (after one last collection) and raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)


@dataclass
class GcPauses:
    """Times each collection, start to stop: the worst, and per generation the count and worst.

    Use as a context manager (or start()/stop()); reset() forgets what was seen so far.
    """

    count: list[int] = field(default_factory=lambda: [0, 0, 0])
    worst_of: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # seconds
    freed_in_worst: list[int] = field(default_factory=lambda: [0, 0, 0])  # objects it collected
    total: float = 0.0
    thresholds: tuple[int, int, int] = (0, 0, 0)  # as they were when it started
    frozen: int = 0
    _began: float | None = None

    @property
    def worst(self) -> float:
        return max(self.worst_of)

    def start(self) -> GcPauses:
        self.thresholds, self.frozen = gc.get_threshold(), gc.get_freeze_count()
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)
        return self

    def stop(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def reset(self) -> None:
        self.count = [0, 0, 0]
        self.worst_of = [0.0, 0.0, 0.0]
        self.freed_in_worst = [0, 0, 0]
        self.total = 0.0

    def __enter__(self) -> GcPauses:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        if self._began is None:
            return
        pause = time.perf_counter() - self._began
        self._began = None
        generation = min(int(info.get("generation", 2)), 2)
        self.count[generation] += 1
        self.total += pause
        if pause > self.worst_of[generation]:
            self.worst_of[generation] = pause
            self.freed_in_worst[generation] = int(info.get("collected", 0))

    def summary(self) -> str:
        """One line: the worst pause, then per generation how many and the worst."""
        generations = ", ".join(
            f"gen{n} {self.count[n]}x worst {self.worst_of[n] * 1000:.1f} ms"
            f" ({self.freed_in_worst[n]} freed)"
            for n in range(3)
        )
        return (
            f"worst GC pause {self.worst * 1000:.1f} ms ({generations}; "
            f"{self.total * 1000:.0f} ms in all; thresholds {self.thresholds}, "
            f"{self.frozen} objects frozen)"
        )
