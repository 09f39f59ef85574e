"""Package errors, and the one place that translates psycopg errors into them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pgerrors


class CachemonError(Exception):
    """Base class of every error cachemon raises on purpose."""


class DatabaseUnavailable(CachemonError):
    """The database cannot be reached (connection refused, dropped, timed out)."""


class InvalidInput(CachemonError, ValueError):
    """The database refused input (a constraint or a validation in an SQL function)."""


class NotInstalled(CachemonError):
    """The cachemon schema (or a function of it) is missing: run ``cachemon db upgrade``."""


class PermissionDenied(CachemonError):
    """The role lacks a privilege: grant it cachemon_writer, cachemon_reader or cachemon_admin."""


def translate(exc: psycopg.Error) -> CachemonError:
    """The package error for a psycopg error, keeping the server's message and hint."""
    diag = getattr(exc, "diag", None)
    message = (diag.message_primary if diag and diag.message_primary else str(exc)).strip()
    detail = diag.message_detail if diag else None
    hint = diag.message_hint if diag else None
    text = message + (f" ({detail})" if detail else "") + (f"; hint: {hint}" if hint else "")
    if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, pgerrors.QueryCanceled):
        return DatabaseUnavailable(text)
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return PermissionDenied(text)
    if isinstance(exc, pgerrors.UndefinedFunction | pgerrors.UndefinedTable):
        return NotInstalled(text + "; run `cachemon db upgrade`")
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError | pgerrors.RaiseException):
        return InvalidInput(text)
    if diag is not None and (diag.sqlstate or "").startswith("22"):
        return InvalidInput(text)
    return CachemonError(text)


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise psycopg errors raised inside the block as package errors."""
    try:
        yield
    except psycopg.Error as exc:
        raise translate(exc) from exc
