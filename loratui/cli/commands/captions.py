"""`loratui captions ...`: a dataset's caption sets (`.txt`, `.caption`, ...): list, add, copy one into another."""

from __future__ import annotations

import argparse
import contextlib

from loratui.cli.output import info, out, print_json, print_table
from loratui.cli.writing import add_no_wait, waiting
from loratui.datasets import batch, caption_sets, writelock
from loratui.datasets.journal import refresh_index
from loratui.datasets.service import get_dataset
from loratui.store import Store

SAMPLE = 5


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `captions` command group."""
    parser.description = (
        "Caption sets: several captions per image, one per sidecar extension (booru tags in .txt, natural "
        "language in .caption, ...). The dataset's own extension is its primary set; a scan finds the others "
        "next to the images. Tag operations take --set, training takes the set as its caption_extension.")
    sub = parser.add_subparsers(dest="captions_command", metavar="SUBCOMMAND", title="subcommands")

    sets = sub.add_parser("sets", help="list a dataset's caption sets with their counts; --add adds one")
    sets.add_argument("name", help="dataset name")
    sets.add_argument("--add", metavar="EXT", help="add a caption set, e.g. .caption (its sidecars are indexed now)")
    sets.add_argument("--json", action="store_true", help="print the sets as JSON")
    add_no_wait(sets)
    sets.set_defaults(handler=cmd_sets)

    copy = sub.add_parser("copy", help="copy one caption set into another (journaled: `loratui tags NAME undo`)")
    copy.add_argument("name", help="dataset name")
    copy.add_argument("--from", dest="source", required=True, metavar="EXT", help="the set to copy, e.g. .txt")
    copy.add_argument("--to", dest="target", required=True, metavar="EXT",
                      help="the set to write, e.g. .caption (added to the dataset if it is not one of its sets)")
    copy.add_argument("--overwrite", action="store_true",
                      help="replace captions the target set already has (default: leave them)")
    copy.add_argument("--where", metavar="QUERY", help="only images matching a query (over the --from set)")
    copy.add_argument("--subset", metavar="FOLDER", help="only images of one subset folder")
    copy.add_argument("--dry-run", action="store_true", help="show how many captions would be written; write nothing")
    copy.add_argument("--json", action="store_true", help="print the result as JSON")
    add_no_wait(copy)
    copy.set_defaults(handler=cmd_copy)


async def cmd_sets(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        dataset = await get_dataset(store, args.name)
        if args.add:
            ext, new = await caption_sets.add_set(store, dataset, args.add)
            if new:
                with waiting(args):
                    await refresh_index(store, dataset)
            if not args.json:
                info(f"caption set {ext} {'added' if new else 'already there'}")
        found = await caption_sets.list_sets(store, dataset)
    if args.json:
        print_json({"dataset": dataset.name, "sets": [s.to_dict() for s in found]})
        return 0
    print_table(["set", "source", "files", "captioned", "missing", "warnings"],
                [[s.ext, s.source, s.files, s.captioned, s.missing, s.warnings] for s in found])
    return 0


async def cmd_copy(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        dataset = await get_dataset(store, args.name)
        source = await caption_sets.known_key(store, dataset, args.source)
        target = caption_sets.set_key(dataset, args.target)
        with waiting(args):
            if target is not None and not args.dry_run:
                _, new = await caption_sets.add_set(store, dataset, target)
                if new:  # sidecars of the new set already there must be indexed before they are compared
                    await refresh_index(store, dataset)
            lock = contextlib.nullcontext() if args.dry_run else writelock.writer(store, dataset, "copy captions")
            async with lock:
                preview = await batch.preview_copy(store, dataset, source, target, overwrite=args.overwrite,
                                                   where=args.where, subset=args.subset)
                result = None if args.dry_run else await batch.apply_preview(store, dataset, preview)
    label = batch.describe_copy(preview.spec, dataset.caption_ext)
    if args.json:
        data = {"dataset": dataset.name, "from": caption_sets.set_ext(dataset, source),
                "to": caption_sets.set_ext(dataset, target), "selected": preview.selected,
                "would_change": len(preview.changes), "dry_run": args.dry_run,
                "skipped": [{"path": p, "reason": r} for p, r in preview.skipped]}
        if result is not None:
            data.update({"operation_id": result.operation_id, "changed": result.changed,
                         "skipped": [{"path": p, "reason": r} for p, r in result.skipped]})
        print_json(data)
        return 0
    info(f"{label}: {len(preview.changes)} of {preview.selected} selected captions "
         f"{'would be written' if args.dry_run else 'to write'}")
    for change in preview.sample(SAMPLE):
        out(f"{change.rel_path}: {change.after}")
    if result is None:
        for path, reason in preview.skipped:
            info(f"would skip {path}: {reason}")
        return 0
    for path, reason in result.skipped:
        info(f"skipped {path}: {reason}")
    if result.operation_id is not None:
        info(f"operation {result.operation_id}: {result.changed} captions written, {len(result.skipped)} skipped "
             f"(undo with `loratui tags {dataset.name} undo`)")
    return 0
