"""Every CLI option can come from a CACHEMON_* variable shown in --help, except the few the
docs/reference.md names with the reason; and its table lists every variable."""

from __future__ import annotations

import re
from pathlib import Path

import click

from orchestrator.cli import main

# (command, option): why it has no environment variable (docs/reference.md, "Environment
# variables").
NO_ENVVAR = {
    ("demo", "--database-url"): "the demo must never pick up the URL of your real database",
    ("db downgrade", "--yes"): "a destructive step is confirmed on its own command line",
    ("local destroy", "--yes"): "a destructive step is confirmed on its own command line",
    ("", "--version"): "prints and exits",
}


def _options(group: click.Group, prefix: str = "") -> list[tuple[str, click.Option]]:
    found: list[tuple[str, click.Option]] = (
        [(prefix, p) for p in group.params if isinstance(p, click.Option)] if not prefix else []
    )
    for name, cmd in group.commands.items():
        path = f"{prefix} {name}".strip()
        found += [(path, p) for p in cmd.params if isinstance(p, click.Option)]
        if isinstance(cmd, click.Group):
            found += _options(cmd, path)
    return found


def test_every_option_has_a_cachemon_variable_shown_in_help() -> None:
    missing = []
    for path, option in _options(main):
        name = max(option.opts, key=len)
        if (path, name) in NO_ENVVAR or name == "--help":
            continue
        envvar = option.envvar if isinstance(option.envvar, str) else None
        if not (envvar and envvar.startswith("CACHEMON_") and option.show_envvar):
            missing.append(f"{path} {name}")
    assert missing == []


def test_reference_lists_every_variable() -> None:
    reference = Path(__file__).resolve().parents[1].joinpath("docs/reference.md").read_text()
    table = reference.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`((?:CACHEMON|CACHE_METRICS)_[A-Z_]+)`", table))
    used = {o.envvar for _, o in _options(main) if isinstance(o.envvar, str)} | {"DATABASE_URL"}
    source = "\n".join(
        p.read_text()
        for p in Path(__file__).resolve().parents[1].joinpath("orchestrator").rglob("*.py")
    )
    used |= set(re.findall(r'"((?:CACHEMON|CACHE_METRICS)_[A-Z_]+)"', source))
    used.discard("DATABASE_URL")
    assert used - listed == set(), "variables missing from the table in docs/reference.md"
    for (path, option), why in NO_ENVVAR.items():
        if path:
            assert f"{path} {option}" in table, (path, option, why)
