"""`loratui video cut|trim|resample|resize NAME ITEM...`: journaled, undoable edits of a dataset's videos."""

from __future__ import annotations

import argparse
import asyncio

from loratui.cli.output import info, out, print_json, print_table, progress_bar
from loratui.cli.writing import add_no_wait, waiting
from loratui.datasets import video_edit
from loratui.datasets.service import get_dataset
from loratui.datasets.video_frames import probe, time_text
from loratui.datasets.video_scenes import DEFAULT_MIN_FRAMES, DEFAULT_THRESHOLD
from loratui.store import Store


def position(value: str) -> tuple[float, str]:
    """'12' (frames) or '1.5s' (seconds) -> (number, unit)."""
    text = value.strip().lower()
    unit = "s" if text.endswith("s") else "f"
    try:
        number = float(text[:-1]) if unit == "s" else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: a frame number (12) or seconds (1.5s)") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is negative")
    return number, unit


def to_frames(spec: tuple[float, str] | None, fps: float) -> int | None:
    """A position in frames at `fps` (seconds rounded to the nearest frame)."""
    if spec is None:
        return None
    number, unit = spec
    return round(number * fps) if unit == "s" else int(number)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="dataset name")
    parser.add_argument("items", nargs="+", metavar="ITEM", help="video files, relative to the dataset folder")
    parser.add_argument("--dry-run", action="store_true", help="show what would be written; write nothing")
    parser.add_argument("--json", action="store_true", help="print the plan or result as JSON")
    add_no_wait(parser)


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `video` command group."""
    parser.description = (
        "Edit a dataset's videos. Each edit writes new MP4 files (H.264) next to the original, copies the "
        "original's caption file to each of them, and moves the original and its caption into the dataset's "
        "trash (.loratui-trash/video/). Every edit is journaled: `loratui tags NAME undo` restores the original "
        "byte for byte and moves the new files into the trash. --dry-run shows the files an edit would write.")
    sub = parser.add_subparsers(dest="video_command", metavar="SUBCOMMAND", title="subcommands")

    cut = sub.add_parser("cut", help="cut a video into clips at scene changes or at a fixed length",
                         description="Cut each ITEM into clips NAME_001.mp4, NAME_002.mp4, ... either at scene "
                         "changes (--scenes: colour histogram and pixel difference of consecutive frames) or "
                         "every --length frames (12) or seconds (2s); the last clip may be shorter.")
    _common(cut)
    how = cut.add_mutually_exclusive_group(required=True)
    how.add_argument("--scenes", action="store_true", help="cut where the picture changes")
    how.add_argument("--length", type=position, metavar="N|Ts", help="clip length in frames (48) or seconds (2s)")
    cut.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                     help=f"scene change sensitivity, 0-1: lower cuts more (default {DEFAULT_THRESHOLD})")
    cut.add_argument("--min-length", type=int, default=DEFAULT_MIN_FRAMES, metavar="FRAMES",
                     help=f"shortest scene in frames (default {DEFAULT_MIN_FRAMES})")
    cut.set_defaults(handler=cmd_edit, kind="cut")

    trim = sub.add_parser("trim", help="keep part of a video",
                          description="Keep frames from --start up to (not including) --end, as NAME_trim.mp4. "
                          "Positions are frame numbers (12) or seconds (1.5s).")
    _common(trim)
    trim.add_argument("--start", type=position, default=None, metavar="N|Ts", help="first frame kept (default 0)")
    trim.add_argument("--end", type=position, default=None, metavar="N|Ts",
                      help="frame after the last kept (default: the end)")
    trim.set_defaults(handler=cmd_edit, kind="trim")

    resample = sub.add_parser("resample", help="change a video's frame rate",
                              description="Write NAME_<FPS>fps.mp4 at --fps: frames are dropped or repeated, the "
                              "duration stays.")
    _common(resample)
    resample.add_argument("--fps", type=float, required=True, help="the new frame rate")
    resample.set_defaults(handler=cmd_edit, kind="resample")

    resize = sub.add_parser("resize", help="scale a video",
                            description="Write NAME_<W>x<H>.mp4 scaled to --width and/or --height (one alone keeps "
                            "the aspect ratio; sizes are rounded down to even numbers).")
    _common(resize)
    resize.add_argument("--width", type=int, default=None)
    resize.add_argument("--height", type=int, default=None)
    resize.set_defaults(handler=cmd_edit, kind="resize")

    trash = sub.add_parser("trash", help="list the trash of video edits; --clean removes what no undo needs",
                           description="List the dataset's .loratui-trash/video/ folders (one per edit) with their "
                           "size and whether an undo (the original of an applied edit) or a redo (the new files "
                           "of an undone edit) still needs them. --clean deletes the others. To free the "
                           "originals of applied edits too, delete their folders yourself: those edits can then "
                           "no longer be undone.")
    trash.add_argument("name", help="dataset name")
    trash.add_argument("--clean", action="store_true", help="delete the folders no undo or redo needs")
    trash.add_argument("--json", action="store_true", help="print the folders as JSON")
    add_no_wait(trash)
    trash.set_defaults(handler=cmd_trash)


async def cmd_trash(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        dataset = await get_dataset(store, args.name)
        if args.clean:
            with waiting(args):
                removed = await video_edit.clean_trash(store, dataset)
        entries = await video_edit.trash_entries(store, dataset)
    if args.json:
        print_json({"removed": [e.to_dict() for e in removed] if args.clean else [],
                    "entries": [e.to_dict() for e in entries]})
        return 0
    if args.clean:
        info(f"removed {len(removed)} folder(s), {_mib(sum(e.size for e in removed))}")
    rows = [(e.folder.removeprefix(video_edit.VIDEO_TRASH + "/"), _mib(e.size), e.operation_id or "-",
             e.needed_for or "-") for e in entries]
    print_table(["folder", "size", "operation", "needed to"], rows, compact=True,
                title=f"{video_edit.VIDEO_TRASH}/ (--clean removes the folders no undo or redo needs)")
    return 0


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _params(args, dataset, item: str) -> dict:
    if args.kind == "cut":
        if args.scenes:
            return {"scenes": True, "threshold": args.threshold, "min_frames": args.min_length}
        fps = _fps_of(dataset, item) if args.length[1] == "s" else 0.0
        return {"length": to_frames(args.length, fps)}
    if args.kind == "trim":
        specs = [spec for spec in (args.start, args.end) if spec is not None]
        fps = _fps_of(dataset, item) if any(unit == "s" for _number, unit in specs) else 0.0
        return {"start": to_frames(args.start, fps) or 0, "end": to_frames(args.end, fps)}
    if args.kind == "resample":
        return {"fps": args.fps}
    return {"width": args.width, "height": args.height}


def _fps_of(dataset, item: str) -> float:
    return probe(dataset.path / video_edit.source_path(dataset, item), root=dataset.path).fps


def _plan_lines(plan: video_edit.EditPlan) -> None:
    source = plan.info
    out(f"{plan.source_rel}: {source.width}x{source.height}, {source.fps:g} fps, {source.frames} frames "
        f"({time_text(source.frames, source.fps)})")
    rows = [(o.rel_path, f"{time_text(o.start, source.fps)}-{time_text(o.stop, source.fps)}", o.frames,
             f"{o.fps:g}", f"{o.width}x{o.height}", "copied" if o.caption_rel else "-") for o in plan.outputs]
    print_table(["writes", "from", "frames", "fps", "size", "caption"], rows, compact=True)
    moved = plan.source_rel + (f" and {plan.caption_rel}" if plan.caption_rel else "")
    out(f"moves {moved} to the trash ({video_edit.VIDEO_TRASH}/)")


async def cmd_edit(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        dataset = await get_dataset(store, args.name)
        plans = []
        for item in args.items:
            params = await asyncio.to_thread(_params, args, dataset, item)
            plans.append(await asyncio.to_thread(video_edit.plan_edit, dataset, args.kind, item, **params))
        if args.dry_run:
            if args.json:
                print_json({"dry_run": True, "plans": [p.to_dict() for p in plans]})
            else:
                for plan in plans:
                    _plan_lines(plan)
                info("dry run: nothing written")
            return 0
        results = []
        with waiting(args):
            for plan in plans:
                with progress_bar(f"Encoding {plan.source_rel}") as update:
                    results.append(await video_edit.apply_edit(store, dataset, plan, progress=update))
                if not args.json:
                    info(f"{plan.description}: wrote {len(plan.outputs)} file(s) "
                         f"(operation {results[-1].operation_id}; undo: loratui tags {dataset.name} undo)")
    if args.json:
        print_json({"dry_run": False, "results": [r.to_dict() for r in results],
                    "plans": [p.to_dict() for p in plans]})
    return 0

