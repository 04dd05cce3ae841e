"""`loratui doctor`: what this machine can do (GPUs, onnxruntime, trainers, accelerate, disk, Hugging Face)."""

from __future__ import annotations

import argparse

from loratui.cli.output import print_json, print_table
from loratui.training.doctor import run_checks

_MARKS = {"ok": "ok", "warn": "WARN", "fail": "FAIL", "info": "info"}


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `doctor` command."""
    parser.description = ("Check what this machine can do for tagging and training; every finding comes with a "
                          "hint on how to fix it.")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-trainers", action="store_true", help="skip importing the trainers (slow on CPU)")
    parser.set_defaults(handler=cmd_doctor)


def cmd_doctor(ctx, args) -> int:
    findings = run_checks(ctx, trainers=not args.no_trainers)
    if args.json:
        print_json([f.to_dict() for f in findings])
        return 0
    print_table(["check", "status", "found", "fix"],
                [[f.name, _MARKS.get(f.status, f.status), f.detail, f.hint] for f in findings])
    return 0
