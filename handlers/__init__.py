"""One router per feature, in the order they are tried; the catch-all is last."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject

from handlers import (
    activities,
    board,
    common,
    council,
    errors,
    fallback,
    home,
    home_behalf,
    home_text,
    org_audit,
    org_groups,
    org_join,
    org_people,
    org_roles,
    org_village,
    points,
    points_admin,
    points_review,
    reports,
    reports_grid,
    reports_neighbours,
    reports_tasks,
    reports_workers,
    shop,
    votes,
)
from handlers.prechecks import PrecheckedRouter

FEATURES = (
    errors,
    common,
    home,
    org_village,
    org_roles,
    org_join,
    org_groups,
    org_people,
    org_audit,
    points,
    points_review,
    points_admin,
    reports,
    reports_tasks,
    reports_grid,
    reports_neighbours,
    reports_workers,
    votes,
    council,
    activities,
    shop,
    board,
    home_behalf,
    home_text,
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
    router = PrecheckedRouter(name=template.name)
    for event, observer in template.observers.items():
        for handler in observer.handlers:
            for check in handler.filters or ():
                run_inline(check)
        router.observers[event].handlers.extend(observer.handlers)
    router.add_prechecks()
    return router


def run_inline(check: FilterObject) -> None:
    """Evaluates a synchronous filter (a bare `State`, an `F` expression) in the event loop.

    aiogram hands every synchronous filter to a worker thread, in case it blocks. Ours are
    in-memory comparisons, and the thread hop cost more than the rest of a wizard step (about
    50 hops per update in bench/report_flow.py). The filter keeps its arguments; only how it is
    awaited changes. Handlers are shared between copies, so this runs once per filter.
    """
    if check.awaitable:
        return
    check.callback = _awaitable(check.callback)
    check.awaitable = True


def _awaitable(function: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(function)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    return run
