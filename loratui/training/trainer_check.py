"""The trainer's own verdict on a plan, before launch: its parsers, its --config_file reader, its dataset validator.

loratui's own checks (``validate``) know the options' types; only the installed trainer knows what its scripts
accept and how it reads its files. ``check_plan`` writes the plan's files into a scratch folder and runs
``schema_dump.py check`` in the trainer's Python, which

* parses every phase's argv with that script's own (finished) parser: an unknown flag or a bad value fails;
* reads sd-scripts' ``--config_file`` like sd-scripts does and reports the keys it would silently ignore (no such
  option) or keep with the wrong type (it does not convert config-file values);
* validates the dataset TOML with the trainer's ``config_utils`` (sd-scripts' ``library.config_util``, musubi's
  ``musubi_tuner.dataset.config_utils`` with the family's architecture code), which also lists the images.

Nothing is trained and no model is loaded: the scripts stop at their first ``parse_args``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from loratui.errors import TrainingError
from loratui.training import kohya
from loratui.training.families import get_family
from loratui.training.plan import TrainPlan
from loratui.training.schema import trainer_env, last_line
from loratui.training.trainer import Trainer
from loratui.training.validate import Issue

DUMPER = Path(__file__).with_name("schema_dump.py")


def script_and_args(argv: list[str]) -> tuple[str, list[str]]:
    """Split a phase's argv (python or accelerate launch) into the script and the arguments it parses."""
    for index, part in enumerate(argv[1:], start=1):
        if part.endswith(".py"):
            return part, argv[index + 1:]
    raise TrainingError(f"no script in argv {argv[:4]}...")


def check_job(plan: TrainPlan) -> dict:
    """What ``schema_dump.py check`` is asked to do for `plan` (its files already written into plan.workdir)."""
    family = get_family(plan.family)
    phases = []
    for phase in plan.phases:
        script, args = script_and_args(phase.argv)
        phases.append({"name": phase.name, "script": script, "argv": args})
    job: dict = {"phases": phases, "config_file": None, "dataset": None}
    if plan.backend == "kohya":
        job["config_file"] = {"phase": "train", "path": str(plan.workdir / kohya.CONFIG_FILE_NAME)}
    job["dataset"] = {"phase": "train", "path": str(plan.workdir / kohya.DATASET_FILE_NAME),
                      "dialect": family.dataset_dialect, "architecture": family.architecture}
    return job


def issues_from_result(result: dict) -> list[Issue]:
    """The findings of ``schema_dump.py check`` as validation issues (field names say where)."""
    issues = []
    for phase in result.get("phases", []):
        if phase.get("error"):
            issues.append(Issue(f"{phase['name']} argv", f"{phase['script']} rejects it: {phase['error']}"))
    found = result.get("config_file") or {}
    for key in found.get("unknown", []):
        issues.append(Issue(key, "is not an option of the training script: sd-scripts would silently ignore it "
                                 "in --config_file"))
    for key, message in found.get("problems", []):
        issues.append(Issue(key, message))
    dataset = result.get("dataset") or {}
    if dataset.get("error"):
        issues.append(Issue("dataset_config", f"the trainer's dataset validator: {dataset['error']}"))
    return issues


def check_plan(plan: TrainPlan, trainer: Trainer, *, timeout: float = 600) -> tuple[list[Issue], dict]:
    """Run `plan` through `trainer`'s own parsers and dataset validator; returns (issues, raw result).

    The plan's files are written into a scratch copy of its workdir, so nothing of a real job is touched.
    """
    return check_plans([plan], trainer, timeout=timeout)[0]


def check_plans(plans: list[TrainPlan], trainer: Trainer, *,
                timeout: float = 900) -> list[tuple[list[Issue], dict]]:
    """`check_plan` for several plans of one trainer in one process (the trainer's imports are paid once)."""
    with tempfile.TemporaryDirectory(prefix="loratui-check-") as tmp:
        scratch = Path(tmp)
        jobs = []
        for index, plan in enumerate(plans):
            local = _relocated(plan, scratch / f"job{index}")
            local.write_files()
            jobs.append(check_job(local))
        job_path, out_path = scratch / "job.json", scratch / "result.json"
        job_path.write_text(json.dumps({"jobs": jobs}), encoding="utf-8")
        try:
            proc = subprocess.run([trainer.python, str(DUMPER), "check", str(job_path), str(out_path)],
                                  capture_output=True, text=True, timeout=timeout, cwd=str(trainer.root),
                                  check=False, env=trainer_env())
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TrainingError(f"could not run the trainer's checks with {trainer.python}: {exc}") from None
        if proc.returncode != 0 or not out_path.exists():
            raise TrainingError(f"the trainer's checks did not run: {last_line(proc.stderr or proc.stdout)}")
        results = json.loads(out_path.read_text(encoding="utf-8"))["results"]
    return [(issues_from_result(result), result) for result in results]


def _relocated(plan: TrainPlan, workdir: Path) -> TrainPlan:
    """`plan` with its workdir (in files and argv) moved to `workdir`."""
    old, new = str(plan.workdir), str(workdir)
    files = {name: text.replace(old, new) for name, text in plan.files.items()}
    phases = [type(p)(p.name, [part.replace(old, new) for part in p.argv], p.cwd, dict(p.env)) for p in plan.phases]
    return TrainPlan(backend=plan.backend, family=plan.family, workdir=workdir, files=files, phases=phases,
                     output_dir=plan.output_dir, output_name=plan.output_name, total_steps=plan.total_steps,
                     epochs=plan.epochs, save_state=plan.save_state)
