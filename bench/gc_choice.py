"""The benches' --gc option: how the garbage collector runs while they measure.

tuned (default): bot.gc_tuning.tune_gc(), as bot.py runs it; default: Python's own (nothing
frozen, thresholds 700, 10, 10); freeze: start-up frozen, Python's thresholds; "A,B,C": frozen,
with these thresholds.
"""

from __future__ import annotations

import argparse
import gc

from bot.gc_tuning import THRESHOLDS, tune_gc

CHOICES = "tuned | default | freeze | A,B,C"


def add_gc_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--gc",
        default="tuned",
        metavar="MODE",
        help=f"garbage collector while measuring: {CHOICES} (default tuned: freeze and "
        f"thresholds {','.join(map(str, THRESHOLDS))})",
    )


def apply_gc(choice: str) -> str:
    """Set the collector up as `choice` says (call it once the app is built); describe it."""
    if choice == "default":
        return f"Python's own (thresholds {gc.get_threshold()}, nothing frozen)"
    if choice == "freeze":
        tune_gc(gc.get_threshold())  # type: ignore[arg-type]
    elif choice == "tuned":
        tune_gc()
    else:
        parts = tuple(int(p) for p in choice.split(","))
        if len(parts) != 3:
            raise SystemExit(f"--gc: {CHOICES}, not {choice!r}")
        tune_gc(parts)  # type: ignore[arg-type]
    return f"tuned (start-up frozen, thresholds {gc.get_threshold()})"
