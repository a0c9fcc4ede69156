"""`python bot.py export reports --village V --format open311 --out FILE`: a village's reports
as Open311 GeoReport v2 service requests (JSON). An anonymous reporter is never named; no
reporter is named at all, in fact: GeoReport has no field for it, and the export is public."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from exports import Exporter, register
from storage import org, reports
from storage.db import SessionFactory
from storage.models.reports import TaskStatus
from storage.settings import Settings

# GeoReport v2 service request fields, in the order of the specification.
GEOREPORT_FIELDS = (
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
)
CLOSED = {TaskStatus.CLOSED, TaskStatus.DUPLICATE, TaskStatus.REJECTED, TaskStatus.RESOLVED}


def stamp(moment: datetime | None) -> str | None:
    moment = reports.aware(moment)
    return moment.isoformat(timespec="seconds") if moment else None


def service_request(view: reports.TaskView) -> dict[str, Any]:
    """One report as a GeoReport v2 service request."""
    task = view.task
    status = TaskStatus(task.status)
    notes = {
        TaskStatus.DUPLICATE: f"duplicate of {task.note}",
        TaskStatus.REJECTED: f"rejected: {task.note}",
    }.get(
        status, task.note if status in (TaskStatus.RESOLVED, TaskStatus.CLOSED) else status.value
    )
    stamps = [
        task.created_at,
        task.accepted_at,
        task.started_at,
        task.resolved_at,
        task.closed_at,
        task.reopened_at,
        task.handed_over_at,
        task.rejected_at,
        task.duplicate_at,
    ]
    updated = max((reports.aware(s) for s in stamps if s is not None), default=None)
    category = view.category
    return {
        "service_request_id": task.number,
        "status": "closed" if status in CLOSED else "open",
        "status_notes": notes,
        "service_name": (
            reports.DEFAULT_NAMES.get(category.code, category.name) if category else "Other"
        ),
        "service_code": category.code if category else "other",
        "description": task.description,
        "agency_responsible": f"{view.village.name} {view.grid.name}",
        "service_notice": "",
        "requested_datetime": stamp(task.created_at),
        "updated_datetime": stamp(updated),
        "expected_datetime": stamp(task.resolve_due_at),
        "address": task.location,
        "address_id": "",
        "zipcode": "",
        "lat": task.latitude,
        "long": task.longitude,
        "media_url": "",
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--village", required=True, help="the village's name")
    parser.add_argument("--format", default="open311", choices=["open311"])
    parser.add_argument("--out", required=True, type=Path, help="the JSON file to write")


async def export_village(sessions: SessionFactory, village_name: str) -> list[dict[str, Any]]:
    async with sessions() as session:
        village = await org.village_by_name(session, village_name)
        if village is None:
            raise SystemExit(f"No village named {village_name!r}")
        return [
            service_request(v) for v in await reports.village_reports(session, village.id or 0)
        ]


async def run(settings: Settings, sessions: SessionFactory, args: argparse.Namespace) -> int:
    del settings
    requests = await export_village(sessions, args.village)
    args.out.write_text(json.dumps(requests, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"{len(requests)} service requests written to {args.out}")  # noqa: T201
    return 0


EXPORTER = register(
    Exporter(
        kind="reports",
        help="a village's reports as Open311 GeoReport v2 service requests (JSON)",
        add_arguments=add_arguments,
        run=run,
    )
)
