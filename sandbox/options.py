"""The `linli sandbox` options: light (nothing of the bot imported), as every command line
builds its parser with them."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DATA = Path("data") / "sandbox.db"


def add_sandbox_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8080, help="the page's port (default 8080)")
    parser.add_argument(
        "--api-port", type=int, default=8081, help="the local Bot API server's port (0: any)"
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="where both listen (default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the sandbox's SQLite file"
    )
    parser.add_argument(
        "--no-demo", dest="demo", action="store_false", help="start with an empty database"
    )
    parser.add_argument("--reset", action="store_true", help="start from a fresh database")
