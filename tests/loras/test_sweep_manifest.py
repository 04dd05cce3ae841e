"""The sweep manifest: round trip, resumable cells, refused keys and broken files."""

import pytest

from loratui.errors import LoraError
from loratui.loras import sweep_manifest as sm


def _manifest():
    rows = [sm.SweepRow(key=sm.BASELINE_KEY, label="no LoRA"),
            sm.SweepRow(key="e2", label="epoch 2", lora="/x/a-000002.safetensors", strength=1.0, epoch=2)]
    cols = [sm.SweepColumn(key="p0-s1", prompt="a cat", seed=1),
            sm.SweepColumn(key="p0-s2", prompt="a cat", seed=2, negative="blurry")]
    return sm.SweepManifest(id="s1", family="sd15", trainer="kohya", base_model="/m/sd.safetensors",
                            rows=rows, columns=cols, job_id=3)


def test_round_trip_and_missing_cells(tmp_path):
    manifest = _manifest()
    sm.save(tmp_path, manifest)
    assert sm.load(tmp_path) == manifest
    assert len(sm.missing_cells(tmp_path, manifest)) == 4
    done = sm.cell_path(tmp_path, "e2", "p0-s2")
    done.parent.mkdir(parents=True)
    done.write_bytes(b"png")
    missing = sm.missing_cells(tmp_path, manifest)
    assert ("e2", "p0-s2") not in [(r.key, c.key) for r, c in missing] and len(missing) == 3
    assert manifest.row(sm.BASELINE_KEY).is_baseline and not manifest.row("e2").is_baseline


@pytest.mark.parametrize("key", ["../x", "a/b", "", ".", "x" * 81, "a b"])
def test_unsafe_keys_are_refused(tmp_path, key):
    manifest = _manifest()
    manifest.rows[1].key = key
    with pytest.raises(LoraError):
        sm.save(tmp_path, manifest)


def test_duplicate_keys_and_unknown_choice_are_refused(tmp_path):
    manifest = _manifest()
    manifest.columns[1].key = "p0-s1"
    with pytest.raises(LoraError, match="twice"):
        sm.save(tmp_path, manifest)
    manifest = _manifest()
    manifest.chosen = "nope"
    with pytest.raises(LoraError):
        sm.save(tmp_path, manifest)


@pytest.mark.parametrize("text", ["", "{", '{"version": 1}', '{"version": 9}', "[]"])
def test_broken_manifests_raise_lora_errors(tmp_path, text):
    (tmp_path / sm.MANIFEST_NAME).write_text(text)
    with pytest.raises(LoraError):
        sm.load(tmp_path)
    with pytest.raises(LoraError, match="no sweep.json"):
        sm.load(tmp_path / "elsewhere")
