"""A PostgreSQL cluster that cachemon starts itself, for the demo, for development and for tests.

Layout of a cluster folder (``root``)::

    root/state.json   port and password of the cluster (mode 0600)
    root/data/        the data directory (initdb)
    root/run/         the Unix socket
    root/server.log   the server's log

PostgreSQL refuses to run as root. When this code runs as root it creates (once) an
unprivileged system user, ``cachemon`` by default, hands it the folder and starts the server
as that user; the client side still runs as root.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from orchestrator.errors import LocalClusterError

SERVICE_USER = os.environ.get("CACHEMON_PG_USER", "cachemon")
SUPERUSER = "postgres"
DEFAULT_DATABASE = "cachemon"
DEMO_DATABASE = "cachemon_demo"
# The comment `cachemon demo` puts on a database it may write to (see orchestrator/demo.py).
DEMO_MARKER = "cachemon demo database"


class LocalPostgresError(LocalClusterError, RuntimeError):
    """The local cluster could not be found, created, started or stopped."""


def default_root() -> Path:
    """Where ``cachemon local`` keeps its cluster unless ``CACHEMON_LOCAL_DIR`` says otherwise.

    The user's data directory (``$XDG_DATA_HOME`` or ``~/.local/share``); for root, whose home
    the unprivileged server user cannot enter, ``/var/lib/cachemon``.
    """
    explicit = os.environ.get("CACHEMON_LOCAL_DIR")
    if explicit:
        return Path(explicit).expanduser()
    if os.geteuid() == 0:
        return Path("/var/lib/cachemon/local")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cachemon" / "local"


def find_bindir() -> Path:
    """Find the PostgreSQL server binaries.

    Looks at ``CACHEMON_PG_BINDIR``, then ``initdb`` on ``PATH``, then ``pg_config --bindir``,
    then Debian's versioned folders (``/usr/lib/postgresql/<major>/bin``, newest first).
    """
    candidates: list[Path] = []
    explicit = os.environ.get("CACHEMON_PG_BINDIR")
    if explicit:
        candidates.append(Path(explicit))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if p.name.split(".")[0].isdigit()),
            key=lambda p: [int(x) for x in p.name.split(".") if x.isdigit()],
            reverse=True,
        )
        candidates.extend(v / "bin" for v in versions)
    for cand in candidates:
        if (cand / "initdb").is_file() and (cand / "pg_ctl").is_file():
            return cand
    raise LocalPostgresError(
        "no PostgreSQL server binaries found (looked at CACHEMON_PG_BINDIR, PATH, "
        "pg_config --bindir and /usr/lib/postgresql/*/bin); install postgresql-15"
    )


def pkglibdir(bindir: Path) -> Path:
    """The folder holding the server's loadable modules (``pg_config --pkglibdir``)."""
    pg_config = bindir / "pg_config"
    if pg_config.is_file():
        out = subprocess.run(
            [str(pg_config), "--pkglibdir"], capture_output=True, text=True, check=False
        )
        if out.returncode == 0 and out.stdout.strip():
            return Path(out.stdout.strip())
    return bindir.parent / "lib"


def has_pg_cron(bindir: Path) -> bool:
    """Whether the pg_cron library is installed for this server."""
    return (pkglibdir(bindir) / "pg_cron.so").is_file()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now. With SO_REUSEADDR, as PostgreSQL itself
    binds: connections of a stopped server in TIME_WAIT (for about 60 s) do not count."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _service_account() -> pwd.struct_passwd | None:
    """The account the server runs as: ``None`` means "the current user"."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    proc = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode not in (0, 9):  # 9: the user exists (created concurrently)
        raise LocalPostgresError(
            f"cannot create system user {SERVICE_USER!r}: {proc.stderr.strip()}"
        )
    return pwd.getpwnam(SERVICE_USER)


@dataclass(frozen=True)
class LocalCluster:
    """A cluster folder and how to reach the server that runs from it."""

    root: Path
    port: int
    password: str
    bindir: Path
    pg_cron: bool
    cron_database: str

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = DEFAULT_DATABASE) -> str:
        """A ``postgresql://`` URL for the superuser over TCP on 127.0.0.1."""
        return (
            f"postgresql://{SUPERUSER}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}/{quote(dbname, safe='')}"
        )

    def is_running(self) -> bool:
        proc = self._run_as_server(
            [str(self.bindir / "pg_ctl"), "status", "-D", str(self.data_dir)]
        )
        return proc.returncode == 0

    def _run_as_server(
        self, args: Sequence[str], *, check: bool = False, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return _run_as_server(args, cwd=self.root, check=check, timeout=timeout)


def _run_as_server(
    args: Sequence[str], *, cwd: Path, check: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    account = _service_account()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None
    if account is not None:
        env["HOME"] = str(cwd)
        env["USER"] = env["LOGNAME"] = account.pw_name
        user, group, extra_groups = account.pw_uid, account.pw_gid, []
    proc = subprocess.run(
        list(args),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        user=user,
        group=group,
        extra_groups=extra_groups,
    )
    if check and proc.returncode != 0:
        detail = proc.stderr.strip() or proc.stdout.strip()
        raise LocalPostgresError(f"{Path(args[0]).name} failed ({proc.returncode}): {detail}")
    return proc


def _state_file(root: Path) -> Path:
    return root / "state.json"


def load(root: Path) -> LocalCluster | None:
    """The cluster initialised in ``root``, or ``None`` when there is none."""
    state = _state_file(root)
    if not state.is_file() or not (root / "data" / "PG_VERSION").is_file():
        return None
    data = json.loads(state.read_text())
    bindir = Path(data["bindir"])
    if not (bindir / "pg_ctl").is_file():
        bindir = find_bindir()
    return LocalCluster(
        root=root,
        port=int(data["port"]),
        password=data["password"],
        bindir=bindir,
        pg_cron=bool(data.get("pg_cron", False)),
        cron_database=data.get("cron_database", DEFAULT_DATABASE),
    )


def _chown_tree(path: Path, account: pwd.struct_passwd) -> None:
    os.chown(path, account.pw_uid, account.pw_gid)
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            os.chown(
                os.path.join(dirpath, name), account.pw_uid, account.pw_gid, follow_symlinks=False
            )


def init(
    root: Path,
    *,
    cron_database: str = DEFAULT_DATABASE,
    fast: bool = False,
    settings: dict[str, str] | None = None,
) -> LocalCluster:
    """Create a cluster in ``root`` (idempotent: an existing one is returned as it is).

    ``fast`` trades durability for speed (``initdb --nosync``, ``fsync=off``): for tests.
    pg_cron is preloaded when its library is installed, with ``cron.database_name`` set to
    ``cron_database``.
    """
    existing = load(root)
    if existing is not None:
        return existing
    bindir = find_bindir()
    account = _service_account()
    root.mkdir(parents=True, exist_ok=True)
    data_dir, run_dir = root / "data", root / "run"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    run_dir.mkdir(exist_ok=True)
    password = secrets.token_urlsafe(18)
    pwfile = root / ".pwfile"
    pwfile.write_text(password + "\n")
    os.chmod(root, 0o700)
    if account is not None:
        _chown_tree(root, account)
    args = [
        str(bindir / "initdb"),
        "-D",
        str(data_dir),
        "-U",
        SUPERUSER,
        f"--pwfile={pwfile}",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=UTF8",
        "--no-locale",
    ]
    if fast:
        args.append("--nosync")
    try:
        _run_as_server(args, cwd=root, check=True, timeout=300)
    finally:
        pwfile.unlink(missing_ok=True)
    pg_cron = has_pg_cron(bindir)
    port = free_port()
    conf: dict[str, str] = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(port),
        "unix_socket_directories": f"'{run_dir}'",
        "unix_socket_permissions": "0700",
        "password_encryption": "'scram-sha-256'",
        "max_connections": "200",
        "shared_buffers": "256MB",
        "timezone": "'UTC'",
        "log_timezone": "'UTC'",
    }
    if pg_cron:
        conf["shared_preload_libraries"] = "'pg_cron'"
        conf["cron.database_name"] = f"'{cron_database}'"
        conf["cron.use_background_workers"] = "on"
        conf["max_worker_processes"] = "32"
    if fast:
        conf.update({"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"})
    conf.update(settings or {})
    with open(data_dir / "postgresql.auto.conf", "a") as fh:
        fh.write("# written by cachemon local\n")
        for key, value in conf.items():
            fh.write(f"{key} = {value}\n")
    cluster = LocalCluster(root, port, password, bindir, pg_cron, cron_database)
    state = _state_file(root)
    state.write_text(
        json.dumps(
            {
                "port": port,
                "password": password,
                "bindir": str(bindir),
                "pg_cron": pg_cron,
                "cron_database": cron_database,
            },
            indent=2,
        )
    )
    os.chmod(state, 0o600)
    return cluster


def start(root: Path, **init_options: object) -> LocalCluster:
    """Initialise ``root`` if needed, start its server and make sure the default database exists."""
    cluster = init(root, **init_options)  # type: ignore[arg-type]
    if cluster.is_running():
        return cluster
    if not _port_is_free(cluster.port):
        raise LocalPostgresError(
            f"port {cluster.port} of the cluster in {root} is taken by another process"
        )
    proc = cluster._run_as_server(
        [
            str(cluster.bindir / "pg_ctl"),
            "start",
            "-D",
            str(cluster.data_dir),
            "-l",
            str(cluster.log_file),
            "-w",
            "-t",
            "120",
        ],
        timeout=180,
    )
    if proc.returncode != 0:
        tail = ""
        if cluster.log_file.is_file():
            tail = "\n".join(cluster.log_file.read_text(errors="replace").splitlines()[-15:])
        raise LocalPostgresError(f"pg_ctl start failed: {proc.stderr.strip()}\n{tail}")
    _ensure_database(cluster, DEFAULT_DATABASE)
    if cluster.cron_database != DEFAULT_DATABASE:
        _ensure_database(cluster, cluster.cron_database)
    if cluster.pg_cron:
        # So that `cachemon db upgrade` of that database registers the jobs right away.
        _execute(cluster, cluster.cron_database, "CREATE EXTENSION IF NOT EXISTS pg_cron")
    return cluster


def _connect(cluster: LocalCluster, dbname: str) -> psycopg.Connection[Any]:
    """An autocommit connection, retried for a few seconds while the server comes up."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return psycopg.connect(cluster.url(dbname), autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _execute(cluster: LocalCluster, dbname: str, statement: str | sql.Composed) -> None:
    with _connect(cluster, dbname) as conn:
        conn.execute(statement)


def _ensure_database(cluster: LocalCluster, name: str) -> None:
    with _connect(cluster, "postgres") as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def stop(root: Path, mode: str = "fast") -> bool:
    """Stop the server of ``root``; returns whether one was running."""
    cluster = load(root)
    if cluster is None or not cluster.is_running():
        return False
    cluster._run_as_server(
        [str(cluster.bindir / "pg_ctl"), "stop", "-D", str(cluster.data_dir), "-m", mode, "-w"],
        check=True,
    )
    return True


def destroy(root: Path) -> None:
    """Stop the server of ``root`` if it runs and delete the folder."""
    stop(root, mode="immediate")
    shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class DatabaseInfo:
    """One database of the local cluster, as ``cachemon local status`` shows it."""

    name: str
    url: str
    size_bytes: int
    cachemon_revision: str | None  # None: schema not installed
    demo: bool  # holds the demo's marker (orchestrator.demo)


@dataclass(frozen=True)
class ClusterStatus:
    """What ``cachemon local status`` reports."""

    root: str
    exists: bool
    running: bool
    port: int | None
    pg_cron: bool
    folder_bytes: int
    databases: list[DatabaseInfo]


def folder_size(root: Path) -> int:
    total = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def status(root: Path) -> ClusterStatus:
    """The cluster of ``root``: whether it runs, and its databases (cachemon's and the demo's)."""
    cluster = load(root)
    if cluster is None:
        return ClusterStatus(str(root), False, False, None, False, 0, [])
    running = cluster.is_running()
    databases: list[DatabaseInfo] = []
    if running:
        with _connect(cluster, "postgres") as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT datname FROM pg_catalog.pg_database"
                    " WHERE NOT datistemplate AND datname <> 'postgres' ORDER BY datname"
                )
            ]
        for name in names:
            with _connect(cluster, name) as conn:
                row = conn.execute(
                    "SELECT pg_catalog.pg_database_size(current_database()),"
                    " pg_catalog.to_regclass('cachemon.alembic_version') IS NOT NULL,"
                    " coalesce(pg_catalog.shobj_description(d.oid, 'pg_database'), '') LIKE %s"
                    " FROM pg_catalog.pg_database AS d WHERE d.datname = current_database()",
                    (DEMO_MARKER + "%",),
                ).fetchone()
                assert row is not None
                revision = None
                if row[1]:
                    found = conn.execute(
                        "SELECT string_agg(version_num, ', ') FROM cachemon.alembic_version"
                    ).fetchone()
                    revision = found[0] if found else None
                databases.append(
                    DatabaseInfo(name, cluster.url(name), int(row[0]), revision, bool(row[2]))
                )
    return ClusterStatus(
        str(root), True, running, cluster.port, cluster.pg_cron, folder_size(root), databases
    )
