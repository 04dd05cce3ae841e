"""Fixtures for tagging tests: a tiny WD14-shaped ONNX model built with `onnx`, and coloured datasets.

The model takes float32 [N, 448, 448, 3] (BGR, 0-255 as WD14 expects) and returns sigmoid scores over a small
selected_tags.csv (4 rating rows, general rows, character rows). Each score is
``sigmoid(W^T mean_bgr / 255 + b)``, so a test can predict the tags of an image from its colours; `reference_scores`
computes exactly that in numpy.
"""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import numpy as np
import pytest

# (name, category, weights on mean B, G, R in 0..1, bias)
TAGS = [
    ("general", 9, (0, 0, -8), 4),
    ("sensitive", 9, (0, 0, 8), -4),
    ("questionable", 9, (0, 0, 0), -6),
    ("explicit", 9, (0, 0, 0), -8),
    ("red_theme", 0, (-10, -10, 10), 0),
    ("blue_theme", 0, (10, -10, -10), 0),
    ("green_theme", 0, (-10, 10, -10), 0),
    ("white_background", 0, (6, 6, 6), -15),
    ("dark", 0, (-6, -6, -6), 6),
    ("1girl", 0, (0, 0, 0), 3),
    ("^_^", 0, (0, 0, 0), 3),
    ("long_hair", 0, (0, 0, 2), -0.5),
    ("hatsune_miku_(vocaloid)", 4, (-10, 10, -10), 2),
    ("red_hero_(series_x)", 4, (-10, -10, 10), 2),
    ("blue_knight", 4, (10, -10, -10), -1),
    ("nobody", 4, (0, 0, 0), -9),
]

RED = (220, 20, 20)
GREEN = (20, 220, 20)
BLUE = (20, 20, 220)


def _weights() -> tuple[np.ndarray, np.ndarray]:
    weights = np.array([t[2] for t in TAGS], dtype=np.float32).T  # [3, T]
    bias = np.array([t[3] for t in TAGS], dtype=np.float32)
    return weights, bias


def reference_scores(batch: np.ndarray) -> np.ndarray:
    """What the test model computes for a preprocessed batch."""
    means = batch.mean(axis=(1, 2)) / 255.0
    weights, bias = _weights()
    return 1.0 / (1.0 + np.exp(-(means @ weights + bias)))


def build_model(folder: Path, batch: int | str = "N", size: int = 448, slow: bool = False) -> Path:
    """Write model.onnx + selected_tags.csv for the test model into `folder`.

    `slow` adds a convolution whose result is multiplied by zero: same scores, real work per image (so a run
    lasts long enough to be killed in the middle)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    weights, bias = _weights()
    nodes = [
        helper.make_node("ReduceMean", ["input_1", "axes"], ["mean"], keepdims=0),
        helper.make_node("Div", ["mean", "scale"], ["norm"]),
        helper.make_node("MatMul", ["norm", "weights"], ["logits0"]),
        helper.make_node("Add", ["logits0", "bias"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["predictions_sigmoid"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "axes"),
        numpy_helper.from_array(np.array(255.0, dtype=np.float32), "scale"),
        numpy_helper.from_array(weights, "weights"),
        numpy_helper.from_array(bias, "bias"),
    ]
    if slow:
        nodes[3] = helper.make_node("Add", ["logits0", "bias"], ["logits1"])
        nodes[4:4] = [
            helper.make_node("Transpose", ["input_1"], ["nchw"], perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["nchw", "kernel"], ["conv"], pads=[2, 2, 2, 2]),
            helper.make_node("ReduceMean", ["conv", "axes_all"], ["conv_mean"], keepdims=0),
            helper.make_node("Unsqueeze", ["conv_mean", "axes_last"], ["conv_col"]),
            helper.make_node("Mul", ["conv_col", "zero"], ["nothing"]),
            helper.make_node("Add", ["logits1", "nothing"], ["logits"]),
        ]
        inits += [
            numpy_helper.from_array(np.full((8, 3, 5, 5), 0.01, dtype=np.float32), "kernel"),
            numpy_helper.from_array(np.array([1, 2, 3], dtype=np.int64), "axes_all"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "axes_last"),
            numpy_helper.from_array(np.zeros((1,), dtype=np.float32), "zero"),
        ]
    graph = helper.make_graph(
        nodes, "wd14_test",
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, [batch, size, size, 3])],
        [helper.make_tensor_value_info("predictions_sigmoid", TensorProto.FLOAT, [batch, len(TAGS)])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / "model.onnx"))
    with open(folder / "selected_tags.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tag_id", "name", "category", "count"])
        for number, (name, category, _, _) in enumerate(TAGS):
            writer.writerow([1000 + number, name, category, 100 - number])
    return folder


@pytest.fixture(scope="session")
def wd14_model(tmp_path_factory) -> Path:
    """A folder with the dynamic-batch test model."""
    return build_model(tmp_path_factory.mktemp("wd14") / "tiny-tagger")


@pytest.fixture(scope="session")
def wd14_fixed_model(tmp_path_factory) -> Path:
    """The test model with a fixed batch size of 3."""
    return build_model(tmp_path_factory.mktemp("wd14fixed") / "tiny-tagger-b3", batch=3)


@pytest.fixture
def colour_dataset(tmp_path, image_factory):
    """A kohya-style folder: 10_hero/ with red, green, blue images (various sizes) and one captioned image."""
    root = tmp_path / "ds"
    concept = root / "10_hero"
    image_factory(concept / "a_red.png", size=(600, 500), color=RED)
    image_factory(concept / "b_green.jpg", size=(300, 400), color=GREEN)
    image_factory(concept / "c_blue.png", size=(448, 448), color=BLUE)
    image_factory(concept / "d_red_captioned.png", size=(500, 500), color=RED)
    (concept / "d_red_captioned.txt").write_text("my own caption, hand written", encoding="utf-8")
    return root


@pytest.fixture
def store_with(home):
    """Async helper: open the test home's store and run `fn(store)`."""
    from loratui.config import Context
    from loratui.store import Store

    def run(fn):
        async def go():
            ctx = Context.load(home)
            async with Store.open(ctx.paths.db) as store:
                return await fn(store)

        return asyncio.run(go())

    return run
