"""`loratui caption NAME`: captions from a vision LLM behind an OpenAI-compatible endpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from loratui.cli.jobprogress import job_progress
from loratui.cli.output import info, print_json
from loratui.cli.writing import add_no_wait, waiting
from loratui.datasets import caption_sets, service
from loratui.datasets.journal import refresh_index
from loratui.errors import InputError
from loratui.jobs.runner import Cancelled
from loratui.store import Store
from loratui.tagging.captioning import CaptionRequest, caption_dataset
from loratui.tagging.modes import CAPTION_MODES, Mode, parse_mode
from loratui.tagging.vlm import DEFAULT_KEY_ENV, DEFAULT_PROMPT, read_api_key


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `caption` command."""
    parser.description = (
        "Send each image (downscaled, as a data URL) to an OpenAI-compatible chat endpoint and write "
        "the answer as its caption. Prompts may use {tags} (the image's current caption), {trigger} and "
        "{filename}. By default images that already have a caption are left alone (--mode skip-existing); "
        "prepend puts the new text before the existing tags. Failed images keep their caption; run again to "
        "retry them (finished images are skipped).")
    parser.add_argument("name", help="dataset name")
    parser.add_argument("--base-url", default=None,
                        help="API root, e.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1 (Ollama), "
                        "http://127.0.0.1:8000/v1 (vLLM) (default: settings' tagging.vlm_base_url)")
    parser.add_argument("--model", default=None,
                        help="model name as the endpoint knows it (default: settings' tagging.vlm_model)")
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", default=None, help="prompt template (default: a training-caption prompt)")
    prompt.add_argument("--prompt-file", default=None, help="read the prompt template from this file")
    parser.add_argument("--api-key-env", default=None, metavar="VAR",
                        help=f"environment variable holding the API key (default {DEFAULT_KEY_ENV}; "
                        "local servers need none)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    parser.add_argument("--max-side", type=int, default=1024,
                        help="downscale images to this longest side (default 1024)")
    parser.add_argument("--mode", default=Mode.SKIP_EXISTING.value, choices=[m.value for m in CAPTION_MODES],
                        help="images that already have a caption: skip-existing (default), overwrite, append, prepend")
    parser.add_argument("--trigger", default=None,
                        help="value of {trigger} (default: the class tokens of the image's N_concept folder)")
    parser.add_argument("--separator", default=", ", help="between new and existing text in append/prepend")
    parser.add_argument("--max-tokens", type=int, default=400, help="longest answer in tokens (default 400)")
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request (default 120)")
    parser.add_argument("--retries", type=int, default=5, help="retries on 429/5xx/timeouts (default 5)")
    parser.add_argument("--backoff", type=float, default=1.0,
                        help="first retry delay in seconds, doubled each retry (a server's Retry-After wins)")
    parser.add_argument("--set", metavar="EXT", help="the caption set to write, e.g. .caption (default: the dataset's "
                                                     "own extension, .txt; a new set is added to the dataset)")
    parser.add_argument("--fresh", action="store_true", help="start a new job instead of resuming an interrupted one")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    add_no_wait(parser)
    parser.set_defaults(handler=cmd_caption)


def _prompt(args) -> str:
    if args.prompt_file:
        try:
            return Path(args.prompt_file).expanduser().read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the prompt file {args.prompt_file}: {exc}") from None
    return args.prompt if args.prompt is not None else DEFAULT_PROMPT


async def cmd_caption(ctx, args) -> int:
    prompt = _prompt(args)
    if not prompt.strip():
        raise InputError("the prompt is empty")
    settings = ctx.settings.tagging
    base_url, model = args.base_url or settings.vlm_base_url, args.model or settings.vlm_model
    if not base_url or not model:
        raise InputError("say where to send images: --base-url URL --model NAME "
                         "(or set tagging.vlm_base_url / tagging.vlm_model in config.toml)")
    key_env = args.api_key_env or (settings.vlm_api_key_env if settings.vlm_api_key_env != DEFAULT_KEY_ENV else None)
    request = CaptionRequest(
        base_url=base_url, model=model, prompt=prompt, api_key=read_api_key(key_env),
        api_key_env=key_env or DEFAULT_KEY_ENV, backoff_s=args.backoff,
        concurrency=args.concurrency, max_side=args.max_side, mode=parse_mode(args.mode, CAPTION_MODES),
        trigger=args.trigger, separator=args.separator, max_tokens=args.max_tokens, temperature=args.temperature,
        timeout_s=args.timeout, retries=args.retries, resume=not args.fresh,
    )
    async with Store.open(ctx.paths.db) as store:
        dataset = await service.get_dataset(store, args.name)
        if args.set is not None:
            ext, new = await caption_sets.add_set(store, dataset, args.set)
            request.caption_set = caption_sets.set_key(dataset, ext)
            if new:  # sidecars of the new set already there must be indexed before they are merged with
                await refresh_index(store, dataset)
        async with job_progress(f"Captioning {dataset.name}", store) as track:
            try:
                with waiting(args):
                    report = await caption_dataset(store, dataset, request, on_update=track.update,
                                                   on_runner=track.attach)
            except Cancelled:
                return track.cancelled()
    if args.json:
        print_json(report.__dict__)
    else:
        for path, reason in report.failed[:20]:
            info(f"failed: {path}: {reason}")
        info(report.summary())
    return 1 if report.failed else 0
