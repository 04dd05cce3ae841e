"""`loratui train sweep|sweeps|compare`: training sweeps (one job per combination of grid values) and runs
compared side by side. Registered by `loratui.cli.commands.train`."""

from __future__ import annotations


from loratui.cli.output import info, out, print_json, print_table
from loratui.errors import InputError
from loratui.store import Store
from loratui.training.config import load_config
from loratui.training.run import queue as run_queue
from loratui.training.run import sweep_repo
from loratui.training.run.compare import curve, load_comparison
from loratui.training.run.sweep import create_sweep, parse_grid, plan_sweep


def register(sub, add_set, parse_overrides) -> None:
    """Add the sweep, sweeps and compare subcommands to the `train` group (`add_set` and `parse_overrides`:
    the group's `--set` option and its parser)."""
    sweep = sub.add_parser(
        "sweep", help="queue one training per combination of grid values (a training sweep)",
        description="Expand CONFIG into one training job per combination of the --grid values, each with its own "
                    "output name and folder (NAME-lr1e-4-dim16 inside output_dir), and queue them. Grid keys are "
                    "trainer options, checked against the installed trainer's schema; values are converted by the "
                    "option's type. Every run is planned (validated) before any job is created. Compare the "
                    "runs with `loratui train compare --sweep ID`.")
    sweep.add_argument("config", help="training config TOML")
    sweep.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                       help="an option and its values (repeatable; values split on commas, or on semicolons when "
                            "there is one: resolution=512,512;768,768)")
    add_set(sweep)
    sweep.add_argument("--dry-run", action="store_true", help="list the runs without creating jobs")
    sweep.add_argument("--json", action="store_true")
    sweep.set_defaults(handler=cmd_sweep, parse_overrides=parse_overrides)

    sweeps = sub.add_parser("sweeps", help="list training sweeps and their runs")
    sweeps.add_argument("sweep", type=int, nargs="?", help="show one training sweep")
    sweeps.add_argument("--json", action="store_true")
    sweeps.set_defaults(handler=cmd_sweeps)

    compare = sub.add_parser(
        "compare", help="compare training runs: differing config values, final/min loss, steps, time",
        description="Compare training jobs side by side: the config values that differ between them (from each "
                    "job's saved config), status, steps, final and minimum loss and training time, and where "
                    "recorded the chosen checkpoint and peak GPU memory. The TUI's comparison screen (monitor: "
                    "space marks jobs, C compares) overlays their loss curves.")
    compare.add_argument("jobs", type=int, nargs="*", metavar="JOB")
    compare.add_argument("--sweep", type=int, metavar="ID", help="the runs of a training sweep (plus any JOBs)")
    compare.add_argument("--curves", type=int, nargs="?", const=200, metavar="N",
                         help="with --json: each run's loss curve, downsampled to N points (default 200)")
    compare.add_argument("--smoothing", type=float, default=0.0, metavar="W",
                         help="EMA weight for --curves, 0 (raw) to 0.999")
    compare.add_argument("--by-epoch", action="store_true", help="--curves by epoch instead of step")
    compare.add_argument("--json", action="store_true")
    compare.set_defaults(handler=cmd_compare)


def _values_text(values: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


async def cmd_sweep(ctx, args) -> int:
    grid = parse_grid(args.grid)
    overrides = args.parse_overrides(args.overrides)
    if args.dry_run:
        _config, runs = plan_sweep(ctx, load_config(args.config), grid, overrides)
        if args.json:
            print_json({"runs": [{"label": r.label, "output_name": r.output_name, "values": r.values,
                                  "output_dir": r.overrides["output_dir"]} for r in runs]})
            return 0
        print_table(["run", "output name", "values"], [(r.label, r.output_name, _values_text(r.values))
                                                        for r in runs], title=f"{len(runs)} runs (not created)")
        return 0
    async with Store.open(ctx.paths.db) as store:
        await run_queue.advance(store, ctx)
        sweep = await create_sweep(store, ctx, args.config, grid, overrides=overrides)
    if args.json:
        print_json(sweep.to_dict())
        return 0
    out(sweep.id)
    print_table(["job", "run", "values"], [(r.job_id, r.label, _values_text(r.values)) for r in sweep.runs],
                title=f"training sweep {sweep.id}: {len(sweep.runs)} runs of {sweep.name}")
    info(f"compare them with `loratui train compare --sweep {sweep.id}`")
    return 0


async def cmd_sweeps(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        if args.sweep is not None:
            sweeps = [await store.run(sweep_repo.get_sweep, args.sweep)]
        else:
            sweeps = await store.run(sweep_repo.list_sweeps)
    if args.json:
        print_json(sweeps[0].to_dict() if args.sweep is not None else [s.to_dict() for s in sweeps])
        return 0
    if not sweeps:
        info("no training sweeps yet: `loratui train sweep CONFIG --grid KEY=V1,V2`")
        return 0
    print_table(["sweep", "name", "runs", "jobs", "grid"],
                [(s.id, s.name, len(s.runs), " ".join(str(r.job_id) for r in s.runs),
                  " ".join(f"{k}={','.join(v)}" for k, v in s.grid)) for s in sweeps])
    return 0


async def cmd_compare(ctx, args) -> int:
    if not 0.0 <= args.smoothing < 1.0:
        raise InputError("--smoothing must be at least 0 and below 1")
    async with Store.open(ctx.paths.db) as store:
        if not store.readonly:
            await run_queue.advance(store, ctx)
        comparison = await load_comparison(store, args.jobs, sweep_id=args.sweep)
    if args.json:
        data = comparison.to_dict()
        if args.curves:
            for entry, run in zip(data["runs"], comparison.runs):
                entry["curve"] = [[round(x, 4), y] for x, y in curve(run, smoothing=args.smoothing,
                                                                       by_epoch=args.by_epoch, limit=args.curves)]
        print_json(data)
        return 0
    columns = [""] + [f"{run.job.id} {run.label}" for run in comparison.runs]
    print_table(columns, [[name, *cells] for name, cells in comparison.rows()],
                title=f"training sweep {comparison.sweep_id}" if comparison.sweep_id is not None else None)
    if not comparison.differing:
        info("the runs' configs are the same")
    return 0
