"""`loratui doctor`: what this machine can do (GPUs, onnxruntime, trainers, accelerate, disk, Hugging Face) and
whether the database is healthy; `doctor --repair` repairs a damaged database (see loratui.store.repair)."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

from loratui.cli.output import info, out, print_json, print_table
from loratui.errors import InputError, LoratuiError, NotFoundError
from loratui.store import backup, repair
from loratui.training.doctor import run_checks

_MARKS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "info": "info"}
_NEWEST = "newest"


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `doctor` command."""
    parser.description = ("Check what this machine can do for tagging and training, and whether loratui's "
                          "database is healthy; every finding comes with a hint on how to fix it. With --repair, "
                          "repair a damaged database (stop other loratui processes first).")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-trainers", action="store_true", help="skip importing the trainers (slow on CPU)")
    parser.add_argument("--repair", action="store_true",
                        help="check the database thoroughly; if it is damaged, keep a copy in backups/ and rebuild it "
                             "from the rows that can still be read (says what was lost)")
    parser.add_argument("--from-backup", nargs="?", const=_NEWEST, metavar="PATH",
                        help="with --repair: restore a backup instead (default: the newest in backups/); changes "
                             "made after it was taken are lost")
    parser.add_argument("--force", action="store_true", help="with --repair: rebuild even a healthy database")
    parser.set_defaults(handler=cmd_doctor)


def cmd_doctor(ctx, args) -> int:
    if args.repair:
        return cmd_repair(ctx, args)
    if args.from_backup or args.force:
        raise InputError("--from-backup and --force go with --repair")
    findings = run_checks(ctx, trainers=not args.no_trainers)
    if args.json:
        print_json([f.to_dict() for f in findings])
        return 0
    print_table(["check", "status", "found", "fix"],
                [[f.name, _MARKS.get(f.status, f.status), f.detail, f.hint] for f in findings])
    return 0


def cmd_repair(ctx, args) -> int:
    """`doctor --repair`: check the database and repair or restore it."""
    db = ctx.paths.db
    source = None
    if args.from_backup == _NEWEST:
        newest = backup.newest_backup(db)
        if newest is None:
            raise NotFoundError(f"there is no backup in {backup.backup_folder(db)}",
                                hint="run `loratui doctor --repair` without --from-backup to rebuild from what can "
                                     "be read")
        source = newest.path
    elif args.from_backup:
        source = Path(args.from_backup).expanduser()
    if not args.json:
        info(f"checking {db} (other loratui processes must not use it meanwhile)")
    try:
        report = repair.repair(db, from_backup=source, force=args.force)
    except LoratuiError:
        raise
    except (OSError, sqlite3.Error) as exc:
        raise repair.repair_error(exc, db) from exc
    if args.json:
        print_json({"action": report.action, "problems": report.problems,
                    "damaged_copy": str(report.damaged_copy) if report.damaged_copy else None,
                    "restored_from": str(report.restored_from) if report.restored_from else None,
                    "tables": [{"name": t.name, "recovered": t.recovered, "lost": t.lost} for t in report.tables],
                    "losses": report.losses()})
        return 0
    for line in repair.describe(report):
        out(line)
    return 0
