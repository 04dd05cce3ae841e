"""`loratui tag NAME`: WD14 auto-tagging as a resumable job, and re-thresholding from stored scores."""

from __future__ import annotations

import argparse
from pathlib import Path

from loratui.cli.jobprogress import job_progress
from loratui.cli.output import info, out, print_json
from loratui.cli.writing import add_no_wait, waiting
from loratui.datasets import service
from loratui.errors import InputError
from loratui.jobs.runner import Cancelled
from loratui.store import Store
from loratui.tagging.modes import TAG_MODES, Mode, parse_mode
from loratui.tagging.options import DEFAULT_THRESHOLD, TagOptions, parse_replacements, parse_tag_list
from loratui.tagging.registry import DEFAULT_MODEL, KNOWN_MODELS
from loratui.tagging.rethreshold import rethreshold_dataset
from loratui.tagging.wd14 import TagRequest, tag_dataset


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `tag` command."""
    parser.description = (
        "Tag a dataset's images with an ONNX tagger (WD14 v2/v3, Camie v2, PixAI v0.9). By default images that "
        "already have a caption are left alone (--mode skip-existing). Scores are stored, so --rethreshold can "
        "change thresholds later without the model. An interrupted run resumes when started again with the same "
        "options.")
    parser.add_argument("name", nargs="?", help="dataset name")
    parser.add_argument("--model", default=None,
                        help="short name (--list-models), Hub repo id, or a folder with model.onnx + "
                        "selected_tags.csv (WD14, PixAI) or camie-tagger-v2.onnx + camie-tagger-v2-metadata.json "
                        f"(default: settings' tagging.model, else {DEFAULT_MODEL})")
    parser.add_argument("--list-models", action="store_true", help="list the known short model names and exit")
    parser.add_argument("--mode", default=None, choices=[m.value for m in TAG_MODES],
                        help="images that already have a caption: skip-existing (default), overwrite, or append "
                        "(merge, no duplicates)")
    parser.add_argument("--thresh", type=float, default=DEFAULT_THRESHOLD,
                        help=f"threshold for general and character tags (default {DEFAULT_THRESHOLD})")
    parser.add_argument("--general-threshold", type=float, default=None, help="general tags (default: --thresh)")
    parser.add_argument("--character-threshold", type=float, default=None,
                        help="character tags (default: --thresh; above 1 disables them)")
    rating = parser.add_mutually_exclusive_group()
    rating.add_argument("--rating", action="store_const", const="first", dest="rating",
                        help="add the most likely rating tag first")
    rating.add_argument("--rating-last", action="store_const", const="last", dest="rating",
                        help="add the most likely rating tag last")
    parser.add_argument("--exclude", action="append", default=[], metavar="TAGS",
                        help="comma-separated tags never to write (repeatable)")
    parser.add_argument("--remove-underscore", action="store_true",
                        help="underscores to spaces (tags longer than 3 characters, as sd-scripts)")
    parser.add_argument("--replace", action="append", default=[], metavar="SRC=DST",
                        help="replace a tag (repeatable; empty DST drops it; escape '=' as '\\=')")
    parser.add_argument("--character-first", action="store_true", help="character tags before general tags")
    parser.add_argument("--character-expand", action="store_true",
                        help="`name_(series)` becomes `name, series` for character tags")
    parser.add_argument("--always-first", action="append", default=[], metavar="TAGS",
                        help="comma-separated tags moved to the front when present, in this order")
    parser.add_argument("--separator", default=", ", help="written between tags (default ', ')")
    parser.add_argument("--device", default=None, choices=["auto", "cuda", "cpu"],
                        help="auto: CUDA when it really starts, else CPU (default: settings' tagging.device)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="images per inference (default: the model's fixed size, else 32 on CUDA / 4 on CPU)")
    parser.add_argument("--workers", type=int, default=0, help="decoding threads (default: one per core)")
    parser.add_argument("--fast-decode", action="store_true",
                        help="let the JPEG decoder shrink large photos (several times faster; scores differ "
                        "slightly from sd-scripts' tagger, which decodes at full size)")
    parser.add_argument("--rethreshold", action="store_true",
                        help="rebuild captions from stored scores with the given options (no model run); "
                        "needs an explicit --mode")
    parser.add_argument("--fresh", action="store_true", help="start a new job instead of resuming an interrupted one")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_no_wait(parser)
    parser.set_defaults(handler=cmd_tag)


def options_from_args(args) -> TagOptions:
    """TagOptions from parsed arguments."""
    exclude = tuple(t for item in args.exclude for t in parse_tag_list(item))
    always_first = tuple(t for item in args.always_first for t in parse_tag_list(item))
    return TagOptions(
        general_threshold=args.general_threshold if args.general_threshold is not None else args.thresh,
        character_threshold=args.character_threshold if args.character_threshold is not None else args.thresh,
        rating=args.rating or "none",
        exclude=exclude,
        remove_underscore=args.remove_underscore,
        replacements=parse_replacements(args.replace),
        character_first=args.character_first,
        character_expand=args.character_expand,
        always_first=always_first,
        separator=args.separator,
    )


def _model_key(spec: str | None) -> str | None:
    """The key scores are stored under, without downloading anything."""
    if spec is None:
        return None
    if spec in KNOWN_MODELS:
        return KNOWN_MODELS[spec]
    path = Path(spec).expanduser()
    if path.exists():
        return f"local:{path.resolve()}"
    return spec


async def cmd_tag(ctx, args) -> int:
    if args.list_models:
        for short, repo in KNOWN_MODELS.items():
            out(f"{short:32} {repo}{'  (default)' if short == DEFAULT_MODEL else ''}")
        return 0
    if not args.name:
        raise InputError("name the dataset to tag: loratui tag NAME")
    if args.batch_size is not None and args.batch_size < 1:
        raise InputError("--batch-size must be at least 1")
    options = options_from_args(args)
    async with Store.open(ctx.paths.db) as store:
        dataset = await service.get_dataset(store, args.name)
        if args.rethreshold:
            with waiting(args):
                return await _rethreshold(store, dataset, options, args)
        settings = ctx.settings.tagging
        request = TagRequest(model=args.model or settings.model or None, options=options,
                             mode=parse_mode(args.mode or Mode.SKIP_EXISTING.value, TAG_MODES),
                             device=args.device or settings.device, batch_size=args.batch_size, workers=args.workers,
                             fast_decode=args.fast_decode,
                             resume=not args.fresh)
        async with job_progress(f"Tagging {dataset.name}", store) as track:
            try:
                with waiting(args):
                    report = await tag_dataset(store, dataset, request, on_update=track.update,
                                               on_runner=track.attach, on_download=track.download)
            except Cancelled:
                return track.cancelled()
    if args.json:
        print_json(report.__dict__)
        return 0
    info(f"job {report.job_id}: {report.model} on {report.provider or 'no model run'}"
         + (f" (batch {report.batch_size})" if report.batch_size else ""))
    if report.note:
        info(f"note: {report.note}")
    for path, reason in report.failed[:20]:
        info(f"unreadable: {path}: {reason}")
    info(report.summary())
    if report.top_tags:
        info("top tags: " + ", ".join(f"{tag} ({n})" for tag, n in report.top_tags[:15]))
    return 0


async def _rethreshold(store, dataset, options, args) -> int:
    if args.mode is None:
        raise InputError("--rethreshold rewrites captions: say how with --mode overwrite, --mode append "
                         "or --mode skip-existing")
    report = await rethreshold_dataset(store, dataset, options, parse_mode(args.mode, TAG_MODES),
                                       model_key=_model_key(args.model))
    if args.json:
        print_json(report.__dict__)
    else:
        info(report.summary())
    return 0
