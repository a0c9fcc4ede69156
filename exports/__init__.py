"""`python bot.py export KIND ...`: each feature registers an exporter here.

An exporter is a function (settings, sessions, args) -> int; `add_export_commands` builds the
argument parser for every registered kind.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from storage.db import SessionFactory, create_engine, create_session_factory, migrate
from storage.settings import Settings


@dataclass(frozen=True)
class Exporter:
    kind: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Settings, SessionFactory, argparse.Namespace], Awaitable[int]]


EXPORTERS: dict[str, Exporter] = {}


def register(exporter: Exporter) -> Exporter:
    EXPORTERS[exporter.kind] = exporter
    return exporter


def load_exporters() -> None:
    """Import the feature modules that register exporters."""
    # Inside the function: each exporter imports this module's `register` (a registry).
    from exports import activities, council, pdf, points, reports, shop, votes  # noqa: F401, PLC0415


def add_export_commands(parser: argparse.ArgumentParser) -> None:
    load_exporters()
    kinds = parser.add_subparsers(dest="export_kind", required=True)
    for exporter in EXPORTERS.values():
        exporter.add_arguments(kinds.add_parser(exporter.kind, help=exporter.help))


async def run_export(settings: Settings, args: argparse.Namespace) -> int:
    exporter = EXPORTERS[args.export_kind]
    engine = create_engine(settings.database_url)
    try:
        await migrate(engine)
        return await exporter.run(settings, create_session_factory(engine), args)
    finally:
        await engine.dispose()
