"""`loratui lora sweep` and `loratui lora sweeps`: render prompts x seeds through every checkpoint of a training."""

from __future__ import annotations

import argparse
import asyncio

from loratui.cli.output import info, out, print_json, print_table, progress_bar
from loratui.errors import InputError, JobError
from loratui.jobs import repo
from loratui.store import Store

SWEEP_HELP = """Render the same prompts and seeds through every checkpoint of a training (or through LoRA files) with
the family's own inference script (sd-scripts gen_img.py, SDXL with --sdxl; musubi-tuner
qwen_image_generate_image.py): one script run, one model load, per checkpoint and strength. The images go to
<output_dir>/sweeps/<id>/images/<row>/<col>.png (LoRA files: <home>/sweeps/<id>/) next to sweep.json. The sweep
runs as a job in the training queue, detached; `loratui jobs cancel JOB` stops it, and `loratui lora sweep-resume
SWEEP` renders only the images still missing."""


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def register(sub) -> None:
    """Add `sweep` and `sweeps` to the `lora` command group."""
    sweep = sub.add_parser("sweep", help="render prompts x seeds through every checkpoint of a training (a queued job)",
                           description=SWEEP_HELP)
    sweep.add_argument("targets", nargs="+", metavar="JOB|FILE", help="a training job id, or LoRA files (these need "
                       "--base)")
    prompts = sweep.add_argument_group("prompts")
    prompts.add_argument("--prompts", metavar="FILE", help="prompts file: one prompt a line, sd-scripts' inline "
                         "--n/--d/--w/--h/--s/--l options (default: the training's sample prompts)")
    prompts.add_argument("--prompt-set", metavar="NAME", help="a prompt set saved for the dataset")
    prompts.add_argument("--save-prompts", metavar="NAME", help="save the prompts used as the dataset's prompt set NAME")
    prompts.add_argument("--dataset", metavar="NAME", help="the dataset of --prompt-set/--save-prompts (default: the "
                         "training's)")
    prompts.add_argument("--seeds", type=_ints, metavar="1,2,...", help="seeds (default: each prompt's --d, else 42)")
    rows = sweep.add_argument_group("rows")
    rows.add_argument("--every", type=int, default=1, metavar="N", help="every Nth checkpoint (the last one always)")
    rows.add_argument("--strengths", type=_floats, default=(1.0,), metavar="0.8,1.0", help="LoRA strengths (default 1)")
    rows.add_argument("--no-baseline", action="store_true", help="leave out the row rendered without the LoRA")
    render = sweep.add_argument_group("rendering")
    render.add_argument("--steps", type=int, help="sampling steps (default: 28 sd-scripts, 25 musubi-tuner)")
    render.add_argument("--width", type=int, help="default: the training's resolution")
    render.add_argument("--height", type=int, help="default: the training's resolution")
    render.add_argument("--scale", type=float, help="guidance scale (default: the script's)")
    render.add_argument("--sampler", default="euler_a", help="sd-scripts sampler (default euler_a)")
    render.add_argument("--family", help="model family of the LoRA files (default: identified from the files)")
    render.add_argument("--base", metavar="PATH", help="base model (sd-scripts --ckpt, musubi-tuner --dit); default: "
                        "the training's")
    render.add_argument("--vae", metavar="PATH")
    render.add_argument("--text-encoder", metavar="PATH", help="musubi-tuner's --text_encoder")
    render.add_argument("--network-module", help="sd-scripts network module (default: the training's, else "
                        "networks.lora)")
    render.add_argument("--script-arg", action="append", default=[], metavar="ARG",
                        help="one more argument for the inference script (repeatable), e.g. --script-arg=--bf16")
    sweep.add_argument("--queue", action="store_true", help="wait in the queue even if a slot is free")
    sweep.add_argument("--wait", action="store_true", help="follow the job until it ends")
    sweep.add_argument("--json", action="store_true")
    sweep.set_defaults(handler=cmd_sweep)

    resume = sub.add_parser("sweep-resume", help="render the missing images of a sweep (a new queued job)")
    resume.add_argument("sweep", metavar="SWEEP", help="a sweep id (`loratui lora sweeps`)")
    resume.add_argument("--queue", action="store_true", help="wait in the queue even if a slot is free")
    resume.add_argument("--wait", action="store_true", help="follow the job until it ends")
    resume.add_argument("--json", action="store_true")
    resume.set_defaults(handler=cmd_sweep_resume)

    sets = sub.add_parser("prompt-sets", help="the prompt sets saved for a dataset (lora sweep --save-prompts)")
    sets.add_argument("dataset", metavar="DATASET")
    sets.add_argument("--show", metavar="NAME", help="print the prompts of one set, one a line")
    sets.add_argument("--json", action="store_true")
    sets.set_defaults(handler=cmd_prompt_sets)

    sweeps = sub.add_parser("sweeps", help="list checkpoint sweeps")
    sweeps.add_argument("--job", type=int, metavar="JOB", help="only the sweeps of this training")
    sweeps.add_argument("--json", action="store_true")
    sweeps.set_defaults(handler=cmd_sweeps)


async def _wait(store: Store, job_id: int) -> dict:
    from loratui.training.run.reconcile import reconcile

    with progress_bar("rendering") as update:
        while True:
            await reconcile(store)  # a dead supervisor ends the job
            job = await store.run(repo.get_job, job_id)
            update(job.progress_done, job.progress_total or 0)
            if job.terminal:
                return job.as_dict()
            await asyncio.sleep(0.5)


async def cmd_sweep(ctx, args) -> int:
    # Imported here: the sweep modules load the trainer and model catalogs, which `lora list` does not need.
    from loratui.training.sweep.build import RowSpec
    from loratui.training.sweep.launch import SweepRequest, start_sweep

    if args.every < 1:
        raise InputError("--every must be 1 or more")
    request = SweepRequest(
        targets=list(args.targets), prompts_file=args.prompts, prompt_set=args.prompt_set,
        save_prompt_set=args.save_prompts, dataset=args.dataset, seeds=args.seeds,
        rows=RowSpec(every=args.every, strengths=args.strengths, baseline=not args.no_baseline), width=args.width,
        height=args.height, steps=args.steps, scale=args.scale, sampler=args.sampler, family=args.family,
        base=args.base, vae=args.vae, text_encoder=args.text_encoder, network_module=args.network_module,
        script_args=list(args.script_arg), queue=args.queue)
    async with Store.open(ctx.paths.db) as store:
        result = await start_sweep(store, ctx, request)
        return await _report(store, args, result)


async def cmd_sweep_resume(ctx, args) -> int:
    from loratui.training.sweep.launch import resume_sweep

    async with Store.open(ctx.paths.db) as store:
        result = await resume_sweep(store, ctx, args.sweep, queue=args.queue)
        return await _report(store, args, result)


async def _report(store: Store, args, result: dict) -> int:
    if not args.json:
        info(f"sweep {result['id']}: {result['rows']} row(s) x {result['columns']} column(s) = {result['cells']} "
             f"image(s), {result['missing']} to render, job {result['job_id']}")
        info(f"folder: {result['folder']}")
    if args.wait:
        job = await _wait(store, result["job_id"])
        result["status"] = job["status"]
        if job["status"] != "completed":
            if args.json:
                print_json(dict(result, error=job.get("error") or job.get("message")))
            raise JobError(f"sweep job {result['job_id']} {job['status']}: {job.get('message') or ''}".strip(),
                           hint=f"`loratui train logs {result['job_id']}` shows the script's output; "
                                f"`loratui lora sweep-resume {result['id']}` renders what is missing")
    if args.json:
        print_json(result)
    elif args.wait:
        info(f"done: {result['cells']} image(s) in {result['folder']}")
    return 0


async def cmd_sweeps(ctx, args) -> int:
    from loratui.training.sweep.launch import list_sweeps

    async with Store.open(ctx.paths.db) as store:
        records = await list_sweeps(store, args.job)
    if args.json:
        print_json([r.as_dict() for r in records])
        return 0
    if not records:
        info("no sweeps yet; start one with `loratui lora sweep JOB`")
        return 0
    print_table(["id", "status", "family", "cells", "training", "job", "folder"],
                [[r.id, r.current_status, r.family or "", r.cells, r.source_job_id or "", r.job_id or "", r.folder]
                 for r in records])
    return 0


async def cmd_prompt_sets(ctx, args) -> int:
    from loratui.datasets import dataset_repo
    from loratui.training.sweep import sweep_repo

    async with Store.open(ctx.paths.db) as store:
        dataset = await store.run(dataset_repo.get_dataset, args.dataset)
        if args.show:
            lines = await store.run(sweep_repo.get_prompt_set, dataset.id, args.show)
            if args.json:
                print_json({"name": args.show, "prompts": lines})
            else:
                for line in lines:
                    out(line)
            return 0
        sets = await store.run(sweep_repo.list_prompt_sets, dataset.id)
    if args.json:
        print_json([{"name": name, "prompts": count} for name, count in sets])
    elif not sets:
        info(f"no prompt sets for {dataset.name}; save one with `loratui lora sweep JOB --prompts FILE "
             "--save-prompts NAME`")
    else:
        print_table(["name", "prompts"], [[name, count] for name, count in sets])
    return 0
