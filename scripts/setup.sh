#!/usr/bin/env bash
# Prepare a fresh Debian machine for cachemon: a virtual environment in .venv with the package
# (editable) and its test tools, and pg_cron for PostgreSQL 15 when it is missing and we are
# root. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.cachemon-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[test]'
    touch "$stamp"
fi

# pg_cron: the tests and the scheduler use it where it exists.
pg_bindir=$( (pg_config --bindir 2>/dev/null) || ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -n "$pg_bindir" ]; then
    pg_major=$(basename "$(dirname "$pg_bindir")")
    libdir=$("$pg_bindir/pg_config" --pkglibdir 2>/dev/null || echo "/usr/lib/postgresql/$pg_major/lib")
    if [ ! -f "$libdir/pg_cron.so" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            echo "installing postgresql-$pg_major-cron" >&2
            export DEBIAN_FRONTEND=noninteractive
            apt-get install -y -q "postgresql-$pg_major-cron" >/dev/null 2>&1 \
                || { apt-get update -q >/dev/null && apt-get install -y -q "postgresql-$pg_major-cron" >/dev/null; }
        else
            echo "note: pg_cron is not installed and we are not root; pg_cron tests will be skipped" >&2
        fi
    fi
else
    echo "warning: no PostgreSQL server binaries found; install postgresql-15" >&2
fi

# chromium: the dashboard's browser tests drive Debian's chromium through Playwright
# (executable_path=/usr/bin/chromium; Playwright's own browser download is never used).
if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing chromium" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q chromium >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
    else
        echo "note: chromium is not installed and we are not root; browser tests will be skipped" >&2
    fi
fi

# prometheus-alertmanager: the alert-delivery tests start Debian's Alertmanager on 127.0.0.1
# and deliver cachemon's findings to it through its API v2.
if ! command -v prometheus-alertmanager >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing prometheus-alertmanager" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q prometheus-alertmanager >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q prometheus-alertmanager >/dev/null; }
    else
        echo "note: prometheus-alertmanager is not installed and we are not root; its test will be skipped" >&2
    fi
fi
