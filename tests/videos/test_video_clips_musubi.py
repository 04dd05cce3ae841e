"""Against a real musubi-tuner (optional): runs only when LORATUI_MUSUBI_DIR is set (marker `musubi`).

LORATUI_MUSUBI_DIR is the musubi-tuner checkout, LORATUI_MUSUBI_PYTHON the python of its venv (default
`$LORATUI_MUSUBI_DIR/../venv/bin/python`). No model is needed: for a table of clip settings, the dataset TOML
loratui writes for a folder of generated videos (several frame rates and lengths) is validated and read by
musubi-tuner's own dataset code (``config_utils``: schema, blueprint, datasets) for the Wan architecture (and
HunyuanVideo and FramePack, whose frame rates differ), and its
``VideoDataset.retrieve_latent_cache_batches`` (the latent caching's frame extraction: it decodes every video
with its PyAV) lists the clips it would cache (one per cache file: ``uniform`` on a short video yields one start
several times, written to one file). Every clip (video, start, length) must be one loratui computed, and
the batches per epoch musubi's buckets give (``BucketSelector`` on each clip's original frame size, plus its
length, ``num_repeats`` times, ``ceil(count / batch_size)``) must equal loratui's step count.
"""

from __future__ import annotations

import json
import os
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest

from loratui import tomlio
from loratui.training import musubi
from loratui.training.planner import musubi_report, musubi_sources_for
from loratui.training.video_dataset import video_architecture
from tests.videos.videofiles import make_video

MUSUBI_DIR = os.environ.get("LORATUI_MUSUBI_DIR", "")
MUSUBI_PYTHON = os.environ.get("LORATUI_MUSUBI_PYTHON", "")  # read now: the `home` fixture clears them
pytestmark = [pytest.mark.musubi, pytest.mark.skipif(not MUSUBI_DIR, reason="LORATUI_MUSUBI_DIR not set")]

READER = """
import argparse, json, math, os, sys
from musubi_tuner.dataset import config_utils
from musubi_tuner.dataset.image_video_dataset import BucketSelector, VideoDataset

user_config = config_utils.load_user_config(sys.argv[1])
blueprint = config_utils.BlueprintGenerator(config_utils.ConfigSanitizer()).generate(
    user_config, argparse.Namespace(debug_dataset=False), architecture=sys.argv[2])
group = config_utils.generate_dataset_group_by_blueprint(blueprint.dataset_group, training=False)
clips, batches = [], 0
for dataset in group.datasets:
    if not isinstance(dataset, VideoDataset):
        continue
    selector = BucketSelector(dataset.resolution, dataset.enable_bucket, dataset.bucket_no_upscale,
                              dataset.architecture)
    counts, cached = {}, set()
    for _, batch in dataset.retrieve_latent_cache_batches(1):
        for item in batch:
            if item.latent_cache_path in cached:
                continue  # written to the same cache file again: one item when training
            cached.add(item.latent_cache_path)
            body, tail = os.path.basename(item.item_key).rsplit("_", 1)
            start, length = tail.split(".")[0].split("-")
            clips.append([body, int(start), int(length)])
            key = (*selector.get_bucket_resolution(item.original_size), item.frame_count)
            counts[key] = counts.get(key, 0) + dataset.num_repeats
    batches += sum(math.ceil(n / dataset.batch_size) for n in counts.values())
print(json.dumps({"clips": sorted(clips), "batches": batches}))
"""

VIDEOS = {  # stem: (frames, fps, size)
    "v30": (40, 30, (32, 32)),
    "v24": (30, 24, (48, 32)),
    "ntsc": (33, Fraction(30000, 1001), (32, 32)),
    "slow": (10, 12, (32, 48)),
    "tiny": (5, 8, (32, 32)),
    "sq48": (20, 24, (48, 48)),  # same aspect as the 32x32 ones: one cached size, so one bucket even without upscale
}

CASES = [
    {"target_frames": [1, 9, 25], "frame_extraction": "head"},
    {"target_frames": [24, 13], "frame_extraction": "chunk"},
    {"target_frames": [9], "frame_extraction": "slide", "frame_stride": 4},
    {"target_frames": [9, 17], "frame_extraction": "uniform", "frame_sample": 4},
    {"frame_extraction": "full", "max_frames": 20},
    {"target_frames": [1, 9, 25], "frame_extraction": "head", "source_fps": 30.0},
    {"target_frames": [5], "frame_extraction": "chunk", "source_fps": 24.0},
    {"target_frames": [5, 9], "frame_extraction": "slide", "frame_stride": 3, "source_fps": 12.0},
    {"target_frames": [1, 9], "frame_extraction": "head", "bucket_no_upscale": True},  # buckets of cached sizes
    {"target_frames": [9], "frame_extraction": "chunk", "enable_bucket": False},
    {"family": "hunyuan-video", "target_frames": [5, 9], "frame_extraction": "chunk", "source_fps": 30.0},  # to 24
    {"family": "framepack", "target_frames": [9], "frame_extraction": "slide", "frame_stride": 2, "source_fps": 24.0},
]


WAN_CACHE = """
import os, runpy, sys
import torch
from safetensors.torch import save_file

# musubi's wan/modules/t5.py evaluates torch.cuda.current_device() as a default argument when it is imported (by
# wan/modules/__init__.py): a CPU-only torch raises there. Latent caching never builds the T5, so any device
# index does; nothing else is changed.
if not torch.cuda.is_available():
    torch.cuda.current_device = lambda: 0
import musubi_tuner.wan.modules.vae as wan_vae

# A tiny stand-in for the Wan 2.1 VAE: musubi-tuner's own WanVAE_ with 8 base channels and one residual block
# (the real one: 96 and 2); z_dim 16, the 8x spatial and 4x temporal compression are kept, so latent shapes and
# every code path of wan_cache_latents.py (dataset, frame extraction, bucketing, encode, cache names) are real.
TINY = {"dim": 8, "num_res_blocks": 1}
real_video_vae = wan_vae._video_vae
wan_vae._video_vae = lambda *args, **kwargs: real_video_vae(*args, **{**kwargs, **TINY})
weights = sys.argv[1]
torch.manual_seed(0)
model = wan_vae.WanVAE_(z_dim=16, dim_mult=[1, 2, 4, 4], attn_scales=[], temperal_downsample=[False, True, True],
                        dropout=0.0, **TINY)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
sys.argv = ["wan_cache_latents.py", "--dataset_config", sys.argv[2], "--vae", weights, "--device", "cpu",
            "--vae_dtype", "float32", "--num_workers", "1"]
runpy.run_module("musubi_tuner.wan_cache_latents", run_name="__main__")
"""


def musubi_python() -> str:
    return MUSUBI_PYTHON or str(Path(MUSUBI_DIR).parent / "venv" / "bin" / "python")


@pytest.fixture
async def video_dataset(home, tmp_path):
    from loratui.datasets.service import add_dataset
    from loratui.store import Store

    root = tmp_path / "videos"
    for stem, (frames, fps, size) in VIDEOS.items():
        make_video(root / "3_clips" / f"{stem}.mp4", frames, fps, size=size, pattern=len(stem))
        (root / "3_clips" / f"{stem}.txt").write_text(f"{stem} clip")
    async with Store.open(home / "loratui.db") as store:
        dataset, _ = await add_dataset(store, root, name="videos", workers=1)
        yield store, dataset


@pytest.mark.parametrize("case", CASES,
                         ids=[f"{c.get('family', 'wan')}-{c['frame_extraction']}-{i}" for i, c in enumerate(CASES)])
async def test_clips_match_musubi(video_dataset, tmp_path, case):
    store, dataset = video_dataset
    case = dict(case)
    family = case.pop("family", "wan2.1-t2v-1.3b")
    args = {"resolution": "64,64", "train_batch_size": 2, "max_train_epochs": 1, **case}
    sources = await musubi_sources_for(store, family, dataset.id, args)
    ours = sorted([item.name.rsplit("/", 1)[-1].split(".")[0], *map(int, item.name.rsplit("@", 1)[1].split("+"))]
                  for source in sources for item in source.clips)
    config = musubi.dataset_config(dataset.path, dataset.caption_ext, sources, musubi.dataset_settings(args),
                                   tmp_path / "cache", musubi.video_clip_settings(family, args))
    toml_path = tmp_path / "dataset.toml"
    toml_path.write_text(tomlio.dumps(config))
    env = dict(os.environ, PYTHONPATH=str(Path(MUSUBI_DIR) / "src"))
    architecture = video_architecture(family)
    done = subprocess.run([musubi_python(), "-c", READER, str(toml_path), architecture], cwd=MUSUBI_DIR, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    assert [list(c) for c in ours] == theirs["clips"]
    assert ours  # every case yields clips from some video
    report = musubi_report(sources, family, args, {})
    videos_only = report.batches_per_epoch  # the folder holds only videos
    assert videos_only == theirs["batches"]


async def test_wan_latent_caching_on_a_stand_in_vae(video_dataset, tmp_path):
    """musubi-tuner's wan_cache_latents.py on loratui's dataset TOML (a tiny stand-in VAE built from musubi's own
    model class): it writes exactly one cache file per clip loratui computed, named by start, length and size,
    with the latent's temporal size (length - 1) / 4 + 1."""
    from safetensors import safe_open

    store, dataset = video_dataset
    family = "wan2.1-t2v-1.3b"
    args = {"resolution": "64,64", "target_frames": [1, 5, 9], "frame_extraction": "chunk", "source_fps": 24.0}
    sources = await musubi_sources_for(store, family, dataset.id, args)
    config = musubi.dataset_config(dataset.path, dataset.caption_ext, sources, musubi.dataset_settings(args),
                                   tmp_path / "cache", musubi.video_clip_settings(family, args))
    toml_path = tmp_path / "dataset.toml"
    toml_path.write_text(tomlio.dumps(config))
    env = dict(os.environ, PYTHONPATH=str(Path(MUSUBI_DIR) / "src"), OMP_NUM_THREADS="1")
    done = subprocess.run([musubi_python(), "-c", WAN_CACHE, str(tmp_path / "vae_tiny.safetensors"), str(toml_path)],
                          cwd=MUSUBI_DIR, env=env, capture_output=True, text=True, timeout=480)
    assert done.returncode == 0, done.stderr[-3000:]
    cache = Path(config["datasets"][0]["cache_directory"])
    expected = {}
    for source in sources:
        for item in source.clips:
            stem = item.name.rsplit("/", 1)[-1].split(".")[0]
            start, length = map(int, item.name.rsplit("@", 1)[1].split("+"))
            width, height = item.size
            expected[f"{stem}_{start:05d}-{length:03d}_{width:04d}x{height:04d}_wan.safetensors"] = length
    assert len(expected) > 20 and {name.split("_")[-2] for name in expected} == {
        "0064x0064", "0080x0048", "0048x0080"}  # the sizes musubi caches 32x32, 48x32 and 32x48 frames at
    assert {p.name for p in cache.glob("*_wan.safetensors")} == set(expected)
    for name, length in expected.items():
        with safe_open(str(cache / name), "np") as handle:
            shapes = [handle.get_slice(key).get_shape() for key in handle.keys() if key.startswith("latents_")]
        assert shapes and all(shape[1] == (length - 1) // 4 + 1 for shape in shapes), (name, shapes)
