"""`loratui dataset ...`: register, scan and inspect datasets."""

from __future__ import annotations

import argparse

from loratui.cli.output import info, print_json, print_table, progress_bar, stdout
from loratui.datasets import service
from loratui.store import Store


def register(subparsers: argparse._SubParsersAction) -> dict:
    """Add the `dataset` command group."""
    parser = subparsers.add_parser("dataset", help="register, scan and inspect datasets",
                                   description="Register, scan and inspect datasets.")
    sub = parser.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND", title="subcommands")

    add = sub.add_parser("add", help="register a folder as a dataset and scan it",
                         description="Register a folder (kohya `N_concept` subfolders or plain images) and index it.")
    add.add_argument("path", help="dataset folder")
    add.add_argument("--name", help="dataset name (default: the folder name)")
    add.add_argument("--workspace", default=None, help="workspace to put it in (default: settings' default)")
    add.add_argument("--caption-ext", default=None, help="caption sidecar extension (default: .txt)")
    add.add_argument("--no-scan", action="store_true", help="register only; scan later")
    add.add_argument("--workers", type=int, default=None, help="scan processes (default: one per core)")
    add.add_argument("--json", action="store_true", help="print the scan report as JSON")
    add.set_defaults(handler=cmd_add)

    scan = sub.add_parser("scan", help="rescan a dataset (only changed files, and images without a preview "
                                       "thumbnail, are re-read)")
    scan.add_argument("name")
    scan.add_argument("--workers", type=int, default=None, help="scan processes (default: one per core)")
    scan.add_argument("--json", action="store_true", help="print the scan report as JSON")
    scan.set_defaults(handler=cmd_scan)

    lst = sub.add_parser("list", help="list datasets")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_list)

    show = sub.add_parser("show", help="counts, subsets, resolutions, buckets and top tags of a dataset")
    show.add_argument("name")
    show.add_argument("--top", type=int, default=30, help="how many top tags (default 30)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_show)

    images = sub.add_parser("images", help="list every image of a dataset with its status")
    images.add_argument("name")
    images.add_argument("--broken", action="store_true", help="only broken images")
    images.add_argument("--json", action="store_true")
    images.set_defaults(handler=cmd_images)

    remove = sub.add_parser("remove", help="forget a dataset (files on disk are left alone)")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_remove)
    return {"dataset": sub}


def _report_dict(report) -> dict:
    return {
        "total": report.total, "added": report.added, "updated": report.updated, "removed": report.removed,
        "unchanged": report.unchanged, "broken": report.broken, "captions_changed": report.captions_changed,
        "thumbnails_made": report.thumbnails_made, "warnings": report.warnings, "elapsed_s": round(report.elapsed_s, 3),
    }


def _print_report(report, as_json: bool) -> None:
    if as_json:
        print_json(_report_dict(report))
        return
    for warning in report.warnings:
        info(f"warning: {warning}")
    info(report.summary())


def _workers(ctx, args) -> int:
    return args.workers if args.workers is not None else ctx.settings.general.scan_workers


async def cmd_add(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        with progress_bar("Scanning") as update:
            dataset, report = await service.add_dataset(
                store, args.path, name=args.name,
                workspace=args.workspace or ctx.settings.general.default_workspace,
                caption_ext=args.caption_ext or ctx.settings.general.caption_ext,
                scan=not args.no_scan, workers=_workers(ctx, args), progress=update,
            )
    if report is not None:
        _print_report(report, args.json)
    if not args.json:
        info(f"dataset {dataset.name!r} registered: {dataset.path}")
    return 0


async def cmd_scan(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        with progress_bar("Scanning") as update:
            report = await service.rescan_dataset(store, args.name, workers=_workers(ctx, args), progress=update)
    _print_report(report, args.json)
    return 0


async def cmd_list(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        datasets = await service.list_datasets(store)
    if args.json:
        print_json(datasets)
    elif not datasets:
        info("no datasets yet: add one with `loratui dataset add PATH`")
    else:
        print_table(["workspace", "name", "images", "broken", "captioned", "path"],
                    [[d["workspace"], d["name"], d["images"], d["broken"], d["captioned"], d["path"]]
                     for d in datasets])
    return 0


async def cmd_show(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        stats = await service.dataset_stats(store, args.name, top=args.top)
    if args.json:
        print_json(stats)
        return 0
    stdout.print(f"[bold]{_esc(stats['name'])}[/]  {_esc(stats['path'])}")
    stdout.print(f"images {stats['images']}  broken {stats['broken']}  captioned {stats['captioned']}  "
                 f"uncaptioned {stats['uncaptioned']}  caption warnings {stats['caption_warnings']}")
    print_table(["subset", "repeats", "class tokens", "reg", "images"],
                [[s["path"] or ".", s["repeats"], s["class_tokens"], "yes" if s["is_reg"] else "", s["images"]]
                 for s in stats["subsets"]], title="Subsets")
    print_table(["bucket (1024 base)", "images"], list(stats["buckets"].items()), title="Buckets")
    print_table(["resolution", "images"], list(stats["resolutions"].items())[:15], title="Resolutions (top 15)")
    print_table(["tag", "count"], [[t["tag"], t["count"]] for t in stats["top_tags"]], title="Top tags")
    return 0


async def cmd_images(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        images = await service.list_images(store, args.name)
    if args.broken:
        images = [i for i in images if i["status"] == "broken"]
    if args.json:
        print_json(images)
    else:
        print_table(["path", "status", "size", "format", "caption", "reason"],
                    [[i["path"], i["status"], f"{i['width']}x{i['height']}" if i["width"] else "",
                      i["format"], "yes" if i["has_caption"] else "no", i["reason"]] for i in images])
    return 0


async def cmd_remove(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        await service.remove_dataset(store, args.name)
    info(f"dataset {args.name!r} removed from the index (files untouched)")
    return 0


def _esc(text: str) -> str:
    from rich.markup import escape

    return escape(text)
