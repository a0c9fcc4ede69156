"""Time-driven jobs. Importing this package registers every job (see `all_jobs()`)."""

from schedules import (
    activities,
    council,
    org_pending_reminder,
    points,
    reports_deadlines,
    reports_digest,
    reports_progress,
    shop,
    update_ledger,
    votes,
)
from schedules.runtime import JOBS, Job, JobContext, Runtime, all_jobs, register

__all__ = [
    "JOBS",
    "Job",
    "JobContext",
    "Runtime",
    "activities",
    "all_jobs",
    "council",
    "org_pending_reminder",
    "points",
    "register",
    "reports_deadlines",
    "reports_digest",
    "reports_progress",
    "shop",
    "update_ledger",
    "votes",
]
