"""piccolo's configuration module, for the piccolo CLI and our migration runner.

Why: piccolo's migration machinery (`MigrationManager.run` and the table classes it
builds on the fly) looks its engine up through `engine_finder()`, i.e. the module
named by `PICCOLO_CONF`. Here `DB` is resolved per task: `migrate()` binds its
engine with `use_engine` (a ContextVar, so concurrent tasks never see each other's
engine); otherwise, for the piccolo CLI, `DATABASE_URL` is used:

    PICCOLO_CONF=tianji_common.db.piccolo_conf DATABASE_URL=sqlite:///gen.sqlite \
        piccolo migrations new tianji --auto
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from piccolo.conf.apps import AppRegistry

from tianji_common.db.engine import engine_from_url

if TYPE_CHECKING:
    from piccolo.engine.base import Engine

__all__ = ["APP_REGISTRY", "MODULE", "use_engine"]

MODULE: Final = __name__
APP_REGISTRY: Final = AppRegistry(apps=["tianji_common.db.piccolo_app"])

_bound: ContextVar[Engine[Any] | None] = ContextVar("tianji_piccolo_engine", default=None)


@contextmanager
def use_engine(engine: Engine[Any]) -> Iterator[None]:
    """Make `engine` the one piccolo's `engine_finder()` returns in this task."""
    token = _bound.set(engine)
    try:
        yield
    finally:
        _bound.reset(token)


@cache
def _engine_for_url(url: str) -> Engine[Any]:
    # One engine per URL: piccolo calls engine_finder() many times during a CLI
    # migration, and a transaction only spans queries run on the same engine object.
    return engine_from_url(url)


def __getattr__(name: str) -> Engine[Any]:
    """PEP 562: `DB` is looked up at access time, not fixed at import."""
    if name != "DB":
        raise AttributeError(name)
    engine = _bound.get()
    if engine is not None:
        return engine
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise AttributeError("DB: no engine bound and DATABASE_URL is not set")
    return _engine_for_url(url)
