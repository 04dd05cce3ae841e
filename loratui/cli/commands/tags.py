"""`loratui tags NAME ...`: batch tag operations with dry runs, undo/redo, history and crash recovery."""

from __future__ import annotations

import argparse
import contextlib
import datetime

from loratui.cli.output import info, out, print_json, print_table
from loratui.cli.writing import add_no_wait, waiting
from loratui.datasets import batch, caption_sets, history, writelock
from loratui.datasets.service import get_dataset
from loratui.errors import InputError
from loratui.store import Store

SAMPLE = 5


def _caption_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", metavar="EXT", help="the caption set to work on, e.g. .caption (default: the "
                                                     "dataset's own extension, .txt); see `loratui captions sets`")


def _selection(parser: argparse.ArgumentParser) -> None:
    _caption_set(parser)
    parser.add_argument("--where", metavar="QUERY", help='only images matching a query, e.g. "tag:solo -tag:1girl"')
    parser.add_argument("--subset", metavar="FOLDER", help="only images of one subset folder, e.g. 10_mychar")
    parser.add_argument("--dry-run", action="store_true", help="show how many captions change and a sample; write nothing")
    parser.add_argument("--sample", type=int, default=SAMPLE, help=f"diff lines to show (default {SAMPLE})")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_no_wait(parser)


def _position(value: str) -> str | int:
    if value in ("start", "end"):
        return value
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("start, end or a number of kept tags") from None
    if number < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return number


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `tags` command group."""
    parser.description = ("Batch tag operations over a dataset's captions. Every change is journaled: "
                          "`undo` and `redo` work in order, even after a restart.")
    parser.add_argument("name", help="dataset name")
    sub = parser.add_subparsers(dest="tags_command", metavar="SUBCOMMAND", title="subcommands")

    add = sub.add_parser("add", help="add a tag (trigger word)")
    add.add_argument("tag")
    add.add_argument("--position", type=_position, default="end",
                     help="start, end (default) or N: after the first N tags (sd-scripts keep_tokens)")
    _selection(add)
    add.set_defaults(handler=cmd_operation, spec=lambda a: {"op": "add", "tag": a.tag, "position": a.position})

    remove = sub.add_parser("remove", help="remove tags")
    remove.add_argument("tags", nargs="+", metavar="TAG")
    _selection(remove)
    remove.set_defaults(handler=cmd_operation, spec=lambda a: {"op": "remove", "tags": a.tags})

    replace = sub.add_parser("replace", help="rename a tag, or replace text (plain or regex)")
    replace.add_argument("old")
    replace.add_argument("new")
    replace.add_argument("--regex", action="store_true", help="OLD is a Python regex; NEW may use \\1 groups")
    replace.add_argument("--text", action="store_true", help="replace in the raw caption text, not tag by tag")
    _selection(replace)
    replace.set_defaults(handler=cmd_operation, spec=lambda a: {"op": "replace", "old": a.old, "new": a.new,
                                                                "regex": a.regex, "text": a.text})

    merge = sub.add_parser("merge", help="merge synonyms into one tag")
    merge.add_argument("tags", nargs="+", metavar="TAG")
    merge.add_argument("--into", required=True, metavar="TAG", help="the tag that replaces them")
    _selection(merge)
    merge.set_defaults(handler=cmd_operation, spec=lambda a: {"op": "merge", "tags": a.tags, "into": a.into})

    sort = sub.add_parser("sort", help="sort tags")
    sort.add_argument("--by", choices=["alpha", "frequency"], default="alpha")
    sort.add_argument("--keep", type=int, default=0, metavar="N", help="leave the first N tags in place")
    _selection(sort)
    sort.set_defaults(handler=cmd_operation, spec=lambda a: {"op": "sort", "by": a.by, "keep": a.keep})

    dedupe = sub.add_parser("dedupe", help="remove repeated tags (first kept)")
    _selection(dedupe)
    dedupe.set_defaults(handler=cmd_operation, spec=lambda a: {"op": "dedupe"})

    strip = sub.add_parser("strip", help="trim whitespace and drop empty tags")
    _selection(strip)
    strip.set_defaults(handler=cmd_operation, spec=lambda a: {"op": "strip"})

    lst = sub.add_parser("list", help="tags with their image counts")
    lst.add_argument("--where", metavar="QUERY", help="count only over images matching a query")
    lst.add_argument("--limit", type=int, default=0, help="show the N most common (default all)")
    lst.add_argument("--json", action="store_true")
    _caption_set(lst)
    lst.set_defaults(handler=cmd_list)

    for name, help_text in (("undo", "undo the newest applied operation"),
                            ("redo", "redo the operation undone first")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--force", action="store_true", help="overwrite captions changed outside loratui since")
        p.add_argument("--skip-changed", action="store_true", help="leave those captions alone, do the rest")
        p.add_argument("--json", action="store_true")
        add_no_wait(p)
        p.set_defaults(handler=cmd_undo_redo, action=name)

    hist = sub.add_parser("history", help="the journal of operations, newest first")
    hist.add_argument("--limit", type=int, default=30)
    hist.add_argument("--json", action="store_true")
    hist.set_defaults(handler=cmd_history)

    recover = sub.add_parser("recover", help="finish or roll back an operation interrupted by a crash")
    how = recover.add_mutually_exclusive_group(required=True)
    how.add_argument("--finish", action="store_true", help="write the captions it had not written yet")
    how.add_argument("--rollback", action="store_true", help="restore the captions it had already written")
    recover.add_argument("--operation", type=int, help="only this operation id")
    recover.add_argument("--json", action="store_true")
    add_no_wait(recover)
    recover.set_defaults(handler=cmd_recover)


def _diff_lines(change) -> list[str]:
    removed, added = change.tag_diff()
    if removed or added:
        parts = [f"-{t}" for t in removed] + [f"+{t}" for t in added]
        return [f"{change.rel_path}: {'  '.join(parts)}"]
    if change.before is not None and [t.strip() for t in change.before.split(",")] != [
            t.strip() for t in change.after.split(",")]:
        return [f"{change.rel_path}:", f"  - {change.before}", f"  + {change.after}"]
    return [f"{change.rel_path}: reordered -> {change.after}"]


def _change_dict(change) -> dict:
    removed, added = change.tag_diff()
    return {"path": change.rel_path, "before": change.before, "after": change.after, "removed": removed,
            "added": added}


async def cmd_operation(ctx, args) -> int:
    spec = args.spec(args)
    async with Store.open(ctx.paths.db) as store:
        dataset = await get_dataset(store, args.name)
        caption_set = await caption_sets.known_key(store, dataset, args.set)
        with waiting(args):
            # The lock spans preview and apply: after waiting for another writer, this one builds on its result.
            lock = contextlib.nullcontext() if args.dry_run else writelock.writer(store, dataset, f"tags {spec['op']}")
            async with lock:
                preview = await batch.preview_operation(store, dataset, spec, where=args.where, subset=args.subset,
                                                        caption_set=caption_set)
                sample = preview.sample(max(args.sample, 0))
                if not args.json:
                    _print_preview(preview, sample, args.dry_run)  # before writing: a big apply takes a while
                result = None if args.dry_run else await batch.apply_preview(store, dataset, preview)
    if args.json:
        data = {"dataset": dataset.name, "caption_set": caption_sets.set_ext(dataset, caption_set),
                "operation": spec, "selected": preview.selected,
                "would_change": len(preview.changes), "dry_run": args.dry_run,
                "sample": [_change_dict(c) for c in sample],
                "skipped": [{"path": p, "reason": r} for p, r in preview.skipped]}
        if result is not None:
            data.update({"operation_id": result.operation_id, "changed": result.changed,
                         "skipped": [{"path": p, "reason": r} for p, r in result.skipped]})
        print_json(data)
        return 0
    if result is not None:
        for path, reason in result.skipped:
            info(f"skipped {path}: {reason}")
        if result.operation_id is not None:
            info(f"operation {result.operation_id}: {result.changed} captions written, {len(result.skipped)} "
                 f"skipped (undo with `loratui tags {dataset.name} undo`)")
    return 0


def _print_preview(preview, sample, dry_run: bool) -> None:
    verb = "would change" if dry_run else "changing"
    info(f"{len(preview.changes)} of {preview.selected} selected captions {verb}")
    if dry_run:  # an apply lists them with the other skipped files after writing
        for path, reason in preview.skipped:
            info(f"would skip {path}: {reason}")
    for change in sample:
        for line in _diff_lines(change):
            out(line)
    if len(preview.changes) > len(sample):
        out(f"... and {len(preview.changes) - len(sample)} more")


async def cmd_list(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        dataset = await get_dataset(store, args.name)
        freq = await batch.tag_frequency(store, dataset, args.where,
                                         caption_set=await caption_sets.known_key(store, dataset, args.set))
    ordered = sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))
    if args.limit:
        ordered = ordered[:args.limit]
    if args.json:
        print_json([{"tag": t, "count": n} for t, n in ordered])
    else:
        print_table(["tag", "images"], ordered)
    return 0


def _result_dict(result) -> dict:
    return {"operation_id": result.operation_id, "description": result.description, "changed": result.changed,
            "state": result.state, "conflicts": [{"path": p, "reason": r} for p, r in result.conflicts],
            "failures": [{"path": p, "reason": r} for p, r in result.failures]}


def _report(result, verb: str) -> None:
    for path, reason in result.conflicts:
        info(f"left alone {path}: {reason}")
    for path, reason in result.failures:
        info(f"failed {path}: {reason}")
    info(f"{verb} operation {result.operation_id} ({result.description}): {result.changed} files")


async def cmd_undo_redo(ctx, args) -> int:
    if args.force and args.skip_changed:
        raise InputError("--force and --skip-changed contradict each other")
    async with Store.open(ctx.paths.db) as store:
        dataset = await get_dataset(store, args.name)
        fn = history.undo if args.action == "undo" else history.redo
        with waiting(args):
            result = await fn(store, dataset, force=args.force, skip_changed=args.skip_changed)
    if args.json:
        print_json(_result_dict(result))
    else:
        _report(result, "undid" if args.action == "undo" else "redid")
    return 1 if result.failures else 0


def _when(stamp: float | None) -> str:
    return datetime.datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S") if stamp else ""


async def cmd_history(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        dataset = await get_dataset(store, args.name)
        entries = await history.history(store, dataset, limit=args.limit)
    if args.json:
        print_json(entries)
    elif not entries:
        info(f"no operations yet in {dataset.name!r}")
    else:
        print_table(["id", "when", "operation", "state", "files", "skipped"],
                    [[e["id"], _when(e["created_at"]), e["description"] or e["kind"],
                      e["state"] + (" (redoable)" if e["redoable"] else ""), e["files"], e["skipped"]]
                     for e in entries])
    return 0


async def cmd_recover(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        dataset = await get_dataset(store, args.name)
        with waiting(args):
            results = await history.recover(store, dataset, finish=args.finish, operation_id=args.operation)
    if args.json:
        print_json([_result_dict(r) for r in results])
    elif not results:
        info(f"nothing to recover in {dataset.name!r}")
    for result in results if not args.json else []:
        _report(result, "finished" if args.finish else "rolled back")
    return 0
