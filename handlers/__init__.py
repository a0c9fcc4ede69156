"""One router per feature, in the order they are tried; the catch-all is last."""

from __future__ import annotations

from aiogram import Router

from handlers import common, errors, fallback, groups, join, roles, village


def feature_routers() -> list[Router]:
    return [
        errors.router,
        common.router,
        village.router,
        roles.router,
        join.router,
        groups.router,
        fallback.router,
    ]
