"""LoRA files: recognised as LoRAs and matched to the family whose layers they adapt (module names + shapes)."""

from __future__ import annotations

import pytest

from loratui.models.identify import identify
from tests.models.layouts import load, lora_layout, write_lora

# (layout, kwargs for lora_layout, families, variants)
CASES = [
    ("sd15_unet_diffusers", {}, ("sd1",), ()),
    ("sd2_unet_diffusers", {}, ("sd2",), ()),
    ("sdxl_checkpoint", {"strip": "model.diffusion_model."}, ("sdxl",), ()),
    ("sdxl_unet_diffusers", {"naming": "peft", "prefix": "unet."}, ("sdxl",), ()),
    ("sd3_medium_dit", {}, ("sd3",), ("3-medium", "3.5-medium")),
    ("sd35_medium_dit", {}, ("sd3",), ("3.5-medium",)),
    ("sd35_large_dit", {}, ("sd3",), ("3.5-large",)),
    ("flux1_dev_dit", {}, ("flux1",), ("dev", "schnell", "kontext")),
    ("flux1_dev_dit_diffusers", {"naming": "peft", "prefix": "transformer."}, ("flux1",),
     ("dev", "schnell", "kontext")),
    ("chroma_dit", {}, ("flux1", "chroma"), ()),
    ("flux2_dev_dit", {}, ("flux2",), ("dev",)),
    ("flux2_klein_4b_dit", {}, ("flux2",), ("klein-4b", "klein-base-4b")),
    ("flux2_klein_9b_dit", {}, ("flux2",), ("klein-9b", "klein-base-9b")),
    ("hunyuan_image21_dit", {}, ("hunyuan-image-2.1",), ()),
    ("hunyuan_video_dit", {}, ("hunyuan-video",), ()),
    ("hv15_dit", {}, ("hunyuan-video-1.5",), ("t2v", "i2v")),
    ("qwen_image_dit", {}, ("qwen-image",), ()),
    ("qwen_image_dit", {"naming": "peft", "prefix": "diffusion_model."}, ("qwen-image",), ()),
    ("framepack_dit", {"match": r"(blocks)\.(0|19|39)\."}, ("framepack",), ("FramePack", "FramePack-F1")),
    ("lumina2_dit", {}, ("lumina2",), ()),
    ("zimage_dit", {}, ("z-image",), ()),
    ("zimage_dit_comfyui", {}, ("z-image",), ()),
    ("wan_t2v-1.3B_dit", {}, ("wan",), ("t2v-1.3B", "t2v-1.3B-FC")),
    ("wan_t2v-14B_dit", {}, ("wan",), ("t2v-14B", "t2i-14B", "t2v-A14B", "i2v-A14B", "t2v-14B-FC")),
    ("wan_i2v-14B_dit", {}, ("wan",), ("i2v-14B", "flf2v-14B", "i2v-14B-FC")),
    ("wan_t2v-1.3B-FC_dit", {}, ("wan",), ("t2v-1.3B-FC",)),
    ("anima_dit", {}, ("anima",), ()),
    ("kandinsky5_lite_t2i_dit", {}, ("kandinsky5",), ("lite-t2i", "lite-i2i")),
    ("kandinsky5_lite_video_dit", {}, ("kandinsky5",), ("lite-t2v", "lite-i2v")),
    ("kandinsky5_pro_video_dit", {}, ("kandinsky5",), ("pro-t2v", "pro-i2v")),
    ("hidream_o1_checkpoint", {"strip": "diffusion_model."}, ("hidream-o1",), ("full", "dev")),
]


@pytest.mark.parametrize(("layout", "options", "families", "variants"), CASES,
                         ids=[f"{c[0]}-{c[1].get('naming', 'kohya')}" for c in CASES])
def test_lora_family_from_its_modules(tmp_path, layout, options, families, variants):
    options = {"match": r"(blocks|layers)\.[0-4]\.", "rank": 2, **options}
    path = write_lora(tmp_path / "lora.safetensors", lora_layout(load(layout), **options))
    info = identify(path)
    assert info.kind == "lora" and info.lora_modules > 0
    assert info.families == families
    assert info.variants == variants
    assert not info.lora_text_encoder


def test_metadata_settles_what_the_modules_leave_open(tmp_path):
    tensors = lora_layout(load("chroma_dit"), match=r"blocks\.0\.", rank=2)
    info = identify(write_lora(tmp_path / "c.safetensors", tensors, {"ss_base_model_version": "chroma"}))
    assert info.families == ("chroma",)
    tensors = lora_layout(load("qwen_image_dit"), match=r"blocks\.0\.", rank=2)
    info = identify(write_lora(tmp_path / "q.safetensors", tensors,
                               {"modelspec.architecture": "Qwen-Image-Edit-Plus/lora"}))
    assert (info.families, info.variants, info.variant_source) == (("qwen-image",), ("edit-2509",), "metadata")


def test_text_encoder_modules_are_noticed(tmp_path):
    tensors = lora_layout(load("sd15_unet_diffusers"), match=r"blocks\.0\.", rank=2)
    tensors.update(lora_layout(load("clip_l"), match=r"layers\.[0-1]\.", rank=2, prefix="lora_te_"))
    info = identify(write_lora(tmp_path / "l.safetensors", tensors))
    assert info.families == ("sd1",) and info.lora_text_encoder


def test_text_encoder_only_sd_lora(tmp_path):
    tensors = lora_layout(load("clip_l"), match=r"layers\.[0-1]\.", rank=2, prefix="lora_te_")
    info = identify(write_lora(tmp_path / "te.safetensors", tensors))
    assert info.kind == "lora" and info.families == ("sd1",) and info.lora_text_encoder


def test_text_encoder_only_sd2_and_sdxl_loras(tmp_path):
    from tests.models.layouts import sd2_text_encoder

    tensors = lora_layout(sd2_text_encoder(), match=r"layers\.[0-1]\.", rank=2, prefix="lora_te_")
    assert identify(write_lora(tmp_path / "sd2.safetensors", tensors)).families == ("sd2",)
    tensors = lora_layout(load("clip_l"), match=r"layers\.[0-1]\.", rank=2, prefix="lora_te1_")
    tensors.update(lora_layout(load("clip_g"), match=r"layers\.[0-1]\.", rank=2, prefix="lora_te2_"))
    info = identify(write_lora(tmp_path / "sdxl.safetensors", tensors))
    assert info.families == ("sdxl", "sd3") and info.lora_text_encoder  # SD3's lora_te1/te2 are CLIP-L/G too
    info = identify(write_lora(tmp_path / "sdxl2.safetensors", tensors, {"ss_base_model_version": "sdxl_base_v1-0"}))
    assert info.families == ("sdxl",)
    # with its DiT layers, an SD3 LoRA that also trains CLIP-G is SD3 only
    tensors.update(lora_layout(load("sd3_medium_dit"), match=r"blocks\.0\.", rank=2))
    assert identify(write_lora(tmp_path / "sd3.safetensors", tensors)).families == ("sd3",)


def test_lora_of_no_known_family(tmp_path):
    tensors = lora_layout({"my.blocks.0.proj.weight": ((32, 16), "F32")}, rank=2)
    info = identify(write_lora(tmp_path / "x.safetensors", tensors))
    assert info.kind == "lora" and info.families == () and "no known family" in info.notes[0]


def test_real_sd_scripts_lora_fixture():
    # tests/fixtures/loras/: a LoRA written by real sd-scripts on the tiny SD1.5 model (tiny widths), so no
    # family fits its shapes: still a LoRA, with the family the metadata names.
    from tests.conftest import FIXTURES

    files = sorted((FIXTURES / "loras").glob("*.safetensors"))
    assert files
    info = identify(files[0])
    assert info.kind == "lora" and info.lora_modules == 204 and info.lora_text_encoder
    assert info.families == ("sd1",) and any("family from the metadata" in n for n in info.notes)


def test_every_lora_fingerprint_is_exercised(tmp_path, monkeypatch):
    """Each LoRA fingerprint matches at least one LoRA built above from a real layout (none is untested)."""
    import loratui.models.identify as identify_module
    import loratui.models.lora_target as module

    hit: set[int] = set()
    matching = module.matching

    def spy(paths):
        found = matching(paths)
        hit.update(id(fp) for fp in found)
        return found

    monkeypatch.setattr(module, "matching", spy)
    identify_module._identify_cached.cache_clear()
    for index, (layout, options, families, variants) in enumerate(CASES):
        folder = tmp_path / str(index)
        folder.mkdir()
        test_lora_family_from_its_modules(folder, layout, options, families, variants)
    for test in (test_text_encoder_only_sd_lora, test_text_encoder_only_sd2_and_sdxl_loras):
        test(tmp_path)
    missed = [(fp.family, fp.variants) for fp in module.LORA_FINGERPRINTS if id(fp) not in hit]
    assert missed == []
