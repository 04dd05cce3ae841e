"""Against a real sd-scripts (optional): runs only when LORATUI_KOHYA_DIR and LORATUI_KOHYA_PYTHON are set.

1. sd-scripts' own ``preprocess_image`` (imported from ``finetune/tag_images_by_wd14_tagger.py`` in the trainer's
   venv) and ours give identical arrays for RGB, RGBA, LA, palette-with-transparency, grey and CMYK images of sizes
   that shrink, enlarge and pad oddly.
2. sd-scripts' tagger CLI (``--onnx``) with the test model writes exactly the captions ``loratui tag`` writes.
   Character tags are disabled in both: in sd-scripts v0.10.1 the SmilingWolf-format path raises
   UnboundLocalError (`character_tags`) as soon as a character tag passes its threshold.

The trainer's venv usually lacks onnx/onnxruntime; when its Python is the same version as ours, they are borrowed
from this interpreter through a PYTHONPATH folder of symlinks (nothing is installed into it).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from loratui.tagging.preprocess import load_and_preprocess

KOHYA_DIR = os.environ.get("LORATUI_KOHYA_DIR", "")
KOHYA_PYTHON = os.environ.get("LORATUI_KOHYA_PYTHON", "")  # read now: the `home` fixture clears them
pytestmark = [pytest.mark.kohya,
              pytest.mark.skipif(not (KOHYA_DIR and KOHYA_PYTHON), reason="LORATUI_KOHYA_DIR/PYTHON not set")]

_spec = importlib.util.spec_from_file_location("tagging_fixtures", Path(__file__).with_name("conftest.py"))
fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures)

BORROWED = ("onnx", "onnxruntime", "ml_dtypes", "flatbuffers")
REPO = "SmilingWolf/wd-v1-4-convnext-tagger-v2"


def _kohya(code: str, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([KOHYA_PYTHON, "-c", code], env=env, capture_output=True, text=True, timeout=timeout,
                          cwd=KOHYA_DIR)


@pytest.fixture(scope="module")
def kohya_env(tmp_path_factory) -> dict:
    if not (Path(KOHYA_DIR) / "finetune" / "tag_images_by_wd14_tagger.py").is_file():
        pytest.skip("no finetune/tag_images_by_wd14_tagger.py in LORATUI_KOHYA_DIR")
    lib = tmp_path_factory.mktemp("borrowed")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = f"{lib}{os.pathsep}{KOHYA_DIR}"
    version = _kohya("import sys; print(sys.version_info[:2])", env).stdout.strip()
    for name in BORROWED:
        if _kohya(f"import {name}", env).returncode == 0:
            continue
        if version != str(sys.version_info[:2]):
            pytest.skip(f"the trainer's Python lacks {name} and is not Python {sys.version_info[:2]}")
        (lib / name).symlink_to(Path(importlib.util.find_spec(name).submodule_search_locations[0]))
    return env


def _images(folder: Path) -> list[Path]:
    rng = np.random.default_rng(7)

    def noise(size, channels=3):
        base = rng.integers(0, 256, size=channels)
        return np.clip(base + rng.normal(0, 40, size=(size[1], size[0], channels)), 0, 255).astype(np.uint8)

    folder.mkdir(parents=True)
    paths = []
    for number, size in enumerate([(640, 480), (300, 200), (1000, 333), (448, 448), (17, 40), (897, 449)]):
        array = noise(size)
        Image.fromarray(array).save(folder / f"rgb{number}.png")
        Image.fromarray(array).save(folder / f"jpg{number}.jpg", quality=88)
        paths += [folder / f"rgb{number}.png", folder / f"jpg{number}.jpg"]
    Image.fromarray(noise((500, 300), 4), "RGBA").save(folder / "rgba.png")
    Image.fromarray(noise((260, 200), 2), "LA").save(folder / "la.png")
    Image.fromarray(noise((300, 500))).convert("P").save(folder / "pal.png", transparency=3)
    Image.fromarray(noise((520, 480), 1)[:, :, 0], "L").save(folder / "grey.png")
    Image.fromarray(noise((460, 470))).convert("CMYK").save(folder / "cmyk.jpg", quality=90)
    return paths + [folder / n for n in ("rgba.png", "la.png", "pal.png", "grey.png", "cmyk.jpg")]


def test_preprocessing_is_identical_to_sd_scripts(kohya_env, tmp_path):
    paths = _images(tmp_path / "img")
    out = tmp_path / "npy"
    out.mkdir()
    code = (
        "import sys, numpy as np; from PIL import Image; from pathlib import Path\n"
        "from finetune.tag_images_by_wd14_tagger import preprocess_image\n"
        f"for p in Path({str(tmp_path / 'img')!r}).iterdir():\n"
        f"    np.save(Path({str(out)!r}) / (p.name + '.npy'), preprocess_image(Image.open(p)))\n"
    )
    result = _kohya(code, kohya_env)
    assert result.returncode == 0, result.stderr[-2000:]
    for path in paths:
        upstream = np.load(out / f"{path.name}.npy")
        assert upstream.dtype == np.float32
        np.testing.assert_array_equal(load_and_preprocess(path), upstream, err_msg=path.name)


def test_captions_are_identical_to_sd_scripts_tagger(kohya_env, tmp_path, cli):
    images = tmp_path / "upstream"
    _images(images)
    models = tmp_path / "models"
    fixtures.build_model(models / REPO.replace("/", "_"))
    args = [KOHYA_PYTHON, "finetune/tag_images_by_wd14_tagger.py", str(images), "--onnx", "--repo_id", REPO,
            "--model_dir", str(models), "--batch_size", "4", "--thresh", "0.35", "--character_threshold", "1.01",
            "--remove_underscore", "--use_rating_tags", "--undesired_tags", "1girl"]
    result = subprocess.run(args, env=kohya_env, capture_output=True, text=True, timeout=300, cwd=KOHYA_DIR)
    assert result.returncode == 0, result.stderr[-2000:]

    ours = tmp_path / "ours"
    _images(ours / "1_x")
    assert cli("dataset", "add", ours, "--name", "parity").code == 0
    tagged = cli("tag", "parity", "--model", models / REPO.replace("/", "_"), "--thresh", "0.35",
                 "--character-threshold", "1.01", "--remove-underscore", "--rating", "--exclude", "1girl")
    assert tagged.code == 0, tagged
    captions = sorted(images.glob("*.txt"))
    assert len(captions) == 17
    for caption in captions:
        upstream = caption.read_text(encoding="utf-8").rstrip("\n")  # sd-scripts adds a newline
        assert (ours / "1_x" / caption.name).read_text(encoding="utf-8") == upstream, caption.name
