"""`loratui lora ...`: the LoRA library (scan, list, info, compare), resize, upload, and checkpoint sweeps (grid,
keep, trash-undo)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from loratui.cli.commands import lora_sweep
from loratui.cli.output import info, out, print_json, print_table, progress_bar, stderr, stdout
from loratui.errors import InputError, JobError
from loratui.jobs.runner import Cancelled
from loratui.loras import library, sweep_export, sweep_keep, sweep_manifest
from loratui.loras.compare import compare
from loratui.loras.hub import token_from_env, upload_lora
from loratui.loras.inspect import inspect_file
from loratui.loras.present import folder_labels, human_size, info_rows
from loratui.loras.resize import ResizeOptions, run_resize_job
from loratui.loras.tasks import run_job
from loratui.store import Store


@contextlib.contextmanager
def _cancelled_is_an_error():
    """A job cancelled from elsewhere (`loratui jobs cancel`) ends the command with one line."""
    try:
        yield
    except Cancelled:
        raise JobError("the job was cancelled; nothing was written") from None


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `lora` command group."""
    parser.description = "Index, inspect, compare, resize and publish LoRA files."
    sub = parser.add_subparsers(dest="lora_command", metavar="SUBCOMMAND", title="subcommands")

    scan = sub.add_parser("scan", help="index the .safetensors LoRAs in a folder (only changed files are read)")
    scan.add_argument("dir")
    scan.add_argument("--force", action="store_true", help="re-read every file")
    scan.add_argument("--dry-run", action="store_true", help="only list what would change")
    scan.add_argument("--json", action="store_true")
    scan.set_defaults(handler=cmd_scan)

    lst = sub.add_parser("list", help="list the library (with each file's folder; files gone from disk are marked "
                                      "missing)")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_list)

    show = sub.add_parser("info", help="metadata of a LoRA: rank/alpha, training settings, dataset, tags")
    show.add_argument("lora", metavar="FILE|ID")
    show.add_argument("--modules", action="store_true", help="also list every module with its rank and alpha")
    show.add_argument("--tags", type=int, default=20, help="how many top tags to show (default 20)")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=cmd_info)

    cmp = sub.add_parser("compare", help="two LoRAs side by side: what differs")
    cmp.add_argument("a", metavar="A")
    cmp.add_argument("b", metavar="B")
    cmp.add_argument("--all", action="store_true", help="show equal rows too")
    cmp.add_argument("--json", action="store_true")
    cmp.set_defaults(handler=cmd_compare)

    resize = sub.add_parser(
        "resize", help="shrink a LoRA's rank (SVD; same results as sd-scripts' resize_lora.py, much faster)",
        description="Resize to a fixed --rank, or pick each module's rank with --dynamic METHOD --param P "
                    "(--rank then caps it). Conv modules use --conv-rank (default: --rank).")
    resize.add_argument("lora", metavar="FILE|ID")
    resize.add_argument("--rank", type=int, help="new rank; with --dynamic the maximum (default: no cap)")
    resize.add_argument("--dynamic", choices=["sv_ratio", "sv_fro", "sv_cumulative"])
    resize.add_argument("--param", type=float, help="target of the dynamic method (e.g. sv_fro 0.9, sv_ratio 8)")
    resize.add_argument("--conv-rank", type=int, help="rank of conv modules (default: --rank)")
    resize.add_argument("--out", help="output file (default: NAME-rR.safetensors next to the input)")
    resize.add_argument("--precision", choices=["fp16", "bf16", "float"], default="float",
                        help="dtype of the saved tensors (default float)")
    resize.add_argument("--device", default="cpu", help="cpu (numpy) or cuda (needs PyTorch)")
    resize.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    resize.add_argument("--verbose", action="store_true", help="list every module's new rank and retained energy")
    resize.add_argument("--json", action="store_true")
    resize.set_defaults(handler=cmd_resize)

    upload = sub.add_parser("upload", help="publish a LoRA on the Hugging Face Hub with a generated model card")
    upload.add_argument("lora", metavar="FILE|ID")
    upload.add_argument("--repo", required=True, metavar="USER/NAME")
    upload.add_argument("--private", action="store_true", help="create the repo private")
    upload.add_argument("--token-env", default="HF_TOKEN", metavar="VAR",
                        help="environment variable holding the Hub token (default HF_TOKEN)")
    upload.add_argument("--sweep", metavar="SWEEP_FOLDER",
                        help="put this checkpoint sweep's images of the LoRA (its chosen row) on the model card")
    upload.add_argument("--json", action="store_true")
    upload.set_defaults(handler=cmd_upload)

    grid = sub.add_parser(
        "grid", help="a checkpoint sweep: print its grid, export a contact sheet / HTML page, or open it in the TUI",
        description="Without --png/--html/--open, prints the grid (rows = checkpoints, columns = prompt x seed) "
                    "with the cells rendered so far.")
    grid.add_argument("folder", metavar="SWEEP_FOLDER")
    grid.add_argument("--png", metavar="OUT.png", help="write a labelled contact sheet")
    grid.add_argument("--cell", type=int, default=256, help="contact sheet cell size in pixels (default 256)")
    grid.add_argument("--html", metavar="OUT.html", help="write a self-contained HTML page (images inlined)")
    grid.add_argument("--open", action="store_true", help="open the grid in the terminal UI")
    grid.add_argument("--graphics", choices=["auto", "halfblock", "kitty", "sixel", "iterm2"],
                      help="how --open shows a cell full screen (default: [ui] graphics in config.toml, auto)")
    grid.add_argument("--json", action="store_true")
    grid.set_defaults(handler=cmd_grid)

    keep = sub.add_parser(
        "keep", help="keep one checkpoint of a sweep: mark it chosen, move the other checkpoints away",
        description="Records ROW as the sweep's chosen checkpoint and marks its file in the library. "
                    "--trash-others moves the other rows' checkpoint files to a .trash folder beside them (undo: "
                    "`loratui lora trash-undo SWEEP_FOLDER`); --delete-others deletes them (asks first; --yes).")
    keep.add_argument("folder", metavar="SWEEP_FOLDER")
    keep.add_argument("row", metavar="ROW", help="the row key (as `loratui lora grid` lists them)")
    others = keep.add_mutually_exclusive_group()
    others.add_argument("--trash-others", action="store_true", help="move the other checkpoints to the trash")
    others.add_argument("--delete-others", action="store_true", help="delete the other checkpoints")
    keep.add_argument("--yes", action="store_true", help="do not ask before deleting")
    keep.add_argument("--json", action="store_true")
    keep.set_defaults(handler=cmd_keep)

    undo = sub.add_parser(
        "trash-undo", help="put back the checkpoints `lora keep --trash-others` moved to the trash",
        description="PATH is a sweep folder (its newest trash operation is undone) or a trash operation folder "
                    "(.trash/ID beside the checkpoints). Files come back byte-identical.")
    undo.add_argument("path", metavar="PATH")
    undo.add_argument("--list", action="store_true", help="list the sweep's trash operations instead")
    undo.add_argument("--json", action="store_true")
    undo.set_defaults(handler=cmd_trash_undo)

    lora_sweep.register(sub)


async def cmd_scan(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        with progress_bar("Reading LoRAs") as update:
            report = await library.scan_dir(store, args.dir, force=args.force, dry_run=args.dry_run,
                                            progress=update)
    if args.json:
        print_json(report.as_dict())
        return 0
    for label, paths in (("add", report.added), ("update", report.updated), ("remove", report.removed)):
        for path in paths:
            info(f"{'would ' if args.dry_run else ''}{label}: {path}")
    for path, error in report.errors:
        info(f"skipped {path}: {error}")
    info(report.summary())
    return 0


async def cmd_list(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        records = await library.list_loras(store)
    present = [library.on_disk(r) for r in records]
    if args.json:
        print_json([{**r.as_dict(), "name": r.name, "folder": os.path.dirname(r.path), "exists": exists}
                    for r, exists in zip(records, present)])
        return 0
    if not records:
        info("the library is empty; add LoRAs with `loratui lora scan DIR`")
        return 0
    width = stdout.width
    sizes = [human_size(r.size) if exists else "missing" for r, exists in zip(records, present)]
    ranks = [f"{r.dim or ''}/{'' if r.alpha is None else f'{r.alpha:g}'}" for r in records]
    if width >= 120:
        folders = folder_labels([r.path for r in records], width // 4)
        print_table(["id", "file", "folder", "size", "dim/alpha", "base model", "trigger words", "job"],
                    [[r.id, _name(r), folder, size, rank, r.base_model, ", ".join(r.trigger_words[:3]), r.job_id or ""]
                     for r, folder, size, rank in zip(records, folders, sizes, ranks)])
    else:
        # One line per LoRA: the base model and job are left to `lora info` (and --json); what is left of the
        # width after id, size and dim/alpha goes to the file name, its folder (which tells files of one name
        # apart) and the trigger words, in that order of need.
        fixed = sum(max(len(str(cell)) for cell in column)
                    for column in (["id", *(r.id for r in records)], ["size", *sizes], ["dim/alpha", *ranks]))
        spare = max(30, width - fixed - 3 * 6 - 1)  # a compact table spends 3 cells per column and 1 more
        cut = {"file": spare * 3 // 8, "folder": spare * 3 // 8}
        cut["trigger words"] = spare - cut["file"] - cut["folder"]
        folders = folder_labels([r.path for r in records], cut["folder"])
        print_table(["id", "file", "folder", "size", "dim/alpha", "trigger words"],
                    [[r.id, _name(r), folder, size, rank, ", ".join(r.trigger_words[:3])]
                     for r, folder, size, rank in zip(records, folders, sizes, ranks)], compact=True, widths=cut)
    missing = present.count(False)
    if missing:
        info(f"{missing} file(s) no longer on disk: `loratui lora scan DIR` on their folder drops them")
    return 0


async def cmd_info(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        path, record = await library.resolve_file(store, args.lora)
        lora = inspect_file(path)
        job = await library.job_summary(store, record, path)
    if args.json:
        data = lora.as_dict(modules=args.modules)
        data["library_id"] = record.id if record else None
        data["job"] = job
        data["top_tags"] = lora.summary.top_tags(args.tags)
        print_json(data)
        return 0
    _print_rows(info_rows(lora, job, record.id if record else None))
    top = lora.summary.top_tags(args.tags)
    if top:
        out("tag frequency: " + ", ".join(f"{tag} ({count})" for tag, count in top))
    if args.modules:
        print_table(["module", "kind", "rank", "alpha", "in", "out"],
                    [[m.name, m.kind, m.rank, "" if m.alpha is None else f"{m.alpha:g}", m.in_features,
                      m.out_features] for m in lora.modules])
    return 0


def _name(record) -> str:
    """A library entry's file name, starred when it was kept as the winner of a checkpoint sweep."""
    return ("★ " if record.chosen_at else "") + record.name


def _print_rows(rows: list[tuple[str, str]]) -> None:
    width = max((len(label) for label, _ in rows), default=0)
    for label, value in rows:
        out(f"{label:<{width}}  {value}")


async def cmd_compare(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        path_a, _ = await library.resolve_file(store, args.a)
        path_b, _ = await library.resolve_file(store, args.b)
    result = compare(inspect_file(path_a), inspect_file(path_b))
    if args.json:
        print_json(result.as_dict())
        return 0
    rows = result.overview if args.all else result.differing_overview
    print_table(["", path_a.name, path_b.name], [[k, _cell(a), _cell(b)] for k, a, b in rows],
                title="overview" + ("" if args.all else " (differences)"))
    if result.metadata_changed:
        print_table(["metadata key", "A", "B"], [[k, _cell(a), _cell(b)] for k, a, b in result.metadata_changed],
                    title=f"metadata that differs ({result.metadata_same} keys equal)")
    if result.rank_changes:
        info(f"{len(result.rank_changes)} modules have different ranks")
    if result.modules_only_a or result.modules_only_b:
        info(f"modules only in A: {len(result.modules_only_a)}, only in B: {len(result.modules_only_b)}")
    if result.tags_only_a or result.tags_only_b:
        info(f"tags only in A: {', '.join(result.tags_only_a[:15])}")
        info(f"tags only in B: {', '.join(result.tags_only_b[:15])}")
    return 0


def _cell(value) -> str:
    if value is None:
        return "-"
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


async def cmd_resize(ctx, args) -> int:
    if args.rank is None and not args.dynamic:
        raise InputError("give --rank R, or --dynamic METHOD --param P")
    async with Store.open(ctx.paths.db) as store:
        path, _ = await library.resolve_file(store, args.lora)
        rank = args.rank
        if rank is None:  # dynamic without a cap: never above the current rank
            rank = max(m.rank for m in inspect_file(path).modules)
        options = ResizeOptions(rank=rank, conv_rank=args.conv_rank, dynamic=args.dynamic, param=args.param,
                                precision=args.precision, device=args.device)
        with progress_bar("Resizing modules") as update, _cancelled_is_an_error():
            job_id, report = await run_resize_job(store, path, args.out, options, overwrite=args.overwrite,
                                                  progress=lambda done, total, _name: update(done, total))
        await library.index_file(store, report.output, job_id=job_id)
    if args.json:
        print_json({"job_id": job_id, **report.as_dict()})
        return 0
    if args.verbose:
        print_table(["module", "kind", "rank", "alpha", "fro retained", "sum(S) retained"],
                    [[m.name, m.kind, f"{m.old_rank} -> {m.new_rank}", f"{m.new_alpha:g}", f"{m.fro_retained:.1%}",
                      f"{m.sum_retained:.1%}"] for m in report.modules])
    ranks: dict[int, int] = {}
    for module in report.modules:
        ranks[module.new_rank] = ranks.get(module.new_rank, 0) + 1
    info(f"job {job_id}: wrote {report.output}")
    info(f"modules: {len(report.modules)}, new ranks: "
         + ", ".join(f"{r} (x{n})" for r, n in sorted(ranks.items())))
    info(f"retained Frobenius energy: {report.energy_retained:.2%} overall, per module mean "
         f"{report.mean_fro_retained:.2%} (std {report.std_fro_retained:.3f})")
    return 0


async def cmd_upload(ctx, args) -> int:
    token = token_from_env(args.token_env)
    if token is None:
        raise InputError(f"no Hub token: set the environment variable {args.token_env}",
                         hint="create a write token at https://huggingface.co/settings/tokens")
    hub_bars = stderr.is_terminal and not args.json  # huggingface-hub's byte-level bars, on a terminal only
    phases: list[str] = []

    def show_phase(_done, _total, phase) -> None:
        if phase and (not phases or phases[-1] != phase):
            phases.append(phase)
            if not args.json:
                info(f"{phase} ...")

    async with Store.open(ctx.paths.db) as store:
        path, _ = await library.resolve_file(store, args.lora)
        images = _sweep_images(args.sweep, path) if args.sweep else []

        def work(progress):
            return upload_lora(path, args.repo, private=args.private, token=token, hub_bars=hub_bars,
                               progress=lambda phase, done, total: progress(done, total, phase), images=images)

        with _cancelled_is_an_error():
            job_id, result = await run_job(store, "upload", f"Upload {path.name} to {args.repo}",
                                           {"path": str(path), "repo": args.repo, "private": args.private}, work,
                                           on_progress=show_phase)
    if args.json:
        print_json({"job_id": job_id, "repo": result.repo, "url": result.url, "files": result.files,
                    "commit": result.commit})
        return 0
    info(f"job {job_id}: uploaded {', '.join(result.files)} to {result.url}")
    return 0



def _sweep_images(folder: str, path) -> list:
    """The sweep's images of LoRA `path`: its chosen row when that row used the file, else the file's first row."""
    manifest = sweep_manifest.load(Path(folder))
    chosen_row = manifest.row(manifest.chosen) if manifest.chosen else None
    if chosen_row is not None and chosen_row.lora and os.path.realpath(chosen_row.lora) == os.path.realpath(path):
        row = chosen_row.key
    else:
        row = sweep_keep.row_for_file(manifest, path)
    if row is None:
        raise InputError(f"no row of the sweep in {folder} was rendered with {Path(path).name}")
    return sweep_keep.chosen_images(Path(folder), manifest, row)


def cmd_grid(ctx, args) -> int:
    """Synchronous: `--open` runs the app, which starts its own event loop."""
    folder = Path(args.folder).expanduser().resolve()
    manifest = sweep_manifest.load(folder)
    if args.open:
        # Imported here for start-up time: textual is loaded only when the UI opens.
        from loratui.termgraphics.detect import worth_asking
        from loratui.tui.app import run_app
        from loratui.tui.screens.sweeps.grid import SweepGridScreen
        from loratui.tui.terminal import read_device_attributes

        mode = args.graphics or ctx.settings.ui.graphics
        # Asked here, before the app owns the terminal: its reply would otherwise arrive as key presses.
        reply = (read_device_attributes(0, 1)
                 if mode == "auto" and worth_asking(os.environ) else None)
        return run_app(ctx, open_screen=lambda app: SweepGridScreen(folder, graphics=mode, device_attributes=reply))
    written = {}
    if args.png:
        written["png"] = str(sweep_export.save_contact_sheet(folder, manifest, Path(args.png), args.cell))
    if args.html:
        written["html"] = str(sweep_export.save_html(folder, manifest, Path(args.html)))
    if written:
        if args.json:
            print_json(written)
        else:
            for kind, path in written.items():
                info(f"wrote {kind}: {path}")
        return 0
    rows = sweep_export.grid_rows(folder, manifest)
    if args.json:
        print_json({"folder": str(folder), "id": manifest.id, "family": manifest.family, "trainer": manifest.trainer,
                    "base_model": manifest.base_model, "chosen": manifest.chosen,
                    "columns": [{"key": c.key, "prompt": c.prompt, "seed": c.seed, "negative": c.negative}
                                for c in manifest.columns], "rows": rows})
        return 0
    table = []
    for row, data in zip(manifest.rows, rows):
        mark = "* " if data["chosen"] else ""
        table.append([mark + row.key, sweep_export.row_label(row),
                      *("done" if cell["image"] else "-" for cell in data["cells"])])
    print_table(["row", "checkpoint", *(c.key for c in manifest.columns)], table,
                title=f"sweep {manifest.id} ({manifest.family}, {manifest.trainer})")
    width = max(30, stdout.width - 2)
    for column in manifest.columns:
        out(f"{column.key}: {sweep_export.column_label(column, width - len(column.key) - 12)}")
    done = sum(r["done"] for r in rows)
    total = len(manifest.rows) * len(manifest.columns)
    info(f"{done}/{total} cells rendered" + (f"; chosen: {manifest.chosen}" if manifest.chosen else "")
         + f"; open it with `loratui lora grid {folder} --open`")
    return 0


def _confirm_delete(files: list) -> bool:
    """Ask on the terminal before deleting checkpoints (False when there is no terminal to ask on)."""
    if not sys.stdin.isatty():
        return False
    for path in files:
        info(f"would delete: {path}")
    stderr.print(f"Delete these {len(files)} checkpoint file(s)? Type yes: ", end="", markup=False)
    try:
        return input().strip().lower() in ("y", "yes")
    except EOFError:
        return False


async def cmd_keep(ctx, args) -> int:
    folder = Path(args.folder).expanduser().resolve()
    others = "trash" if args.trash_others else "delete" if args.delete_others else "keep"
    if others == "delete" and not args.yes:
        plan = sweep_keep.plan_keep(sweep_manifest.load(folder), args.row)
        if plan.others and not _confirm_delete(plan.others):
            raise InputError("nothing was deleted: deleting checkpoints needs a confirmation",
                             hint="add --yes, or use --trash-others (undoable)")
    bar = others != "keep" and not args.json and stderr.is_terminal
    async with Store.open(ctx.paths.db) as store:
        with progress_bar("Moving checkpoints", enabled=bar) as update:
            result = await sweep_keep.keep(store, folder, args.row, others, progress=update)
    if args.json:
        print_json(result.as_dict())
        return 0
    info(f"kept {result.plan.chosen_file} (row {result.plan.row}, library id {result.lora_id})")
    if result.trash is not None:
        info(f"moved {len(result.trash.files)} other checkpoint(s) to {result.trash.folder}")
        info(f"undo with `loratui lora trash-undo {folder}`")
    elif result.deleted:
        info(f"deleted {len(result.deleted)} other checkpoint(s)")
    elif others == "keep" and result.plan.others:
        info(f"{len(result.plan.others)} other checkpoint(s) left in place (--trash-others moves them away)")
    return 0


async def cmd_trash_undo(ctx, args) -> int:
    if args.list:
        ops = sweep_keep.trash_operations(Path(args.path))
        if args.json:
            print_json([op.as_dict() for op in ops])
            return 0
        if not ops:
            info("no trash operations for this sweep")
            return 0
        print_table(["operation", "state", "files", "reason", "folder"],
                    [[op.id, op.state, len(op.files), op.reason, op.folder] for op in ops])
        return 0
    async with Store.open(ctx.paths.db) as store:
        report = await sweep_keep.undo_trash(store, Path(args.path))
    if args.json:
        print_json(report.as_dict())
        return 0
    for path in report.restored:
        info(f"restored {path}")
    for path, reason in report.skipped:
        info(f"left in the trash: {path} ({reason})")
    info(f"undid trash operation {report.op.id}: {len(report.restored)} restored, {len(report.skipped)} left")
    return 0 if not report.skipped else 1
