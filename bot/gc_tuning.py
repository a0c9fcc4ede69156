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

# (gen0, gen1, gen2), chosen by measurement (Python's own are 700, 10, 10). The worst pause,
# vote_burst on PostgreSQL (2,000 presses in 60 s, rtt 60 ms) / report_flow (40 residents):
#   nothing frozen, (700, 10, 10):  285 / 232 ms (full collections of the whole heap)
#   frozen, (700, 10, 10):           56 /   9 ms (full collections of what came after)
#   frozen, (5000, 10, 100):         10 /  10 ms
#   frozen, (10000, 10, 100):        15 /   7 ms (10 young collections in the burst)
#   frozen, (20000, 10, 100):        15 ms
#   frozen, (50000, 20, 100):     21-34 /  12 ms (a young collection scans more)
# A full collection now waits for 10,000 x 10 x 100 = 10 million more tracked objects made than
# freed (and Python's own rule: 25 % more long-lived ones): rare, and it walks only what was
# made after start-up.
THRESHOLDS = (10_000, 10, 100)


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
        self.worst_of[generation] = max(self.worst_of[generation], pause)

    def summary(self) -> str:
        """One line: the worst pause, then per generation how many and the worst."""
        generations = ", ".join(
            f"gen{n} {self.count[n]}x worst {self.worst_of[n] * 1000:.1f} ms" for n in range(3)
        )
        return (
            f"worst GC pause {self.worst * 1000:.1f} ms ({generations}; "
            f"{self.total * 1000:.0f} ms in all; thresholds {self.thresholds}, "
            f"{self.frozen} objects frozen)"
        )
