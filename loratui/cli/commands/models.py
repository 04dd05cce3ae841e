"""`loratui models ...`: download base models from the Hub or Civitai, list what is on disk, say what a file is."""

from __future__ import annotations

import argparse
from pathlib import Path

from loratui.cli.output import info, out, print_json, print_table, progress_bar
from loratui.errors import InputError, JobError, LoratuiError
from loratui.jobs.runner import Cancelled
from loratui.loras import civitai, download
from loratui.loras.hub import token_from_env
from loratui.loras.present import human_size
from loratui.loras.tasks import run_job
from loratui.models.identify import identify
from loratui.store import Store


def register(parser: argparse.ArgumentParser) -> None:
    """Build the `models` command group."""
    parser.description = "Download base models, list the ones on disk and say what a model file is."
    sub = parser.add_subparsers(dest="models_command", metavar="SUBCOMMAND", title="subcommands")

    download = sub.add_parser(
        "download", help="download a model (hash-checked; current files are skipped)",
        description="`models download REPO [--file F]` fetches F (default: every top-level .safetensors) from a "
                    "Hub model repo through huggingface_hub into DIR/<path in the repo> (its bookkeeping in "
                    "DIR/.cache/huggingface; HF_HUB_OFFLINE and HF_ENDPOINT are respected); "
                    "`models download --civitai URL|ID` fetches a Civitai model version's primary file (http and "
                    "https only, also across redirects; free space checked first; stopped past the size Civitai "
                    "declares) and resumes an interrupted download from its NAME.part file; --refetch starts it "
                    "over.")
    download.add_argument("repo", nargs="?", metavar="REPO", help="Hub repo id, e.g. stabilityai/sdxl-vae")
    download.add_argument("--file", help="one file of the repo")
    download.add_argument("--revision", default="main", help="branch, tag or commit (default main)")
    download.add_argument("--civitai", metavar="URL|ID", help="a Civitai model URL or model version id")
    download.add_argument("--family", metavar="ID",
                          help="every model file a training family needs, from the Hub repos its record names, "
                               "each into DIR/<repo>/ (`loratui train families ID` lists them)")
    download.add_argument("--to", metavar="DIR", help="target folder (default: HOME/models)")
    download.add_argument("--token-env", metavar="VAR",
                          help="environment variable with the token (default HF_TOKEN, or CIVITAI_API_TOKEN)")
    download.add_argument("--refetch", action="store_true",
                          help="Civitai: discard the partial NAME.part of an earlier run and start over")
    download.add_argument("--json", action="store_true")
    download.set_defaults(handler=cmd_download)

    lst = sub.add_parser("list", help="downloaded models and model files in HOME/models")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_list)

    inspect = sub.add_parser(
        "inspect", help="say which family, variant and kind of file a .safetensors model is (header only)",
        description="Reads only the safetensors header of FILE (no tensor is loaded, nothing is unpickled; "
                    "headers over 100 MB are refused) and says what it holds: a full model (U-Net/DiT with its "
                    "VAE and/or text encoders), a U-Net or DiT alone, a VAE, a text or image encoder, or a LoRA; "
                    "the family (SD 1.x/2.x, SDXL, SD3/3.5, FLUX.1, Chroma, Lumina 2, HunyuanImage-2.1, Anima, "
                    "Qwen-Image, FLUX.2, Z-Image, Wan 2.1/2.2, HunyuanVideo, HunyuanVideo 1.5, FramePack, "
                    "Kandinsky 5, HiDream-O1) and the variant as far as the key layout tells (where variants share "
                    "a layout, the metadata and then the file name narrow them, and the output says which). A "
                    "truncated or corrupt file is an error (exit 2); a layout loratui does not know is reported "
                    "as such (exit 0).")
    inspect.add_argument("files", nargs="+", metavar="FILE", help="one or more .safetensors files")
    inspect.add_argument("--json", action="store_true", help="a JSON list, one object per file")
    inspect.set_defaults(handler=cmd_inspect)


def _family_downloads(family_id: str) -> list:
    from loratui.training.families import get_family

    family = get_family(family_id)
    if not family.downloads:
        raise InputError(f"the {family.name} record names no Hub files to download",
                         hint=f"`loratui train families {family.id}` says where its models come from")
    return [(item, family.role(item.role)) for item in family.downloads]


async def cmd_download(ctx, args) -> int:
    if args.family and (args.repo or args.civitai or args.file):
        raise InputError("--family downloads the family's own files; give no REPO, --file or --civitai with it")
    wanted = _family_downloads(args.family) if args.family else []
    if not wanted and bool(args.repo) == bool(args.civitai):
        raise InputError("give either a Hub REPO, --family ID or --civitai URL|ID")
    if args.refetch and not args.civitai:
        raise InputError("--refetch is for Civitai downloads (Hub downloads check and resume on their own)")
    if args.civitai and args.file:
        raise InputError("--file is for Hub repos; Civitai downloads the version's primary file")
    folder = Path(args.to).expanduser().resolve() if args.to else ctx.paths.models
    var = args.token_env or ("CIVITAI_API_TOKEN" if args.civitai else "HF_TOKEN")
    token = token_from_env(var)
    if args.civitai:
        title, params = f"Download Civitai {args.civitai}", {"civitai": args.civitai, "to": str(folder)}
    elif wanted:
        title, params = f"Download {args.family} model files", {"family": args.family, "to": str(folder)}
    else:
        title, params = f"Download {args.repo}", {"repo": args.repo, "file": args.file, "to": str(folder)}

    async with Store.open(ctx.paths.db) as store:
        with progress_bar("Downloading") as update:
            def work(progress):
                report = lambda name, done, total: progress(done, total, name)  # noqa: E731
                if args.civitai:
                    return [civitai.download_civitai(args.civitai, folder, token=token, progress=report,
                                                     refetch=args.refetch)]
                if wanted:  # one repo folder each: FLUX.1's and FLUX.2's ae.safetensors must not collide
                    return [got for item, _role in wanted
                            for got in download.download_hf(item.repo, folder / item.repo, item.file,
                                                            revision=args.revision, token=token, progress=report)]
                return download.download_hf(args.repo, folder, args.file, revision=args.revision, token=token,
                                            progress=report)

            try:
                job_id, results = await run_job(store, "download", title, params, work,
                                                on_progress=lambda done, total, _n: update(done, total or 0))
            except Cancelled:
                raise JobError("the download was cancelled; run it again to go on (finished files are kept)") from None
        for item in results:
            await download.record_download(store, item)
    if args.json:
        print_json({"job_id": job_id, "files": [{"path": str(r.path), "size": r.size, "sha256": r.sha256,
                                                 "resumed_from": r.resumed_from, "skipped": r.skipped}
                                                for r in results]})
        return 0
    for item in results:
        state = "already complete" if item.skipped else (
            f"resumed at {item.resumed_from} bytes" if item.resumed_from else "downloaded")
        info(f"{item.path} ({item.size} bytes, sha256 {item.sha256[:12]}…): {state}")
    if wanted:
        sets = [f"--set {role.option}={got.path}" for (_item, role), got in zip(wanted, results) if role]
        info("for `loratui train new`: " + " ".join(sets))
    return 0


async def cmd_list(ctx, args) -> int:
    async with Store.open(ctx.paths.db) as store:
        rows = await download.list_models(store, ctx.paths.models)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        info(f"no models yet; `loratui models download REPO` puts them in {ctx.paths.models}")
        return 0
    print_table(["source", "ref", "file", "size", "on disk"],
                [[r["source"], r["ref"], r["path"], human_size(r["size"]), "yes" if r["exists"] else "MISSING"]
                 for r in rows])
    return 0


def cmd_inspect(ctx, args) -> int:
    if len(args.files) == 1:
        results: list = [identify(Path(args.files[0]).expanduser())]
    else:
        results = []
        for name in args.files:
            try:
                results.append(identify(Path(name).expanduser()))
            except LoratuiError as exc:
                results.append((name, exc))
    failed = [r for r in results if isinstance(r, tuple)]
    if args.json:
        print_json([{"path": r[0], "error": r[1].message} if isinstance(r, tuple) else r.as_dict()
                    for r in results])
        return 2 if failed else 0
    for result in results:
        if isinstance(result, tuple):
            info(f"error: {result[0]}: {result[1].message}")
            continue
        out(f"{result.path}: {result.describe()}")
        if result.variants and result.variant_source:
            out(f"  variant from: {result.variant_source}")
        for part in result.parts:
            where = f" under {part.prefix}" if part.prefix else ""
            variants = f" ({' or '.join(part.variants)})" if part.variants else ""
            out(f"  {part.role}: {part.label}{variants}, {part.layout or '?'} layout, {part.keys} tensors{where}")
        if result.kind == "lora":
            out(f"  {result.lora_modules} modules" + (", trains the text encoder too" if result.lora_text_encoder
                                                      else "")
                + (f", {result.lora_network}" if result.lora_network else ""))
        for key, value in result.metadata.items():
            out(f"  metadata {key}: {value}")
        for note in result.notes:
            out(f"  note: {note}")
    return 2 if failed else 0
