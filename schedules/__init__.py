"""Time-driven jobs. Importing this package registers every job (see `all_jobs()`)."""

from schedules import (
    council,
    pending_reminder,
    points,
    report_deadlines,
    task_digest,
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
    "pending_reminder",
    "points",
    "register",
    "report_deadlines",
    "task_digest",
    "update_ledger",
    "votes",
]
