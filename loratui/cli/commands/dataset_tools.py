"""`loratui dataset dupes | import | export`: duplicates, safe zip/URL import, kohya/hf/zip export."""

from __future__ import annotations

from pathlib import Path

from loratui.cli.output import info, print_json, print_table, progress_bar, stdout
from loratui.store import Store


def extend(groups: dict) -> None:
    """Add subcommands to the `dataset` group."""
    sub = groups.get("dataset")
    if sub is None:
        return
    dupes = sub.add_parser("dupes", help="exact and near-duplicate images",
                           description="Group exact duplicates (same sha256) and near duplicates (perceptual hash "
                                       "within --max-distance bits). --move moves all but the first of each group "
                                       "to _duplicates/ inside the dataset (undo with `loratui tags NAME undo`).")
    dupes.add_argument("name")
    dupes.add_argument("--max-distance", type=int, default=None, metavar="N",
                       help="Hamming distance for near duplicates (default from settings, 6)")
    dupes.add_argument("--exact", action="store_true", help="exact duplicates only")
    dupes.add_argument("--move", action="store_true", help="move all but the first image of each group to _duplicates/")
    dupes.add_argument("--json", action="store_true")
    dupes.set_defaults(handler=cmd_dupes)

    imp = sub.add_parser("import", help="import a .zip file or an http(s) URL to one as a new dataset",
                         description="Extract a zip safely into a new folder, register it and scan it. Downloads "
                                     "resume when the same command is run again.")
    imp.add_argument("source", help="path to a .zip, or an http(s) URL")
    imp.add_argument("--name", required=True, help="dataset name (also the new folder's name)")
    imp.add_argument("--into", metavar="DIR", help="parent folder for the dataset (default: HOME/datasets)")
    imp.add_argument("--workspace", default=None)
    imp.add_argument("--caption-ext", default=None)
    imp.add_argument("--workers", type=int, default=None)
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(handler=cmd_import)

    exp = sub.add_parser("export", help="export as a kohya folder, a Hugging Face imagefolder, or a zip")
    exp.add_argument("name")
    exp.add_argument("out", help="a new (or empty) folder; a new .zip path for --format zip")
    exp.add_argument("--format", choices=["kohya", "hf", "zip"], default="kohya")
    exp.add_argument("--layout", choices=["kohya", "hf"], default="kohya", help="layout inside a zip")
    exp.add_argument("--max-side", type=int, default=None, metavar="PX", help="downscale images larger than this")
    exp.add_argument("--where", metavar="QUERY", help="only images matching a query")
    exp.add_argument("--json", action="store_true")
    exp.set_defaults(handler=cmd_export)


async def cmd_dupes(ctx, args) -> int:
    from loratui.datasets.dedupe import find_duplicates
    from loratui.datasets.journal import move_images
    from loratui.datasets.service import get_dataset

    distance = args.max_distance if args.max_distance is not None else ctx.settings.dataset_tools.dupe_max_distance
    async with Store.open(ctx.paths.db) as store:
        dataset = await get_dataset(store, args.name)
        groups = await find_duplicates(store, dataset, distance)
        if args.exact:
            groups = [g for g in groups if g.kind == "exact"]
        moved = None
        if args.move:
            victims: list[int] = []
            kept = set()
            for group in groups:
                kept.add(group.images[0].id)
                victims += [i.id for i in group.images[1:] if i.id not in kept]
            moved = await move_images(store, dataset, [v for v in dict.fromkeys(victims) if v not in kept])
    if args.json:
        data = {"dataset": dataset.name, "max_distance": distance, "groups": [g.to_dict() for g in groups]}
        if moved is not None:
            data["moved"] = {"operation_id": moved.operation_id, "files": moved.changed,
                             "skipped": [{"path": p, "reason": r} for p, r in moved.skipped]}
        print_json(data)
        return 0
    if not groups:
        info(f"no duplicates in {dataset.name!r} (near: within {distance} bits)")
    for number, group in enumerate(groups, 1):
        stdout.print(f"group {number} ({group.kind}, {len(group.images)} images)", markup=False)
        print_table(["path", "size", "bytes", "distance"],
                    [[i.rel_path, f"{i.width}x{i.height}", i.size, i.distance] for i in group.images])
    if moved is not None:
        for path, reason in moved.skipped:
            info(f"skipped {path}: {reason}")
        info(f"moved {moved.changed} files to _duplicates/ (operation {moved.operation_id}; "
             f"undo with `loratui tags {dataset.name} undo`)")
    return 0


async def cmd_import(ctx, args) -> int:
    from loratui.cli.commands.dataset import _report_dict
    from loratui.datasets.importers import ImportLimits, import_dataset

    tools = ctx.settings.dataset_tools
    limits = ImportLimits(max_total_bytes=int(tools.import_max_gib * 1024**3), max_files=tools.import_max_files,
                          max_ratio=tools.import_max_ratio)
    root = Path(args.into).expanduser() if args.into else ctx.paths.home / "datasets"
    async with Store.open(ctx.paths.db) as store:
        with progress_bar("Downloading") as update:
            dataset, scan, extracted = await import_dataset(
                store, args.source, args.name, root=root, cache=ctx.paths.cache, limits=limits,
                workspace=args.workspace or ctx.settings.general.default_workspace,
                caption_ext=args.caption_ext or ctx.settings.general.caption_ext,
                workers=args.workers if args.workers is not None else ctx.settings.general.scan_workers,
                progress=update)
    if args.json:
        print_json({"dataset": dataset.name, "path": str(dataset.path), "files": extracted.files,
                    "bytes": extracted.bytes, "stripped_prefix": extracted.stripped_prefix,
                    "scan": _report_dict(scan) if scan else None})
        return 0
    info(f"extracted {extracted.files} files ({extracted.bytes} bytes) into {dataset.path}")
    if scan:
        info(scan.summary())
    info(f"dataset {dataset.name!r} registered")
    return 0


async def cmd_export(ctx, args) -> int:
    from loratui.datasets.export import export_dataset
    from loratui.datasets.service import get_dataset

    async with Store.open(ctx.paths.db) as store:
        dataset = await get_dataset(store, args.name)
        report = await export_dataset(store, dataset, Path(args.out).expanduser(), fmt=args.format,
                                      layout=args.layout, max_side=args.max_side, where=args.where)
    if args.json:
        print_json(vars(report))
    else:
        info(f"exported {report.images} images and {report.captions} captions ({report.resized} downscaled, "
             f"{report.bytes} bytes) to {report.out}")
    return 0
