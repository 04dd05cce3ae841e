"""Camie v2 and PixAI taggers: preprocessing, tag lists in their real formats, output choice, Hub download and a
whole tagging run, with tiny ONNX models of the same input/output layout built with `onnx`."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from loratui.errors import ModelError
from loratui.tagging.labels import ARTIST, CHARACTER, COPYRIGHT, GENERAL, RATING, YEAR, read_camie_labels, read_labels
from loratui.tagging.preprocess import CAMIE_PAD, IMAGENET_MEAN, IMAGENET_STD, preprocess_camie, preprocess_pixai
from tests import fakehub

FIXTURES = Path(__file__).parents[1] / "fixtures" / "taggers"

# Weights on the mean of each normalised input channel (R, G, B), and biases: the scores a test expects.
CAMIE_WEIGHTS = np.array([(2, -1, -1), (-1, -1, 2), (-1, 2, -1), (-1, 2, -1), (0, 0, 0), (0, 0, 0), (0, 0, 0),
                          (0, 0, 0)], dtype=np.float32).T
CAMIE_BIAS = np.array([0, 0, 0, -1, 3, 5, 5, 5], dtype=np.float32)
PIXAI_WEIGHTS = np.array([(2, -1, -1), (-1, -1, 2), (-1, 2, -1), (-1, 2, -1), (0, 0, 0)], dtype=np.float32).T
PIXAI_BIAS = np.array([0, 0, 0, -1, -10], dtype=np.float32)


def _save(folder: Path, name: str, nodes, inits, inputs, outputs) -> None:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    onnx.save(model, str(folder / name))


def build_camie(folder: Path) -> Path:
    """camie-tagger-v2.onnx + its metadata: input [N, 3, 512, 512]; outputs initial_predictions (logits that pass
    nothing), refined_predictions (the logits to use) and selected_candidates, as the real export has."""
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    tags = len(CAMIE_BIAS)
    nodes = [
        helper.make_node("ReduceMean", ["image", "axes"], ["mean"], keepdims=0),
        helper.make_node("MatMul", ["mean", "weights"], ["raw"]),
        helper.make_node("Add", ["raw", "bias"], ["refined_predictions"]),
        helper.make_node("Add", ["raw", "bias_initial"], ["initial_predictions"]),
        helper.make_node("TopK", ["refined_predictions", "k"], ["top_values", "selected_candidates"]),
    ]
    inits = [numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"),
             numpy_helper.from_array(CAMIE_WEIGHTS, "weights"), numpy_helper.from_array(CAMIE_BIAS, "bias"),
             numpy_helper.from_array(np.full(tags, -20, dtype=np.float32), "bias_initial"),
             numpy_helper.from_array(np.array([2], dtype=np.int64), "k")]
    _save(folder, "camie-tagger-v2.onnx", nodes, inits,
          [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 512, 512])],
          [helper.make_tensor_value_info("initial_predictions", TensorProto.FLOAT, ["N", tags]),
           helper.make_tensor_value_info("refined_predictions", TensorProto.FLOAT, ["N", tags]),
           helper.make_tensor_value_info("selected_candidates", TensorProto.INT64, ["N", 2])])
    shutil.copy(FIXTURES / "camie-tagger-v2-metadata.json", folder / "camie-tagger-v2-metadata.json")
    return folder


def build_pixai(folder: Path) -> Path:
    """model.onnx + selected_tags.csv of the deepghs PixAI export: input 'input' [N, 3, 448, 448]; outputs
    embedding, logits and prediction (sigmoid), in that order."""
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    tags = len(PIXAI_BIAS)
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes"], ["embedding"], keepdims=0),
        helper.make_node("MatMul", ["embedding", "weights"], ["raw"]),
        helper.make_node("Add", ["raw", "bias"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["prediction"]),
    ]
    inits = [numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"),
             numpy_helper.from_array(PIXAI_WEIGHTS, "weights"), numpy_helper.from_array(PIXAI_BIAS, "bias")]
    _save(folder, "model.onnx", nodes, inits,
          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch_size", 3, 448, 448])],
          [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch_size", 3]),
           helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch_size", tags]),
           helper.make_tensor_value_info("prediction", TensorProto.FLOAT, ["batch_size", tags])])
    shutil.copy(FIXTURES / "pixai_selected_tags.csv", folder / "selected_tags.csv")
    return folder


@pytest.fixture(scope="module")
def camie_model(tmp_path_factory) -> Path:
    return build_camie(tmp_path_factory.mktemp("camie") / "camie")


@pytest.fixture(scope="module")
def pixai_model(tmp_path_factory) -> Path:
    return build_pixai(tmp_path_factory.mktemp("pixai") / "pixai")


def test_camie_preprocessing_keeps_the_aspect_pads_with_the_mean_and_normalises_nchw_rgb():
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    array = preprocess_camie(image, 512)
    assert array.shape == (3, 512, 512) and array.dtype == np.float32
    red = (np.array([1.0, 0.0, 0.0], dtype=np.float32) - IMAGENET_MEAN) / IMAGENET_STD
    pad = (np.array(CAMIE_PAD, dtype=np.float32) / 255 - IMAGENET_MEAN) / IMAGENET_STD
    # 200x100 -> 512x256, centred: rows 128..383 hold the image, the rest is padding.
    np.testing.assert_allclose(array[:, 256, 256], red, atol=1e-5)
    np.testing.assert_allclose(array[:, 10, 256], pad, atol=1e-5)
    np.testing.assert_allclose(array[:, 127, 10], pad, atol=1e-5)
    np.testing.assert_allclose(array[:, 129, 10], red, atol=0.05)
    assert np.abs(pad).max() < 0.01  # the padding is close to zero once normalised
    tall = preprocess_camie(Image.new("RGB", (50, 100), (0, 0, 255)), 64)
    assert np.allclose(tall[:, 32, 1], (np.array(CAMIE_PAD) / 255 - IMAGENET_MEAN) / IMAGENET_STD, atol=1e-5)
    assert tall[2, 32, 32] > 2  # blue is channel 2


def test_pixai_preprocessing_squashes_onto_white_and_scales_to_minus_one_one():
    image = Image.new("RGBA", (120, 60), (255, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, 60, 60))  # the left half transparent
    array = preprocess_pixai(image, 448)
    assert array.shape == (3, 448, 448) and array.dtype == np.float32
    assert array.min() >= -1.0 and array.max() <= 1.0
    np.testing.assert_allclose(array[:, 200, 50], [1.0, 1.0, 1.0], atol=1e-5)  # transparent -> white
    np.testing.assert_allclose(array[:, 200, 400], [1.0, -1.0, -1.0], atol=1e-5)  # red, full height: no padding
    np.testing.assert_allclose(array[:, 2, 400], [1.0, -1.0, -1.0], atol=1e-5)
    # PixAI's handler resizes with torchvision's Resize((448, 448)): Pillow's bilinear filter on a PIL image.
    ramp = Image.fromarray(np.tile(np.arange(0, 250, 2, dtype=np.uint8), (70, 1))).convert("RGB")
    expected = np.asarray(ramp.resize((448, 448), Image.BILINEAR), dtype=np.float32) / 127.5 - 1
    np.testing.assert_allclose(preprocess_pixai(ramp, 448), expected.transpose(2, 0, 1), atol=1e-6)
    assert not np.allclose(preprocess_pixai(ramp, 448), np.asarray(ramp.resize((448, 448), Image.BICUBIC),
                                                                     dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1)


def test_tag_lists_in_the_real_formats():
    camie = read_camie_labels(FIXTURES / "camie-tagger-v2-metadata.json")
    assert camie.names == ("red_theme", "blue_theme", "green_theme", "hatsune_miku", "general", "some_artist",
                           "vocaloid", "2024")
    assert camie.categories == (GENERAL, GENERAL, GENERAL, CHARACTER, RATING, ARTIST, COPYRIGHT, YEAR)
    pixai = read_labels(FIXTURES / "pixai_selected_tags.csv")
    assert pixai.names == ("red_theme", "blue_theme", "green_theme", "hatsune_miku", "^_^")
    assert pixai.categories == (GENERAL, GENERAL, GENERAL, CHARACTER, GENERAL)


def test_broken_tag_lists_are_model_errors(tmp_path):
    bad = tmp_path / "meta.json"
    for text, message in {
        '{"dataset_info": {}}': "not a Camie metadata file",
        '{"dataset_info": {"tag_mapping": {"idx_to_tag": {"0": "a", "2": "b"}, "tag_to_category": {}}}}':
            "no tag for output 1",
        '{"dataset_info": {"tag_mapping": {"idx_to_tag": {"0": "a"}, "tag_to_category": {"a": "weird"}}}}':
            "unknown category 'weird'",
        "{not json": "cannot read",
    }.items():
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ModelError, match=message):
            read_camie_labels(bad)
    csv_file = tmp_path / "selected_tags.csv"
    csv_file.write_text("id,tag_id,name,category\n0,1,a,x\n", encoding="utf-8")
    with pytest.raises(ModelError, match="expected id,tag_id,name,category"):
        read_labels(csv_file)


def test_sessions_pick_the_score_output(camie_model, pixai_model, wd14_model):
    from loratui.tagging.session import open_session

    camie = open_session(camie_model / "camie-tagger-v2.onnx", "cpu", fmt="camie")
    assert (camie.size, camie.output_name, camie.sigmoid) == (512, "refined_predictions", True)
    batch = np.stack([preprocess_camie(Image.new("RGB", (64, 64), (250, 10, 10)), 512)])
    expected = 1 / (1 + np.exp(-(batch.mean(axis=(2, 3)) @ CAMIE_WEIGHTS + CAMIE_BIAS)))
    np.testing.assert_allclose(camie.run(batch), expected, atol=1e-4)  # float32 sums of 262144 pixels
    pixai = open_session(pixai_model / "model.onnx", "cpu", fmt="pixai")
    assert (pixai.size, pixai.output_name, pixai.sigmoid) == (448, "prediction", False)
    assert pixai.run(np.zeros((2, 3, 448, 448), np.float32)).shape == (2, 5)
    with pytest.raises(ModelError, match=r"a Camie tagger takes \[batch, 3, size, size\]"):
        open_session(wd14_model / "model.onnx", "cpu", fmt="camie")
    with pytest.raises(ModelError, match="has no output 'prediction'"):
        open_session(camie_model / "camie-tagger-v2.onnx", "cpu", fmt="pixai")


@pytest.mark.parametrize("kind", ["camie", "pixai"])
def test_tagging_a_dataset_with_a_local_folder(kind, cli, colour_dataset, camie_model, pixai_model, home):
    import sqlite3

    folder = camie_model if kind == "camie" else pixai_model
    assert cli("dataset", "add", colour_dataset, "--name", "ds").code == 0
    result = cli("tag", "ds", "--model", folder, "--json")
    assert result.code == 0, result
    assert result.json()["written"] == 3

    def tags(name):
        return set((colour_dataset / "10_hero" / name).read_text(encoding="utf-8").split(", "))

    assert tags("a_red.txt") == {"red_theme"}
    assert tags("c_blue.txt") == {"blue_theme"}
    assert tags("b_green.txt") == {"green_theme", "hatsune_miku"}  # a character tag above the threshold
    # Camie's artist, copyright and year tags score high but are not written (general, character, rating only).
    conn = sqlite3.connect(home / "loratui.db")
    model = conn.execute("SELECT DISTINCT model FROM tag_scores").fetchall()
    assert model == [(f"local:{folder.resolve()}",)]
    if kind == "camie":
        rated = cli("tag", "ds", "--model", folder, "--rating", "--mode", "overwrite", "--json")
        assert rated.code == 0 and "general" in tags("a_red.txt")


def test_known_repos_download_their_own_files(camie_model, pixai_model, monkeypatch, tmp_path):
    import huggingface_hub.constants as hub_constants

    from loratui.tagging.registry import model_source, resolve_model

    assert model_source("camie-tagger-v2").repo_id == "Camais03/camie-tagger-v2"
    assert model_source("pixai-tagger-v0.9").repo_id == "deepghs/pixai-tagger-v0.9-onnx"
    assert model_source("wd-eva02-large-tagger-v3").repo_id == "SmilingWolf/wd-eva02-large-tagger-v3"
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with fakehub.serve() as hub:
        for name in ("camie-tagger-v2.onnx", "camie-tagger-v2-metadata.json"):
            hub.add_file("Camais03/camie-tagger-v2", name, (camie_model / name).read_bytes(), lfs=name.endswith("onnx"))
        for name in ("model.onnx", "selected_tags.csv"):
            hub.add_file("deepghs/pixai-tagger-v0.9-onnx", name, (pixai_model / name).read_bytes(),
                         lfs=name.endswith("onnx"))
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        camie = resolve_model("camie-tagger-v2")
        pixai = resolve_model("deepghs/pixai-tagger-v0.9-onnx")
        assert "/Camais03/camie-tagger-v2/resolve/main/camie-tagger-v2-metadata.json" in hub.paths("/Camais03/")
    assert (camie.key, camie.format, camie.model_path.name, camie.tags_path.name) == (
        "Camais03/camie-tagger-v2", "camie", "camie-tagger-v2.onnx", "camie-tagger-v2-metadata.json")
    assert (pixai.format, pixai.model_path.name, pixai.tags_path.name) == ("pixai", "model.onnx",
                                                                           "selected_tags.csv")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    with pytest.raises(ModelError) as info:
        resolve_model("camie-tagger-v2")
    assert "hf download Camais03/camie-tagger-v2 camie-tagger-v2.onnx camie-tagger-v2-metadata.json" in \
        info.value.one_line()


def test_local_folders_are_recognised_by_their_files(camie_model, pixai_model, wd14_model, tmp_path):
    from loratui.tagging.registry import local_folder

    assert local_folder(camie_model).format == "camie"
    assert local_folder(pixai_model).format == "pixai"
    assert local_folder(wd14_model).format == "wd14"
    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(camie_model / "camie-tagger-v2-metadata.json", half)
    with pytest.raises(ModelError, match="lacks camie-tagger-v2.onnx"):
        local_folder(half)
