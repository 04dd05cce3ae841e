"""`loratui dataset ...`: register, scan and inspect datasets; duplicates, safe zip/URL import and export."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from loratui.cli.output import info, out, print_json, print_table, progress_bar
from loratui.cli.writing import add_no_wait, waiting
from loratui.datasets import caption_sets, pair_service, service, video_service
from loratui.datasets.export import export_dataset
from loratui.datasets.importers import ImportLimits, import_dataset, list_downloads, remove_downloads
from loratui.datasets.journal import move_images
from loratui.datasets.target import describe as describe_target
from loratui.errors import InputError
from loratui.http_download import human_bytes
from loratui.store import Store
from loratui.training.dataset_target import known_families, parse_target
from loratui.training.video_dataset import diffusion_pipe_clip_settings, musubi_clip_settings, video_architecture

TARGET_HELP = ("the model family and base resolution the dataset is prepared for, FAMILY[:RES] (RES: 1024 or "
               "WIDTHxHEIGHT; default the family's own): every view shows its buckets at it")


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `dataset` command group."""
    parser.description = "Register, scan and inspect datasets."
    sub = parser.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND", title="subcommands")

    add = sub.add_parser("add", help="register a folder as a dataset and scan it",
                         description="Register a folder (kohya `N_concept` subfolders or plain images and videos) "
                                     "and index it.")
    add.add_argument("path", help="dataset folder")
    add.add_argument("--name", help="dataset name (default: the folder name)")
    add.add_argument("--workspace", default=None, help="workspace to put it in (default: settings' default)")
    add.add_argument("--caption-ext", default=None, help="caption sidecar extension (default: .txt)")
    add.add_argument("--no-scan", action="store_true", help="register only; scan later")
    add.add_argument("--target", metavar="FAMILY[:RES]", help=TARGET_HELP)
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
    _clip_arguments(show)
    show.set_defaults(handler=cmd_show)

    target = sub.add_parser(
        "target", help="show or set what a dataset is prepared for (family and resolution: its buckets)",
        description="Without SPEC, print the dataset's target. With FAMILY[:RES] (e.g. sdxl, sd15:768, "
                    "flux:1024x768), set it: the images are re-bucketed at once and the image list, the preview, "
                    "`dataset show` and the training form all use it. --clear goes back to sd-scripts' default "
                    "buckets at 1024x1024. Families: " + ", ".join(known_families()) + ".")
    target.add_argument("name")
    target.add_argument("spec", nargs="?", metavar="FAMILY[:RES]", help="the target to set")
    target.add_argument("--clear", action="store_true", help="remove the target")
    target.add_argument("--json", action="store_true")
    target.set_defaults(handler=cmd_target)

    orphans = sub.add_parser("orphans", help="list caption files that have no image (as the last scan found them)")
    orphans.add_argument("name")
    orphans.add_argument("--json", action="store_true")
    orphans.set_defaults(handler=cmd_orphans)

    images = sub.add_parser("images", help="list every image of a dataset with its status (and its control "
                                           "images, for edit-model pairs)")
    images.add_argument("name")
    images.add_argument("--broken", action="store_true", help="only broken images")
    images.add_argument("--pair-problems", action="store_true",
                        help="only images whose control image is missing, mismatched, broken or badly named")
    images.add_argument("--json", action="store_true")
    images.set_defaults(handler=cmd_images)

    control = sub.add_parser(
        "control", help="see or set the control folders of edit-model image pairs (Kontext, Qwen-Image-Edit)",
        description="Edit models train on a target image, its caption (an instruction) and one or more control "
                    "images, paired by file name: 10_shoes/a.png with 10_shoes/control/a.png (several: a_0.png, "
                    "a_1.png). A subset's control folder is found by convention (a `control` folder inside it, or "
                    "a sibling `<subset>_control`) or set here; control folders are not indexed as training "
                    "images. The resize options are musubi-tuner's per-dataset no_resize_control and "
                    "control_resolution (Qwen-Image-Edit's documentation strongly recommends "
                    "--control-resolution 1024,1024). Changing anything rescans the dataset. Without SUBSET or "
                    "options: list every subset's control folder and pair counts.")
    control.add_argument("name")
    control.add_argument("subset", nargs="?", help="the subset folder ('.' for the dataset folder itself)")
    which = control.add_mutually_exclusive_group()
    which.add_argument("--folder", metavar="DIR", help="the subset's control folder (relative to the dataset)")
    which.add_argument("--none", dest="off", action="store_true",
                       help="no control folder (a `control` folder inside it is then scanned as images)")
    which.add_argument("--auto", action="store_true", help="forget the choice: use the conventional folder")
    resize = control.add_mutually_exclusive_group()
    resize.add_argument("--no-resize-control", dest="no_resize", action="store_const", const=True, default=None,
                        help="keep each control's size (no_resize_control = true)")
    resize.add_argument("--resize-control", dest="no_resize", action="store_const", const=False,
                        help="resize controls again (no_resize_control unset)")
    control.add_argument("--control-resolution", metavar="W,H",
                         help="bucket controls to this area, e.g. 1024,1024 ('none' unsets it)")
    control.add_argument("--workers", type=int, default=None, help="scan processes (default: one per core)")
    control.add_argument("--json", action="store_true")
    control.set_defaults(handler=cmd_control)

    remove = sub.add_parser("remove", help="forget a dataset (files on disk are left alone)")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_remove)

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
    add_no_wait(dupes)
    dupes.set_defaults(handler=cmd_dupes)

    imp = sub.add_parser(
        "import", help="import a .zip file or an http(s) URL to one as a new dataset",
        description="Extract a zip safely into a new folder, register it and scan it. Unsafe entries, zip bombs "
                    "and archives over the limits are refused before anything is written; the folder appears "
                    "complete or not at all. A URL is downloaded into HOME/cache/imports (http and https only, "
                    "also across redirects; checked to be a zip before it is kept); an interrupted download "
                    "resumes when the same command is run again, --refetch starts it over, and `dataset "
                    "downloads --clear` removes what is left. Limits: [dataset_tools] import_max_gib, "
                    "import_max_files, import_max_ratio, import_max_download_gib in config.toml.")
    imp.add_argument("source", help="path to a .zip, or an http(s) URL")
    imp.add_argument("--name", required=True, help="dataset name (also the new folder's name)")
    imp.add_argument("--into", metavar="DIR", help="parent folder for the dataset (default: HOME/datasets)")
    imp.add_argument("--workspace", default=None)
    imp.add_argument("--caption-ext", default=None)
    imp.add_argument("--workers", type=int, default=None)
    imp.add_argument("--refetch", action="store_true",
                     help="download the URL again, discarding a cached or partial download of it")
    imp.add_argument("--json", action="store_true")
    imp.set_defaults(handler=cmd_import)

    downloads = sub.add_parser(
        "downloads", help="list (or --clear) partial and unused downloads of `dataset import URL`",
        description="Downloads of `dataset import URL` stay in HOME/cache/imports while interrupted (NAME.zip.part, "
                    "resumed by running the same import again) or when the import failed after the download "
                    "(e.g. for want of disk space). --clear removes them, except one being downloaded right now.")
    downloads.add_argument("--clear", action="store_true", help="remove them")
    downloads.add_argument("--json", action="store_true")
    downloads.set_defaults(handler=cmd_downloads)

    exp = sub.add_parser("export", help="export as a kohya folder, a Hugging Face imagefolder, or a zip",
                         description="The format follows OUT: a name ending in .zip writes a zip file, anything else "
                                     "a folder. --format that contradicts the name is refused.")
    exp.add_argument("name")
    exp.add_argument("out", help="a new .zip file, or a new (or empty) folder")
    exp.add_argument("--format", choices=["kohya", "hf", "zip"], default=None,
                     help="kohya or hf for a folder, zip for a .zip (default: from OUT's name; a folder is kohya)")
    exp.add_argument("--layout", choices=["kohya", "hf"], default=None,
                     help="layout inside a zip (default kohya)")
    exp.add_argument("--max-side", type=int, default=None, metavar="PX", help="downscale images larger than this")
    exp.add_argument("--where", metavar="QUERY", help="only images matching a query")
    exp.add_argument("--set", dest="sets", action="append", metavar="EXT",
                     help="caption set to export, e.g. .caption; repeat for several (default: the dataset's own, "
                          ".txt; hf: the first is 'text', the others columns named by extension)")
    exp.add_argument("--json", action="store_true")
    exp.set_defaults(handler=cmd_export)


def _report_dict(report) -> dict:
    return {
        "total": report.total, "videos": report.videos, "broken_videos": report.broken_videos,
        "added": report.added, "updated": report.updated, "removed": report.removed,
        "unchanged": report.unchanged, "broken": report.broken, "captions_changed": report.captions_changed,
        "thumbnails_made": report.thumbnails_made, "orphan_captions": report.orphan_captions,
        "control_images": report.control_images, "pair_problems": report.pair_problems,
        "warnings": report.warnings, "elapsed_s": round(report.elapsed_s, 3),
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
    caption_ext = service.normalise_caption_ext(args.caption_ext or ctx.settings.general.caption_ext)
    target = parse_target(args.target) if args.target else None
    async with Store.open(ctx.paths.db) as store:
        try:
            with progress_bar("Scanning") as update:
                dataset, report = await service.add_dataset(
                    store, args.path, name=args.name,
                    workspace=args.workspace or ctx.settings.general.default_workspace,
                    caption_ext=caption_ext, scan=not args.no_scan, workers=_workers(ctx, args), progress=update,
                    target=target,
                )
        except (KeyboardInterrupt, asyncio.CancelledError):
            name = service.dataset_name_for(args.path, args.name)
            info(f"dataset {name!r} is registered with the images indexed so far; finish the scan with "
                 f"`loratui dataset scan {name}`")
            raise
    if report is not None:
        _print_report(report, args.json)
    if not args.json:
        info(f"dataset {dataset.name!r} registered: {dataset.path}")
        info(f"buckets: {describe_target(dataset.target)}")
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
        print_table(["workspace", "name", "images", "broken", "captioned", "target", "path"],
                    [[d["workspace"], d["name"], d["images"], d["broken"], d["captioned"],
                      d["target"]["label"] if d["target"] else "", d["path"]] for d in datasets])
    return 0


def _clip_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "video clip tables", "which clips the trainer takes from each video (musubi-tuner's or diffusion-pipe's "
                             "dataset fields; see docs/video-datasets.md)")
    group.add_argument("--clips-for", choices=("musubi", "diffusion-pipe"), default="musubi",
                       help="whose clip rules (default musubi)")
    group.add_argument("--family", help="musubi video family whose frame rate source_fps resamples to (default: "
                                        "the dataset's target family, else Wan's 16 fps)")
    group.add_argument("--target-frames", metavar="N,N", help="musubi target_frames, e.g. 1,25,45 (default 1)")
    group.add_argument("--frame-extraction", metavar="MODE",
                       help="musubi frame_extraction: head, chunk, slide, uniform, full")
    group.add_argument("--frame-stride", type=int, metavar="N", default=1,
                       help="musubi frame_stride (slide; default 1)")
    group.add_argument("--frame-sample", type=int, metavar="N", default=1,
                       help="musubi frame_sample (uniform; default 1)")
    group.add_argument("--max-frames", type=int, metavar="N", default=129, help="musubi max_frames (full; default 129)")
    group.add_argument("--source-fps", type=float, metavar="FPS", help="musubi source_fps: resample from this rate")
    group.add_argument("--frame-buckets", metavar="N,N", help="diffusion-pipe frame_buckets, e.g. 1,33,65 (default 1)")
    group.add_argument("--clip-mode", metavar="MODE",
                       help="diffusion-pipe video_clip_mode: single_beginning (default), single_middle")
    group.add_argument("--fps", type=float, default=16.0, metavar="FPS",
                       help="diffusion-pipe: the model's frame rate (Wan 16, HunyuanVideo 24; default 16)")


def _clip_settings(args, target_family: str | None):
    if args.clips_for == "diffusion-pipe":
        return diffusion_pipe_clip_settings({"frame_buckets": args.frame_buckets,
                                             "video_clip_mode": args.clip_mode}, args.fps)
    family = args.family or (target_family if video_architecture(target_family) else None)
    if args.family and video_architecture(args.family) is None:
        raise InputError(f"{args.family!r} is not a musubi-tuner video family",
                         hint="wan2.1-t2v-14b, hunyuan-video, framepack ... (`loratui train families`)")
    return musubi_clip_settings(family, {
        "target_frames": args.target_frames, "frame_extraction": args.frame_extraction,
        "frame_stride": args.frame_stride, "frame_sample": args.frame_sample, "max_frames": args.max_frames,
        "source_fps": args.source_fps})


async def cmd_show(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        stats = await service.dataset_stats(store, args.name, top=args.top)
        stats["pairs"] = await pair_service.pair_overview(store, args.name, limit=None if args.json else
                                                          pair_service.PROBLEMS_SHOWN)
        settings = _clip_settings(args, (stats["target"] or {}).get("family"))
        stats["video_clips"] = await video_service.dataset_clip_tables(store, args.name, settings)
        dataset = await service.get_dataset(store, args.name)
        stats["caption_sets"] = [s.to_dict() for s in await caption_sets.list_sets(store, dataset)]
    if args.json:
        print_json(stats)
        return 0
    out(f"{stats['name']}  {stats['path']}", style="bold")
    out(f"images {stats['images']}  broken {stats['broken']}  captioned {stats['captioned']}  "
        f"uncaptioned {stats['uncaptioned']}  caption warnings {stats['caption_warnings']}")
    if len(stats["caption_sets"]) > 1:
        out("caption sets: " + ", ".join(f"{s['ext']} {s['files']} files ({s['missing']} missing)"
                                         for s in stats["caption_sets"]))
    print_table(["subset", "repeats", "class tokens", "reg", "images"],
                [[s["path"] or ".", s["repeats"], s["class_tokens"], "yes" if s["is_reg"] else "", s["images"]]
                 for s in stats["subsets"]], title="Subsets")
    out(f"target: {stats['buckets_follow']}")
    print_table(["bucket", "images"], list(stats["buckets"].items()),
                title=f"Buckets at {stats['target']['label'] if stats['target'] else 'the default 1024x1024'}")
    print_table(["resolution", "images"], list(stats["resolutions"].items())[:15], title="Resolutions (top 15)")
    print_table(["tag", "count"], [[t["tag"], t["count"]] for t in stats["top_tags"]], title="Top tags")
    _print_pairs(stats["pairs"])
    _print_videos(stats["video_clips"])
    _print_orphans(stats["orphan_captions"], args.name)
    return 0


def _clip_text(clips: list[dict]) -> str:
    """The clips by length, with their start frames: '25f@0,25 13f@0,13,26' (at most four starts shown each)."""
    starts: dict[int, list[int]] = {}
    for clip in clips:
        starts.setdefault(clip["length"], []).append(clip["start"])
    parts = []
    for length, found in sorted(starts.items(), reverse=True):
        shown = ",".join(map(str, found[:4])) + (f",...({len(found)})" if len(found) > 4 else "")
        parts.append(f"{length}f@{shown}")
    return " ".join(parts)


def _print_videos(tables: dict) -> None:
    totals = tables["totals"]
    if not totals["videos"]:
        return
    settings = tables["settings"]
    if settings["trainer"] == "musubi":
        rule = (f"musubi-tuner: target_frames {','.join(map(str, settings['target_frames']))}, "
                f"{settings['frame_extraction']}, source_fps {settings['source_fps'] or 'not set'} "
                f"(-> {settings['target_fps']:g} fps)")
    else:
        rule = (f"diffusion-pipe: frame_buckets {','.join(map(str, settings['frame_buckets']))}, "
                f"{settings['video_clip_mode']}, {settings['target_fps']:g} fps")
    rows = []
    for video in tables["videos"]:
        fps = f"{video['fps_float']:.3g}" if video.get("fps_float") else ""
        rows.append([video["path"], video["frames"] or "", fps, _clip_text(video["clips"]),
                     ", ".join(video["flags"])])
    print_table(["video", "frames", "fps", "clips (length f @ start frames)", "flags"], rows,
                title=f"Videos ({totals['videos']}: {totals['clips']} clips, {totals['too_short']} too short, "
                      f"{totals['broken']} broken)")
    info(rule)


def _print_orphans(orphans: list[dict], name: str, *, empty_note: bool = False) -> None:
    if orphans:
        print_table(["caption file without an image", "bytes"], [[o["path"], o["size"]] for o in orphans],
                    title=f"Orphan captions ({len(orphans)}: trainers ignore them)")
    elif empty_note:
        info(f"dataset {name!r} has no caption file without an image (as of its last scan)")


async def cmd_orphans(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        orphans = await service.orphan_captions(store, args.name)
    if args.json:
        print_json(orphans)
    else:
        _print_orphans(orphans, args.name, empty_note=True)
    return 0


async def cmd_target(ctx, args) -> int:
    if args.clear and args.spec:
        raise InputError("give FAMILY[:RES] or --clear, not both")
    async with Store.open(ctx.paths.db) as store:
        if args.spec or args.clear:
            target = parse_target(args.spec) if args.spec else None
            dataset, moved = await service.set_target(store, args.name, target)
        else:
            dataset, moved = await service.get_dataset(store, args.name), None
    if args.json:
        print_json({"name": dataset.name, "target": dataset.target.to_dict() if dataset.target else None,
                    "buckets_follow": describe_target(dataset.target), "images_moved": moved})
        return 0
    out(f"{dataset.name}: {describe_target(dataset.target)}")
    if moved is not None:
        info(f"{moved} image(s) moved to another bucket")
    return 0


def _options_text(folder: dict) -> str:
    parts = ["no_resize_control"] if folder["no_resize_control"] else []
    if folder["control_resolution"]:
        parts.append("control_resolution {}x{}".format(*folder["control_resolution"]))
    return ", ".join(parts) or "resize to target"


def _problems_text(folder: dict) -> str:
    counts = [(folder[key], label) for key, label in (
        ("missing", "missing"), ("mismatch", "mismatched"), ("broken", "broken"), ("bad_name", "bad name"),
        ("ambiguous", "ambiguous"), ("extra", "extra"))]
    return ", ".join(f"{n} {label}" for n, label in counts if n) or "none"


def _print_folders(folders: list[dict]) -> None:
    print_table(["subset", "control folder", "paired", "problems", "controls resized"],
                [[f["subset"] or ".", f"{f['control_folder'] or '(none)'} ({f['source']})",
                  f"{f['paired']}/{f['targets']}", _problems_text(f), _options_text(f)] for f in folders],
                title="Image pairs (edit models)")


def _print_pairs(pairs: dict) -> None:
    if not pairs["folders"]:
        return
    _print_folders(pairs["folders"])
    if pairs["problems"]:
        print_table(["path", "", "problem", "detail"],
                    [[p["path"], p["kind"], p["problem"], p["detail"]] for p in pairs["problems"]],
                    title=f"Pair problems ({len(pairs['problems'])} of {pairs['problem_count']})")


async def cmd_images(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        images = await pair_service.images_with_pairs(store, args.name)
    if args.broken:
        images = [i for i in images if i["status"] == "broken"]
    if args.pair_problems:
        images = [i for i in images if i["pair"] is not None and i["pair"]["status"] != "ok"]
    if args.json:
        print_json(images)
    elif any(i["pair"] is not None for i in images):
        print_table(["path", "status", "size", "caption", "pair", "controls", "reason"],
                    [[i["path"], i["status"], f"{i['width']}x{i['height']}" if i["width"] else "",
                      "yes" if i["has_caption"] else "no", _pair_text(i["pair"]),
                      ", ".join(c["path"].rsplit("/", 1)[-1] for c in i["pair"]["controls"]) if i["pair"] else "",
                      i["reason"]] for i in images])
        if any(i["pair"] is not None and i["pair"]["status"] != "ok" for i in images):
            info(f"why: `loratui dataset show {args.name}` (or --json here)")
    else:
        print_table(["path", "status", "size", "format", "caption", "reason"],
                    [[i["path"], i["status"], f"{i['width']}x{i['height']}" if i["width"] else "",
                      i["format"], "yes" if i["has_caption"] else "no", i["reason"]] for i in images])
    return 0


def _pair_text(pair: dict | None) -> str:
    return "" if pair is None else pair["status"] or "" 


async def cmd_control(ctx, args) -> int:
    from loratui.datasets.pairs import parse_resolution

    resolution = parse_resolution(args.control_resolution) if args.control_resolution is not None else "keep"
    change = pair_service.ControlChange(folder=args.folder, off=args.off, auto=args.auto, no_resize=args.no_resize,
                                        resolution=resolution)
    report = None
    async with Store.open(ctx.paths.db) as store:
        if args.subset is None or not (args.folder is not None or args.off or args.auto or change.changes_options):
            if args.subset is None and (args.folder is not None or args.off or args.auto or change.changes_options):
                raise InputError("name the subset to change ('.' for the dataset folder itself)")
            _dataset, folders = await pair_service.control_folders(store, args.name)
            if args.subset is not None:
                key = pair_service.subset_key(args.subset)
                folders = [f for f in folders if f["subset"] == key]
        else:
            with progress_bar("Scanning") as update:
                folders, report = await pair_service.set_control(store, args.name, args.subset, change,
                                                                 workers=_workers(ctx, args), progress=update)
    if args.json:
        print_json({"folders": folders, "scan": _report_dict(report) if report else None})
        return 0
    if report is not None:
        _print_report(report, False)
    if folders:
        _print_folders(folders)
    else:
        info(f"no control folders in {args.name!r}: put the control images of a subset in its `control` folder "
             f"(or a sibling `<subset>_control`), or set one with `loratui dataset control {args.name} SUBSET "
             "--folder DIR`")
    return 0


async def cmd_remove(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        await service.remove_dataset(store, args.name)
    info(f"dataset {args.name!r} removed from the index (files untouched)")
    return 0


async def cmd_dupes(ctx, args) -> int:
    # Imported here for start-up time: dedupe loads numpy (~60-170 ms), which every other `dataset` command skips.
    from loratui.datasets.dedupe import find_duplicates

    distance = args.max_distance if args.max_distance is not None else ctx.settings.dataset_tools.dupe_max_distance
    async with Store.open(ctx.paths.db) as store:
        dataset = await service.get_dataset(store, args.name)
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
            with waiting(args):
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
        out(f"group {number} ({group.kind}, {len(group.images)} images)")
        print_table(["path", "size", "bytes", "distance"],
                    [[i.rel_path, f"{i.width}x{i.height}", i.size, i.distance] for i in group.images])
    if moved is not None:
        for path, reason in moved.skipped:
            info(f"skipped {path}: {reason}")
        info(f"moved {moved.changed} files to _duplicates/ (operation {moved.operation_id}; "
             f"undo with `loratui tags {dataset.name} undo`)")
    return 0


async def cmd_import(ctx, args) -> int:
    tools = ctx.settings.dataset_tools
    limits = ImportLimits(max_total_bytes=int(tools.import_max_gib * 1024**3), max_files=tools.import_max_files,
                          max_ratio=tools.import_max_ratio,
                          max_download_bytes=int(tools.import_max_download_gib * 1024**3))
    root = Path(args.into).expanduser() if args.into else ctx.paths.home / "datasets"
    caption_ext = service.normalise_caption_ext(args.caption_ext or ctx.settings.general.caption_ext)
    async with Store.open(ctx.paths.db) as store:
        with progress_bar("Downloading") as update:
            dataset, scan, extracted = await import_dataset(
                store, args.source, args.name, root=root, cache=ctx.paths.cache, limits=limits,
                workspace=args.workspace or ctx.settings.general.default_workspace,
                caption_ext=caption_ext,
                workers=args.workers if args.workers is not None else ctx.settings.general.scan_workers,
                progress=update, refetch=args.refetch)
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


async def cmd_downloads(ctx, args) -> int:
    listed = await asyncio.to_thread(list_downloads, ctx.paths.cache)
    removed = await asyncio.to_thread(remove_downloads, ctx.paths.cache) if args.clear else []
    gone = {item.path for item in removed}
    if args.json:
        print_json([{"path": str(d.path), "url": d.url, "bytes": d.bytes, "complete": d.complete,
                     "in_use": d.in_use, "modified": d.modified, "removed": d.path in gone} for d in listed])
        return 0
    if not listed:
        info(f"no downloads left in {ctx.paths.cache / 'imports'}")
        return 0
    print_table(["file", "url", "size", "state", "modified"],
                [[d.path.name, d.url, human_bytes(d.bytes),
                  ("removed" if d.path in gone else "downloading now" if d.in_use
                   else "complete" if d.complete else "partial"),
                  time.strftime("%Y-%m-%d %H:%M", time.localtime(d.modified))] for d in listed])
    if not args.clear:
        info("resume one by running its `dataset import URL` again; remove them with `dataset downloads --clear`")
    return 0


async def cmd_export(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        dataset = await service.get_dataset(store, args.name)
        report = await export_dataset(store, dataset, Path(args.out).expanduser(), fmt=args.format,
                                      layout=args.layout, max_side=args.max_side, where=args.where,
                                      sets=args.sets)
    if args.json:
        print_json(vars(report))
    else:
        for path, reason in report.skipped:
            info(f"skipped {path}: {reason}")
        info(f"exported {report.images} images and {report.captions} captions ({report.resized} downscaled, "
             f"{report.bytes} bytes) to {report.out}")
    return 0
