"""Package errors, and the one place that translates database, Alembic and SQLAlchemy errors.

Every error cachemon raises on purpose is a ``CachemonError``: ``str(error)`` says what is
wrong, ``error.hint`` what to do, ``error.exit_code`` the CLI's exit status (README, "Exit
codes"), and ``error.permanent`` whether retrying without a human changing something is
pointless (the collector slows down and logs once instead of warning per attempt).

``translate(exc)`` maps any exception from psycopg, SQLAlchemy (``DBAPIError`` wraps the
psycopg error), Alembic (``CommandError``) or the local cluster launcher to one of these
classes; ``translated()`` does it for a block. SQLAlchemy and Alembic are never imported here,
so using this module costs nothing at CLI start-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

# psycopg is imported inside the functions below: importing this module (the CLI does, for
# its exit codes) costs nothing.

# Exit codes of the CLI (also in README.md, "Exit codes"). 1 and 2 keep their usual meaning:
# 1 "the command ran and the answer is no" (db check behind, ingest rejected lines, ...),
# 2 a usage error (click).
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3  # `cachemon local status`: the local cluster does not run


class CachemonError(Exception):
    """Base class of every error cachemon raises on purpose."""

    exit_code: int = 10
    permanent: bool = False
    default_hint: str | None = None

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message + (f"; {self.hint}" if self.hint else "")


class BadConfiguration(CachemonError, ValueError):
    """A setting is missing or malformed (no database URL, a URL that is not PostgreSQL's)."""

    exit_code = 11
    permanent = True


class DatabaseUnavailable(CachemonError):
    """The database cannot be reached (connection refused, dropped, timed out)."""

    exit_code = 12
    default_hint = "is PostgreSQL running there? (`cachemon local start` starts a local one)"


class AuthenticationFailed(DatabaseUnavailable):
    """The server refused the user name or password of the URL."""

    exit_code = 13
    permanent = True
    default_hint = "check the user and password in the database URL"


class DatabaseNotFound(DatabaseUnavailable):
    """The server has no database of the URL's name."""

    exit_code = 14
    permanent = True
    default_hint = "check the database name in the URL, or create it (CREATE DATABASE ...)"


class NotInstalled(CachemonError):
    """The cachemon schema (or a function of it) is missing: run ``cachemon db upgrade``."""

    exit_code = 15
    permanent = True
    default_hint = "run `cachemon db upgrade` (with the URL of this database)"


class PermissionDenied(CachemonError):
    """The role lacks a privilege: grant it cachemon_writer, cachemon_reader or cachemon_admin."""

    exit_code = 16
    permanent = True
    default_hint = (
        "connect as a role with the privilege, or GRANT cachemon_writer, cachemon_reader "
        "or cachemon_admin to this role"
    )


class InvalidInput(CachemonError, ValueError):
    """The database (or cachemon) refused input: a constraint, a validation, a bad revision."""

    exit_code = 17


class NotFound(InvalidInput):
    """What was named does not exist (a finding id, a revision)."""

    exit_code = 18


class Refused(CachemonError):
    """cachemon refused to do something destructive (demo on a foreign database, an
    unconfirmed downgrade)."""

    exit_code = 19


class LocalClusterError(CachemonError):
    """The local cluster could not be found, created, started or stopped."""

    exit_code = 20


# Exit code of an error nobody planned for (a bug): one line, and --debug shows the traceback.
EXIT_UNEXPECTED = 70

_CONNECT_PATTERNS: tuple[tuple[re.Pattern[str], type[CachemonError]], ...] = (
    (
        re.compile(
            r"password authentication failed|authentication failed|no password supplied|"
            r"no pg_hba\.conf entry|role \".*\" does not exist",
            re.I,
        ),
        AuthenticationFailed,
    ),
    (re.compile(r"database \".*\" does not exist", re.I), DatabaseNotFound),
    (
        re.compile(r"permission denied for database|must have CONNECT privilege", re.I),
        PermissionDenied,
    ),
)


def _first_line_of_server_error(text: str) -> str:
    """``connection failed: connection to server at ... failed: FATAL:  x`` -> ``x``."""
    text = text.strip()
    m = re.search(r"(?:FATAL|ERROR):\s+(.*)", text)
    if m:
        return m.group(1).strip()
    m = re.search(r'connection to server at "([^"]*)", port (\d+) failed: (.*)', text)
    if m:
        return f"cannot connect to {m.group(1)}:{m.group(2)}: {m.group(3).strip()}"
    return text.splitlines()[0] if text else text


def translate_psycopg(exc: psycopg.Error) -> CachemonError:
    """The package error for a psycopg error, keeping the server's message and hint."""
    import psycopg
    from psycopg import errors as pgerrors

    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    message = (primary or str(exc)).strip()
    detail = diag.message_detail if diag is not None else None
    server_hint = diag.message_hint if diag is not None else None
    text = message + (f" ({detail})" if detail else "")
    sqlstate = (diag.sqlstate if diag is not None else None) or ""
    if isinstance(exc, pgerrors.InvalidSchemaName) or (
        isinstance(exc, pgerrors.UndefinedFunction | pgerrors.UndefinedTable)
        and "cachemon" in message
    ):
        return NotInstalled(text)
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return PermissionDenied(text)
    if isinstance(exc, pgerrors.InvalidPassword | pgerrors.InvalidAuthorizationSpecification):
        return AuthenticationFailed(text)
    if isinstance(exc, pgerrors.InvalidCatalogName):
        return DatabaseNotFound(text)
    if isinstance(exc, psycopg.OperationalError) and not isinstance(exc, pgerrors.QueryCanceled):
        line = _first_line_of_server_error(str(exc))
        for pattern, cls in _CONNECT_PATTERNS:
            if pattern.search(line):
                return cls(line)
        return DatabaseUnavailable(line)
    if isinstance(exc, psycopg.ProgrammingError) and "connection info string" in message:
        return bad_url(message)
    if isinstance(exc, pgerrors.UndefinedFunction | pgerrors.UndefinedTable):
        return NotInstalled(text)
    if isinstance(exc, psycopg.DataError | psycopg.IntegrityError | pgerrors.RaiseException) or (
        sqlstate.startswith("22")
    ):
        if "does not exist" in message:
            return NotFound(text, server_hint)
        return InvalidInput(text, server_hint)
    return CachemonError(text, server_hint)


def bad_url(detail: str | None = None) -> BadConfiguration:
    return BadConfiguration(
        "not a PostgreSQL URL" + (f" ({detail})" if detail else ""),
        "use postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
    )


def check_url(url: str) -> str:
    """``url`` when it names a PostgreSQL database, else ``BadConfiguration`` (one place for
    the CLI, the collector and migrations: `not-a-url` and `mysql://...` fail here with a
    sentence, not deep in libpq or SQLAlchemy)."""
    schemes = ("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+psycopg2://")
    if not isinstance(url, str) or not url.strip().startswith(schemes):
        shown = url if isinstance(url, str) and len(url) <= 60 else None
        scheme = shown.split("://", 1)[0] if shown and "://" in shown else None
        return_detail = f"scheme {scheme!r}" if scheme else (repr(shown) if shown else None)
        raise bad_url(return_detail)
    return url.strip()


def translate(exc: BaseException) -> CachemonError:
    """The package error for any exception cachemon may meet (the one mapping place)."""
    import psycopg

    if isinstance(exc, CachemonError):
        return exc
    if isinstance(exc, psycopg.Error):
        return translate_psycopg(exc)
    orig = getattr(exc, "orig", None)  # sqlalchemy.exc.DBAPIError wraps the driver's error
    if isinstance(orig, psycopg.Error):
        return translate_psycopg(orig)
    kind = f"{type(exc).__module__}.{type(exc).__name__}"
    text = str(exc).strip()
    if kind.startswith("alembic.") and "CommandError" in kind:
        if re.search(
            r"Can't locate revision|No such revision|not present|Could not determine", text
        ):
            return NotFound(
                text.rstrip("."),
                "use head, base, a relative step such as -1, or a revision `cachemon db current`"
                " or `cachemon db sql` names",
            )
        return InvalidInput(text)
    if kind.startswith("sqlalchemy.") and type(exc).__name__ in (
        "ArgumentError",
        "NoSuchModuleError",
    ):
        return bad_url(text)
    if type(exc).__name__ == "LocalPostgresError":
        return LocalClusterError(text)
    if isinstance(exc, ValueError):  # cachemon's own argument checks raise ValueError
        return InvalidInput(text)
    return CachemonError(f"{type(exc).__name__}: {text}")


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise errors raised inside the block as package errors."""
    import psycopg

    try:
        yield
    except CachemonError:
        raise
    except psycopg.Error as exc:
        raise translate(exc) from exc
    except Exception as exc:
        mapped = translate(exc)
        if type(mapped) is CachemonError and not isinstance(exc, psycopg.Error):
            raise  # not ours to map: let it surface as what it is
        raise mapped from exc
