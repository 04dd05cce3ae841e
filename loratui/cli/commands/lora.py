"""`loratui lora ...`: the LoRA library (scan, list, info, compare), resize and upload."""

from __future__ import annotations

import argparse
import contextlib
import os

from loratui.cli.commands import lora_sweep
from loratui.cli.output import info, out, print_json, print_table, progress_bar, stderr, stdout
from loratui.errors import InputError, JobError
from loratui.jobs.runner import Cancelled
from loratui.loras import library
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
    upload.add_argument("--json", action="store_true")
    upload.set_defaults(handler=cmd_upload)

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
                    [[r.id, r.name, folder, size, rank, r.base_model, ", ".join(r.trigger_words[:3]), r.job_id or ""]
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
                    [[r.id, r.name, folder, size, rank, ", ".join(r.trigger_words[:3])]
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

        def work(progress):
            return upload_lora(path, args.repo, private=args.private, token=token, hub_bars=hub_bars,
                               progress=lambda phase, done, total: progress(done, total, phase))

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

