"""`loratui caption NAME`: captions from a vision LLM behind an OpenAI-compatible endpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from loratui.cli.jobprogress import job_progress
from loratui.cli.output import info, out, print_json
from loratui.cli.writing import add_no_wait, waiting
from loratui.datasets import caption_sets, service
from loratui.datasets.journal import refresh_index
from loratui.errors import InputError
from loratui.jobs.runner import Cancelled
from loratui.store import Store
from loratui.tagging.caption_templates import LENGTHS, all_templates, find_template, parse_length
from loratui.tagging.captioning import ITEM_KINDS, VIDEO_INPUTS, CaptionRequest, caption_dataset
from loratui.tagging.modes import CAPTION_MODES, Mode, parse_mode
from loratui.tagging.video_sampling import DEFAULT_FRAMES, MAX_FRAMES
from loratui.tagging.vlm import DEFAULT_KEY_ENV, DEFAULT_PROMPT, read_api_key

DEFAULT_MAX_TOKENS = 400


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `caption` command."""
    parser.description = (
        "Send each image (downscaled, as a data URL) to an OpenAI-compatible chat endpoint and write "
        "the answer as its caption. Video clips send --frames frames sampled evenly over the clip in one "
        "message. Prompts may use {tags} (the item's current caption), {trigger}, {filename}, {frames}, {media} "
        "and {length}; --template picks a built-in prompt (--list-templates). By default items that already have "
        "a caption are left alone (--mode skip-existing); prepend puts the new text before the existing tags. "
        "Failed items keep their caption; run again to retry them (finished items are skipped).")
    parser.add_argument("name", nargs="?", help="dataset name")
    parser.add_argument("--base-url", default=None,
                        help="API root, e.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1 (Ollama), "
                        "http://127.0.0.1:8000/v1 (vLLM) (default: settings' tagging.vlm_base_url)")
    parser.add_argument("--model", default=None,
                        help="model name as the endpoint knows it (default: settings' tagging.vlm_model)")
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", default=None, help="prompt template (default: a training-caption prompt)")
    prompt.add_argument("--prompt-file", default=None, help="read the prompt template from this file")
    prompt.add_argument("--template", default=None, metavar="NAME",
                        help="a named prompt: wan-video, hunyuan-video, video-short, qwen-vl, joycaption-descriptive, "
                        "joycaption-straightforward, joycaption-booru, joycaption-training, default, or one from "
                        "--template-file")
    parser.add_argument("--template-file", default=None, metavar="TOML",
                        help="your own templates: [templates.NAME] tables with prompt, media, description, "
                        "max_tokens")
    parser.add_argument("--list-templates", action="store_true", help="list the prompt templates and exit")
    parser.add_argument("--length", default="long",
                        help=f"{{length}} in the prompt (JoyCaption): {', '.join(LENGTHS)}, or a number of words "
                        "(default long)")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES,
                        help=f"frames sampled evenly over each video clip, 1-{MAX_FRAMES} (default {DEFAULT_FRAMES})")
    parser.add_argument("--video-input", default="frames", choices=VIDEO_INPUTS,
                        help="how a clip's frames are sent: frames (one image each, any vision endpoint; default) "
                        "or video_url (one vLLM video part, for models that take video such as Qwen2.5-VL)")
    parser.add_argument("--items", default="all", choices=ITEM_KINDS,
                        help="caption all items (default), only images or only video clips")
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
    parser.add_argument("--max-tokens", type=int, default=None,
                        help=f"longest answer in tokens (default: the template's, else {DEFAULT_MAX_TOKENS})")
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


def _prompt(args) -> tuple[str, int | None]:
    """The prompt template and the answer length its template asks for (None: not a named template)."""
    if args.prompt_file:
        try:
            return Path(args.prompt_file).expanduser().read_text(encoding="utf-8").strip(), None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the prompt file {args.prompt_file}: {exc}") from None
    if args.template is not None:
        template = find_template(args.template, _template_file(args))
        return template.prompt, template.max_tokens
    return (args.prompt if args.prompt is not None else DEFAULT_PROMPT), None


def _template_file(args) -> Path | None:
    return Path(args.template_file).expanduser() if args.template_file else None


def _list_templates(args) -> int:
    templates = all_templates(_template_file(args))
    if args.json:
        print_json([{"name": t.name, "media": t.media, "description": t.description, "max_tokens": t.max_tokens,
                     "source": t.source, "prompt": t.prompt} for t in templates.values()])
        return 0
    for template in templates.values():
        where = "" if template.source == "built-in" else f"  [{template.source}]"
        out(f"{template.name:28} {template.media:6} {template.description}{where}")
    return 0


async def cmd_caption(ctx, args) -> int:
    if args.list_templates:
        return _list_templates(args)
    if not args.name:
        raise InputError("name the dataset to caption: loratui caption NAME")
    if args.template_file and args.template is None:
        raise InputError("--template-file needs --template NAME (the template to use from it)")
    prompt, template_tokens = _prompt(args)
    if not prompt.strip():
        raise InputError("the prompt is empty")
    max_tokens = args.max_tokens or template_tokens or DEFAULT_MAX_TOKENS
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
        trigger=args.trigger, separator=args.separator, max_tokens=max_tokens, temperature=args.temperature,
        timeout_s=args.timeout, retries=args.retries, resume=not args.fresh, frames=args.frames,
        video_input=args.video_input, items=args.items, length=parse_length(args.length),
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
