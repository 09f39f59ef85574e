"""``python -m orchestrator.migrations``: freeze function files into a revision, print a
revision as a diff, write the squash point's full install script, and make or verify the
revisions' manifests (alembic/README.md)."""

from __future__ import annotations

import argparse
import sys

from orchestrator import dbversions, manifest, migrations
from orchestrator.paths import alembic_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    snap = sub.add_parser("snapshot", help="freeze changed sql/functions files into a revision")
    snap.add_argument("revision", help="revision folder name or its numeric prefix, e.g. 0002")
    sub.add_parser("stale", help="list function files not frozen in any revision yet")
    man = sub.add_parser(
        "manifest",
        help="(re)write revisions' manifest.json (file hashes and installed-function hashes)",
    )
    which = man.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every revision")
    which.add_argument("revision", nargs="?", help="revision folder name or numeric prefix")
    man.add_argument(
        "--database-url",
        default=None,
        help="a server where this role may create databases (default: a throwaway local cluster)",
    )
    sub.add_parser("verify", help="check every revision's SQL files against its manifest")
    diff = sub.add_parser(
        "diff", help="print a revision's files as a diff of their previous copies"
    )
    diff.add_argument("revision", help="revision folder name or its numeric prefix, e.g. 0013")
    sub.add_parser("baseline", help="write alembic/baseline/<head>.sql from the current sql/")
    args = parser.parse_args(argv)
    if args.command == "manifest":
        names = None
        if not args.all:
            names = [
                f.name for f in migrations.revision_folders() if f.name.startswith(args.revision)
            ]
            if len(names) != 1:
                raise SystemExit(f"no single revision folder matches {args.revision!r}")
        for path in dbversions.generate_manifests(names, args.database_url):
            print(f"wrote {path.relative_to(path.parents[3])}")
        return 0
    if args.command == "verify":
        problems = manifest.frozen_file_mismatches()
        for line in problems:
            print(line)
        return 1 if problems else 0
    if args.command == "diff":
        sys.stdout.write(migrations.revision_diff(args.revision))
        return 0
    if args.command == "baseline":
        print(f"wrote {migrations.write_baseline().relative_to(alembic_dir().parent)}")
        return 0
    if args.command == "snapshot":
        for name in migrations.snapshot(args.revision):
            print(f"froze {name}")
        return 0
    stale = migrations.stale_functions()
    for name in stale:
        print(name)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
