"""One router per feature, in the order they are tried; the catch-all is last."""

from __future__ import annotations

from aiogram import Router

from handlers import (
    common,
    council,
    errors,
    fallback,
    grid,
    groups,
    join,
    points,
    points_admin,
    points_review,
    reports,
    roles,
    tasks,
    village,
    votes,
)

FEATURES = (
    errors,
    common,
    village,
    roles,
    join,
    groups,
    points,
    points_review,
    points_admin,
    reports,
    tasks,
    grid,
    votes,
    council,
    fallback,
)


def feature_routers() -> list[Router]:
    """Fresh routers for one dispatcher.

    The feature modules declare their handlers on a module-level router (aiogram's way), but a
    router can belong to one dispatcher only; tests and benches build several, so each gets
    copies that share the handlers.
    """
    return [copy_router(module.router) for module in FEATURES]


def copy_router(template: Router) -> Router:
    router = Router(name=template.name)
    for event, observer in template.observers.items():
        router.observers[event].handlers.extend(observer.handlers)
    return router
