"""identify(): stand-ins with the real key layouts of every family are named correctly, from the header alone."""

from __future__ import annotations

import json
import os
import struct

import pytest

from loratui.errors import ModelError, NotFoundError
from loratui.models.identify import identify
from tests.models.layouts import load, prefixed, sd2_text_encoder, write_standin

# (fixture(s) under their component prefixes, kind, family or None, variants the keys leave, contents found)
CASES = [
    ("sd15_checkpoint", "checkpoint", "sd1", (), {"sd1-unet", "sd-vae", "clip-l"}),
    ("sd15_unet_diffusers", "unet", "sd1", (), {"sd1-unet"}),
    ("sd2_checkpoint", "checkpoint", "sd2", ("512", "768-v"), {"sd2-unet", "sd-vae", "openclip-h"}),
    ("sd2_unet_diffusers", "unet", "sd2", ("512", "768-v"), {"sd2-unet"}),
    ("sdxl_checkpoint", "checkpoint", "sdxl", (), {"sdxl-unet", "sd-vae", "clip-l", "clip-g"}),
    ("sdxl_unet_diffusers", "unet", "sdxl", (), {"sdxl-unet"}),
    ("sd3_medium_checkpoint", "checkpoint", "sd3", ("3-medium",),
     {"sd3-dit", "flux1-ae", "sd3-vae", "clip-l", "clip-g", "t5-xxl"}),
    ("sd3_medium_dit", "dit", "sd3", ("3-medium",), {"sd3-dit"}),
    ("sd35_medium_dit", "dit", "sd3", ("3.5-medium",), {"sd3-dit"}),
    ("sd35_large_dit", "dit", "sd3", ("3.5-large",), {"sd3-dit"}),
    ("flux1_dev_dit", "dit", "flux1", ("dev", "kontext"), {"flux1-dit"}),
    ("flux1_dev_dit_diffusers", "dit", "flux1", ("dev", "kontext"), {"flux1-dit"}),
    ("flux1_kontext_dit", "dit", "flux1", ("dev", "kontext"), {"flux1-dit"}),
    ("flux1_schnell_dit", "dit", "flux1", ("schnell",), {"flux1-dit"}),
    ("chroma_dit", "dit", "chroma", (), {"chroma-dit"}),
    ("lumina2_dit", "dit", "lumina2", (), {"lumina2-dit"}),
    ("hunyuan_image21_dit", "dit", "hunyuan-image-2.1", (), {"hunyuan-image-2.1-dit"}),
    ("anima_dit", "dit", "anima", (), {"anima-dit"}),
    ("qwen_image_dit", "dit", "qwen-image", ("original", "edit", "edit-2509", "edit-2511"), {"qwen-image-dit"}),
    ("qwen_image_layered_dit", "dit", "qwen-image", ("layered",), {"qwen-image-dit"}),
    ("flux2_dev_dit", "dit", "flux2", ("dev",), {"flux2-dit"}),
    ("flux2_klein_4b_dit", "dit", "flux2", ("klein-4b", "klein-base-4b"), {"flux2-dit"}),
    ("flux2_klein_9b_dit", "dit", "flux2", ("klein-9b", "klein-base-9b"), {"flux2-dit"}),
    ("zimage_dit", "dit", "z-image", (), {"z-image-dit"}),
    ("zimage_dit_comfyui", "dit", "z-image", (), {"z-image-dit"}),
    ("wan_t2v-1.3B_dit", "dit", "wan", ("t2v-1.3B",), {"wan-dit"}),
    ("wan_t2v-14B_dit", "dit", "wan", ("t2v-14B", "t2i-14B", "t2v-A14B"), {"wan-dit"}),
    ("wan_t2v-A14B_dit", "dit", "wan", ("t2v-14B", "t2i-14B", "t2v-A14B"), {"wan-dit"}),
    ("wan_i2v-14B_dit", "dit", "wan", ("i2v-14B",), {"wan-dit"}),
    ("wan_flf2v-14B_dit", "dit", "wan", ("flf2v-14B",), {"wan-dit"}),
    ("wan_i2v-A14B_dit", "dit", "wan", ("i2v-A14B",), {"wan-dit"}),
    ("wan_t2v-1.3B-FC_dit", "dit", "wan", ("t2v-1.3B-FC",), {"wan-dit"}),
    ("wan_i2v-14B-FC_dit", "dit", "wan", ("t2v-14B-FC", "i2v-14B-FC"), {"wan-dit"}),
    ("hunyuan_video_dit", "dit", "hunyuan-video", (), {"hunyuan-video-dit"}),
    ("hv15_dit", "dit", "hunyuan-video-1.5", ("t2v", "i2v"), {"hunyuan-video-1.5-dit"}),
    ("framepack_dit", "dit", "framepack", ("FramePack", "FramePack-F1"), {"framepack-dit"}),
    ("kandinsky5_lite_video_dit", "dit", "kandinsky5", ("lite-t2v", "lite-i2v"), {"kandinsky5-dit"}),
    ("kandinsky5_pro_video_dit", "dit", "kandinsky5", ("pro-t2v", "pro-i2v"), {"kandinsky5-dit"}),
    ("kandinsky5_lite_t2i_dit", "dit", "kandinsky5", ("lite-t2i",), {"kandinsky5-dit"}),
    ("kandinsky5_lite_i2i_dit", "dit", "kandinsky5", ("lite-i2i",), {"kandinsky5-dit"}),
    ("hidream_o1_checkpoint", "dit", "hidream-o1", ("full", "dev"), {"hidream-o1-dit"}),
    # VAEs
    ("sd_vae_ldm", "vae", None, (), {"sd-vae"}),
    ("sd_vae_diffusers", "vae", None, (), {"sd-vae"}),
    ("flux1_ae", "vae", None, (), {"flux1-ae", "sd3-vae"}),
    ("sd3_vae", "vae", None, (), {"flux1-ae", "sd3-vae"}),
    ("zimage_vae", "vae", None, (), {"flux1-vae-diffusers"}),
    ("flux2_ae", "vae", None, (), {"flux2-ae"}),
    ("wan21_vae", "vae", None, (), {"wan2.1-vae", "qwen-image-vae"}),
    ("qwen_image_vae", "vae", None, (), {"qwen-image-vae"}),
    ("qwen_image_layered_vae", "vae", None, (), {"qwen-image-layered-vae"}),
    ("hunyuan_video_vae", "vae", None, (), {"hunyuan-video-vae"}),
    ("hv15_vae", "vae", None, (), {"hunyuan-video-1.5-vae"}),
    ("hunyuan_image21_vae", "vae", None, (), {"hunyuan-image-2.1-vae"}),
    # text and image encoders
    ("clip_l", "text_encoder", None, (), {"clip-l"}),
    ("clip_g", "text_encoder", None, (), {"clip-g"}),
    ("t5xxl", "text_encoder", None, (), {"t5-xxl"}),
    ("umt5_xxl_hf", "text_encoder", None, (), {"umt5-xxl"}),
    ("wan_umt5_xxl", "text_encoder", None, (), {"umt5-xxl"}),
    ("byt5_small_glyph", "text_encoder", None, (), {"byt5-small-glyph"}),
    ("qwen25vl_7b", "text_encoder", None, (), {"qwen2.5-vl-7b"}),
    ("qwen3_06b", "text_encoder", None, (), {"qwen3-0.6b"}),
    ("qwen3_4b", "text_encoder", None, (), {"qwen3-4b"}),
    ("qwen3_8b", "text_encoder", None, (), {"qwen3-8b"}),
    ("gemma2_2b", "text_encoder", None, (), {"gemma2-2b"}),
    ("mistral3_24b", "text_encoder", None, (), {"mistral3-24b"}),
    ("llava_llama3_8b", "text_encoder", None, (), {"llava-llama3-8b"}),
    ("siglip_image_encoder", "image_encoder", None, (), {"siglip"}),
    ("wan_clip_xlmr_vith14", "image_encoder", None, (), {"wan2.1-clip"}),
]


@pytest.mark.parametrize(("fixture", "kind", "family", "variants", "contents"), CASES, ids=[c[0] for c in CASES])
def test_every_layout_is_identified(tmp_path, fixture, kind, family, variants, contents):
    # A neutral file name: only the keys speak.
    info = identify(write_standin(tmp_path / "model.safetensors", load(fixture)))
    assert info.kind == kind
    assert info.family == family and info.families == ((family,) if family else ())
    assert info.variants == variants
    assert info.variant_source == ("keys" if variants else "")
    assert set(info.contents) == contents


def test_every_fixture_has_a_case():
    from tests.models.layouts import KEYS
    assert {p.stem for p in KEYS.glob("*.keys")} == {c[0] for c in CASES}


def test_comfyui_style_full_flux_checkpoint(tmp_path):
    layout = {**prefixed(load("flux1_schnell_dit"), "model.diffusion_model."), **prefixed(load("flux1_ae"), "vae."),
              **prefixed(load("clip_l"), "text_encoders.clip_l.transformer."),
              **prefixed(load("t5xxl"), "text_encoders.t5xxl.transformer.")}
    info = identify(write_standin(tmp_path / "flux_all_in_one.safetensors", layout))
    assert (info.kind, info.family, info.variants) == ("checkpoint", "flux1", ("schnell",))
    assert {p.prefix for p in info.parts} == {"model.diffusion_model.", "vae.", "text_encoders.clip_l.transformer.",
                                              "text_encoders.t5xxl.transformer."}
    assert {"flux1-dit", "flux1-ae", "clip-l", "t5-xxl"} <= set(info.contents)


def test_encoders_and_vae_without_a_denoiser(tmp_path):
    layout = {**prefixed(load("flux1_ae"), "vae."), **prefixed(load("clip_l"), "text_encoders.clip_l.transformer.")}
    info = identify(write_standin(tmp_path / "m.safetensors", layout))
    assert info.kind == "components" and info.families == ()
    assert info.describe() == "VAE and/or encoders without a U-Net or DiT, FLUX.1 AE (16-channel) (or SD3 VAE " \
                              "(16-channel)) + CLIP-L text encoder"


def test_a_dit_under_a_checkpoint_prefix_is_still_a_dit(tmp_path):
    layout = prefixed(load("qwen_image_dit"), "model.diffusion_model.")
    info = identify(write_standin(tmp_path / "m.safetensors", layout))
    assert (info.kind, info.family) == ("dit", "qwen-image")


@pytest.mark.parametrize(("name", "variants"), [
    ("qwen_image_bf16.safetensors", ("original",)),
    ("qwen_image_edit_bf16.safetensors", ("edit",)),
    ("qwen_image_edit_2509_fp8_e4m3fn.safetensors", ("edit-2509",)),
    ("Qwen-Image-Edit-2511.safetensors", ("edit-2511",)),
])
def test_file_name_narrows_variants_the_keys_cannot_tell(tmp_path, name, variants):
    info = identify(write_standin(tmp_path / name, load("qwen_image_dit")))
    assert info.variants == variants and info.variant_source == "file name"


def test_file_name_never_overrides_the_keys(tmp_path):
    # A layered DiT named like an edit model: the keys (addition_t_embedding) decide.
    info = identify(write_standin(tmp_path / "qwen_image_edit_bf16.safetensors", load("qwen_image_layered_dit")))
    assert info.variants == ("layered",) and info.variant_source == "keys"
    info = identify(write_standin(tmp_path / "flux1-kontext-dev.safetensors", load("flux1_schnell_dit")))
    assert info.variants == ("schnell",)


def test_metadata_narrows_before_the_file_name(tmp_path):
    path = write_standin(tmp_path / "qwen_image_bf16.safetensors", load("qwen_image_dit"),
                         {"modelspec.architecture": "Qwen-Image-Edit-2511"})
    info = identify(path)
    assert info.variants == ("edit-2511",) and info.variant_source == "metadata"
    assert info.metadata["modelspec.architecture"] == "Qwen-Image-Edit-2511"


def test_metadata_of_another_family_is_noted_and_ignored(tmp_path):
    path = write_standin(tmp_path / "m.safetensors", load("sdxl_unet_diffusers"), {"ss_base_model_version": "flux1"})
    info = identify(path)
    assert info.family == "sdxl" and any("keys win" in n for n in info.notes)


def test_standin_headers_are_valid_for_the_safetensors_library(tmp_path):
    from safetensors import safe_open

    layout = load("clip_l")
    path = write_standin(tmp_path / "clip.safetensors", layout)
    with safe_open(str(path), framework="numpy") as handle:
        assert set(handle.keys()) == set(layout)
        name = "text_model.final_layer_norm.weight"
        assert handle.get_slice(name).get_shape() == list(layout[name][0])


def test_a_40_gb_standin_is_read_from_its_header_only(tmp_path):
    path = write_standin(tmp_path / "big.safetensors", load("qwen_image_dit"))
    assert path.stat().st_size > 30 * 10**9 and path.stat().st_blocks * 512 < 10**6
    assert identify(path).family == "qwen-image"


# ---- broken files ------------------------------------------------------------------------------------------

def _raw(path, header_length: int, body: bytes, size: int | None = None):
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", header_length) + body)
        if size is not None:
            handle.truncate(size)
    return path


def test_truncated_download_is_a_clear_error(tmp_path):
    cut = write_standin(tmp_path / "cut.safetensors", load("flux1_ae"))
    os.truncate(cut, cut.stat().st_size // 2)  # an interrupted download: the header is whole, the data is not
    with pytest.raises(ModelError) as caught:
        identify(cut)
    assert "outside the file" in caught.value.message and "interrupted download" in caught.value.hint


def test_header_cut_short_is_a_clear_error(tmp_path):
    path = _raw(tmp_path / "m.safetensors", 5000, b'{"a": {"dtype": "F32", "shape": [1]')
    with pytest.raises(ModelError, match="larger than the file"):
        identify(path)


@pytest.mark.parametrize(("body", "message"), [
    (b"not json at all!", "not valid JSON"),
    (b"[1, 2, 3]       ", "not a JSON object"),
    (b'{"t": {"dtype": "F32"}}', "malformed"),
    (b'{"t": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}', "does not match its shape"),
    (b"[" * 40000 + b"]" * 40000, "not valid JSON|nested too deeply|not a JSON object"),
])
def test_corrupt_headers_are_clear_errors(tmp_path, body, message):
    path = _raw(tmp_path / "m.safetensors", len(body), body + b"\0" * 64)
    with pytest.raises(ModelError, match=message):
        identify(path)


def test_huge_header_is_refused_without_reading_it(tmp_path):
    # Claims a 200 MB header in a 300 MB (sparse) file: refused before anything is read.
    path = _raw(tmp_path / "huge.safetensors", 200 * 1024 * 1024, b"{", size=300 * 1024 * 1024)
    with pytest.raises(ModelError, match="too large"):
        identify(path)


def test_empty_and_tiny_files(tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="truncated header"):
        identify(empty)
    no_tensors = _raw(tmp_path / "none.safetensors", 2, b"{}")
    info = identify(no_tensors)
    assert info.kind == "unknown" and "no tensors" in info.notes[0]


def test_pickles_folders_and_missing_files(tmp_path):
    zipped = tmp_path / "model.ckpt"
    zipped.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(ModelError, match="pickled") as caught:
        identify(zipped)
    assert "never unpickles" in caught.value.hint
    with pytest.raises(ModelError, match="folder"):
        identify(tmp_path)
    with pytest.raises(NotFoundError):
        identify(tmp_path / "nope.safetensors")


def test_unknown_layout_is_reported_not_guessed(tmp_path):
    layout = {f"my.layer.{i}.weight": ((8, 8), "F32") for i in range(10)}
    info = identify(write_standin(tmp_path / "m.safetensors", layout))
    assert info.kind == "unknown" and info.families == () and info.describe() == "not a known model layout"


def test_a_changed_file_is_read_again(tmp_path):
    path = write_standin(tmp_path / "m.safetensors", load("clip_l"))
    assert identify(path).contents == ("clip-l",)
    write_standin(path, load("t5xxl"))
    assert identify(path).contents == ("t5-xxl",)


def test_json_form(tmp_path):
    data = identify(write_standin(tmp_path / "m.safetensors", load("sd35_large_dit"))).as_dict()
    assert json.loads(json.dumps(data))["family"] == "sd3"
    assert data["variant"] == "3.5-large" and data["kind"] == "dit" and data["lora"] is None


# ---- layouts derived from the fixtures (the other naming of the same weights) -------------------------------

def test_diffusers_flux_schnell(tmp_path):
    # diffusers' FluxTransformer2DModel(guidance_embeds=False): the dev layout without the guidance embedder
    layout = {k: v for k, v in load("flux1_dev_dit_diffusers").items()
              if not k.startswith("time_text_embed.guidance_embedder.")}
    info = identify(write_standin(tmp_path / "m.safetensors", layout))
    assert (info.kind, info.family, info.variants) == ("dit", "flux1", ("schnell",))


def test_sd2_text_encoder_in_transformers_layout(tmp_path):
    info = identify(write_standin(tmp_path / "m.safetensors", sd2_text_encoder()))
    assert info.kind == "text_encoder" and info.contents == ("openclip-h",)


def test_qwen25vl_in_transformers_4_5x_layout(tmp_path):
    # newer transformers save Qwen2.5-VL as model.language_model.* / model.visual.*
    def rename(key):
        if key.startswith("model."):
            return "model.language_model." + key[len("model."):]
        return "model." + key if key.startswith("visual.") else key
    layout = {rename(k): v for k, v in load("qwen25vl_7b").items()}
    info = identify(write_standin(tmp_path / "m.safetensors", layout))
    assert info.kind == "text_encoder" and info.contents == ("qwen2.5-vl-7b",)
    assert info.parts[0].layout == "HF"


def test_every_fingerprint_is_exercised(tmp_path, monkeypatch):
    """Each checkpoint fingerprint of the catalog matches at least one layout above (none is untested)."""
    import loratui.models.identify as module
    from loratui.models.catalog import FINGERPRINTS
    from tests.models.layouts import KEYS

    hit: set[int] = set()
    best = module._best

    def spy(shapes, roles):
        found = best(shapes, roles)
        hit.update(id(fp) for fp in found)
        return found

    monkeypatch.setattr(module, "_best", spy)
    module._identify_cached.cache_clear()
    for test in (test_diffusers_flux_schnell, test_sd2_text_encoder_in_transformers_layout,
                 test_qwen25vl_in_transformers_4_5x_layout):
        test(tmp_path)
    for keys in KEYS.glob("*.keys"):
        module.identify(write_standin(tmp_path / f"{keys.stem}.safetensors", load(keys.stem)))
    missed = [(fp.content, fp.layout, fp.variants) for fp in FINGERPRINTS if id(fp) not in hit]
    assert missed == []
