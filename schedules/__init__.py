"""Time-driven jobs. Importing this package registers every job (see `all_jobs()`)."""

from schedules import (
    council,
    org_pending_reminder,
    points,
    reports_deadlines,
    reports_digest,
    update_ledger,
    votes,
)
from schedules.runtime import JOBS, Job, JobContext, Runtime, all_jobs, register

__all__ = [
    "JOBS",
    "Job",
    "JobContext",
    "Runtime",
    "all_jobs",
    "council",
    "org_pending_reminder",
    "points",
    "register",
    "reports_deadlines",
    "reports_digest",
    "update_ledger",
    "votes",
]
