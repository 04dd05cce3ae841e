"""What model files look like: families, file contents and the key fingerprints that tell them apart (data only).

Every fingerprint below was checked against the state-dict layouts the trainers' own model classes build
(sd-scripts v0.10.1, musubi-tuner 30c658c; see "model-keys" in tests/fixtures/README.md): the keys named in ``has``
exist with those shapes (``None`` = any size on that axis) and the keys in ``lacks`` do not. Keys are written
without the component prefix a single-file checkpoint adds (``model.diffusion_model.``, ``first_stage_model.``,
``text_encoders.clip_l.transformer.``...): ``identify`` splits a file into components first.

Where two variants have the very same layout, a fingerprint lists them all in ``variants``: the header cannot
tell them apart, and loratui says so instead of guessing (metadata and file names may then *suggest* one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Shape = tuple[int | None, ...] | None


@dataclass(frozen=True)
class Family:
    """A model family a LoRA is trained for, and the trainer script that trains it."""

    id: str
    label: str
    trainer: str


FAMILIES = {f.id: f for f in (
    Family("sd1", "Stable Diffusion 1.x", "sd-scripts train_network.py"),
    Family("sd2", "Stable Diffusion 2.x", "sd-scripts train_network.py --v2 (768-v models also --v_parameterization)"),
    Family("sdxl", "Stable Diffusion XL", "sd-scripts sdxl_train_network.py"),
    Family("sd3", "Stable Diffusion 3 / 3.5", "sd-scripts sd3_train_network.py"),
    Family("flux1", "FLUX.1", "sd-scripts flux_train_network.py (dev, schnell); musubi-tuner "
                              "flux_kontext_train_network.py (Kontext)"),
    Family("chroma", "Chroma", "sd-scripts flux_train_network.py --model_type chroma"),
    Family("lumina2", "Lumina Image 2.0", "sd-scripts lumina_train_network.py"),
    Family("hunyuan-image-2.1", "HunyuanImage-2.1", "sd-scripts hunyuan_image_train_network.py"),
    Family("anima", "Anima", "sd-scripts anima_train_network.py"),
    Family("qwen-image", "Qwen-Image", "musubi-tuner qwen_image_train_network.py --model_version VARIANT"),
    Family("flux2", "FLUX.2", "musubi-tuner flux_2_train_network.py --model_version VARIANT"),
    Family("z-image", "Z-Image", "musubi-tuner zimage_train_network.py"),
    Family("wan", "Wan 2.1 / 2.2", "musubi-tuner wan_train_network.py --task VARIANT"),
    Family("hunyuan-video", "HunyuanVideo", "musubi-tuner hv_train_network.py"),
    Family("hunyuan-video-1.5", "HunyuanVideo 1.5", "musubi-tuner hv_1_5_train_network.py --task VARIANT"),
    Family("framepack", "FramePack", "musubi-tuner fpack_train_network.py (F1: --f1)"),
    Family("kandinsky5", "Kandinsky 5", "musubi-tuner kandinsky5_train_network.py --task TASK"),
    Family("hidream-o1", "HiDream-O1-Image", "musubi-tuner hidream_o1_train_network.py --model_type VARIANT"),
)}


@dataclass(frozen=True)
class Content:
    """What a file (or one component of a single-file checkpoint) holds: a content id, as training roles name it."""

    id: str
    label: str
    role: str
    """``unet``, ``dit``, ``vae``, ``text_encoder`` or ``image_encoder``."""
    family: str | None = None
    """The family of a denoiser (U-Net or DiT); None for VAEs and encoders, which several families share."""
    used_by: str = ""


CONTENTS = {c.id: c for c in (
    Content("sd1-unet", "SD 1.x U-Net", "unet", "sd1"),
    Content("sd2-unet", "SD 2.x U-Net", "unet", "sd2"),
    Content("sdxl-unet", "SDXL U-Net", "unet", "sdxl"),
    Content("sd3-dit", "SD3 / SD3.5 MMDiT", "dit", "sd3"),
    Content("flux1-dit", "FLUX.1 DiT", "dit", "flux1"),
    Content("chroma-dit", "Chroma DiT", "dit", "chroma"),
    Content("lumina2-dit", "Lumina Image 2.0 DiT", "dit", "lumina2"),
    Content("hunyuan-image-2.1-dit", "HunyuanImage-2.1 DiT", "dit", "hunyuan-image-2.1"),
    Content("anima-dit", "Anima DiT", "dit", "anima"),
    Content("qwen-image-dit", "Qwen-Image DiT", "dit", "qwen-image"),
    Content("flux2-dit", "FLUX.2 DiT", "dit", "flux2"),
    Content("z-image-dit", "Z-Image DiT", "dit", "z-image"),
    Content("wan-dit", "Wan DiT", "dit", "wan"),
    Content("hunyuan-video-dit", "HunyuanVideo DiT", "dit", "hunyuan-video"),
    Content("hunyuan-video-1.5-dit", "HunyuanVideo 1.5 DiT", "dit", "hunyuan-video-1.5"),
    Content("framepack-dit", "FramePack DiT", "dit", "framepack"),
    Content("kandinsky5-dit", "Kandinsky 5 DiT", "dit", "kandinsky5"),
    Content("hidream-o1-dit", "HiDream-O1-Image model", "dit", "hidream-o1"),
    Content("sd-vae", "SD VAE (4-channel)", "vae", used_by="SD 1.x, SD 2.x, SDXL (the SDXL VAE has the same layout)"),
    Content("flux1-ae", "FLUX.1 AE (16-channel)", "vae",
            used_by="FLUX.1, FLUX.1 Kontext, Chroma, Lumina 2; SD3's VAE has the same layout"),
    Content("sd3-vae", "SD3 VAE (16-channel)", "vae", used_by="SD3 / SD3.5; the FLUX.1 AE has the same layout"),
    Content("flux1-vae-diffusers", "FLUX.1 VAE, diffusers layout (16-channel)", "vae", used_by="Z-Image"),
    Content("flux2-ae", "FLUX.2 AE (32-channel)", "vae", used_by="FLUX.2"),
    Content("wan2.1-vae", "Wan 2.1 VAE", "vae",
            used_by="Wan 2.1 / 2.2 A14B; the ComfyUI Qwen-Image VAE has the same layout"),
    Content("qwen-image-vae", "Qwen-Image VAE", "vae", used_by="Qwen-Image (all variants but layered), Anima"),
    Content("qwen-image-layered-vae", "Qwen-Image-Layered VAE (RGBA)", "vae", used_by="Qwen-Image-Layered"),
    Content("hunyuan-video-vae", "HunyuanVideo VAE", "vae", used_by="HunyuanVideo, FramePack, Kandinsky 5 video"),
    Content("hunyuan-video-1.5-vae", "HunyuanVideo 1.5 VAE", "vae", used_by="HunyuanVideo 1.5"),
    Content("hunyuan-image-2.1-vae", "HunyuanImage-2.1 VAE (32x)", "vae", used_by="HunyuanImage-2.1"),
    Content("clip-l", "CLIP-L text encoder", "text_encoder",
            used_by="SD 1.x, SDXL, SD3, FLUX.1, Kontext, HunyuanVideo, FramePack, Kandinsky 5"),
    Content("clip-g", "CLIP-G (OpenCLIP bigG) text encoder", "text_encoder", used_by="SDXL, SD3"),
    Content("openclip-h", "OpenCLIP ViT-H text encoder", "text_encoder", used_by="SD 2.x"),
    Content("t5-xxl", "T5-XXL text encoder", "text_encoder", used_by="SD3, FLUX.1, FLUX.1 Kontext, Chroma"),
    Content("umt5-xxl", "umT5-XXL text encoder", "text_encoder", used_by="Wan 2.1 / 2.2"),
    Content("byt5-small-glyph", "ByT5-small glyph encoder", "text_encoder",
            used_by="HunyuanImage-2.1, HunyuanVideo 1.5"),
    Content("qwen2.5-vl-7b", "Qwen2.5-VL 7B", "text_encoder",
            used_by="Qwen-Image, HunyuanImage-2.1, HunyuanVideo 1.5, Kandinsky 5"),
    Content("qwen3-0.6b", "Qwen3 0.6B", "text_encoder", used_by="Anima"),
    Content("qwen3-4b", "Qwen3 4B", "text_encoder", used_by="Z-Image, FLUX.2 klein 4B"),
    Content("qwen3-8b", "Qwen3 8B", "text_encoder", used_by="FLUX.2 klein 9B"),
    Content("gemma2-2b", "Gemma2 2B", "text_encoder", used_by="Lumina 2"),
    Content("mistral3-24b", "Mistral Small 3.1 24B", "text_encoder", used_by="FLUX.2 dev"),
    Content("llava-llama3-8b", "LLaVA-Llama-3 8B (text part)", "text_encoder", used_by="HunyuanVideo, FramePack"),
    Content("siglip", "SigLIP vision encoder", "image_encoder", used_by="FramePack, HunyuanVideo 1.5 i2v"),
    Content("wan2.1-clip", "Wan 2.1 CLIP (XLM-R ViT-H/14)", "image_encoder", used_by="Wan 2.1 i2v / flf2v"),
)}


@dataclass(frozen=True)
class Fingerprint:
    """Keys (and shapes) that identify one content in one file layout."""

    content: str
    variants: tuple[str, ...]
    """The variants this layout can be: one = known; several = the header cannot tell them apart."""
    layout: str
    has: tuple[tuple[str, Shape], ...]
    lacks: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ("",)
    """Inner prefixes the keys may carry (tried in order)."""
    also: tuple[str, ...] = ()
    """Other contents with exactly this layout (the file may just as well be one of them)."""
    note: str = ""

    @property
    def specificity(self) -> int:
        """How much a match says: more keys checked beats fewer."""
        return len(self.has) + len(self.lacks)


def _fp(content: str, variants: tuple[str, ...], layout: str, has: dict[str, Shape], lacks: tuple[str, ...] = (),
        prefixes: tuple[str, ...] = ("",), also: tuple[str, ...] = (), note: str = "") -> Fingerprint:
    return Fingerprint(content, variants, layout, tuple(has.items()), lacks, prefixes, also, note)


_SD_ATTN = "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
_SD_ATTN_D = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"
_QWEN_VARIANTS = ("original", "edit", "edit-2509", "edit-2511")
_WAN_T2V_14B = ("t2v-14B", "t2i-14B", "t2v-A14B")
_FLUX_DEV = ("dev", "kontext")

FINGERPRINTS: tuple[Fingerprint, ...] = (
    # ---- Stable Diffusion U-Nets: LDM names (single files) and diffusers names
    _fp("sd1-unet", (), "LDM", {"input_blocks.0.0.weight": (320, 4, 3, 3), _SD_ATTN: (320, 768)},
        lacks=("label_emb.0.0.weight",)),
    _fp("sd2-unet", ("512", "768-v"), "LDM", {"input_blocks.0.0.weight": (320, 4, 3, 3), _SD_ATTN: (320, 1024)},
        lacks=("label_emb.0.0.weight",), note="v-prediction (768-v) is not in the keys"),
    _fp("sdxl-unet", (), "LDM", {"input_blocks.0.0.weight": (320, 4, 3, 3), "label_emb.0.0.weight": (1280, 2816),
                                 "input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": (640, 2048)}),
    _fp("sd1-unet", (), "diffusers", {"conv_in.weight": (320, 4, 3, 3), _SD_ATTN_D: (320, 768)},
        lacks=("add_embedding.linear_1.weight",)),
    _fp("sd2-unet", ("512", "768-v"), "diffusers", {"conv_in.weight": (320, 4, 3, 3), _SD_ATTN_D: (320, 1024)},
        lacks=("add_embedding.linear_1.weight",), note="v-prediction (768-v) is not in the keys"),
    _fp("sdxl-unet", (), "diffusers", {
        "conv_in.weight": (320, 4, 3, 3), "add_embedding.linear_1.weight": (1280, 2816),
        "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight": (640, 2048)}),
    # ---- SD3 / SD3.5 (sd-scripts sd3_utils.analyze_state_dict_state: qk norm, MMDiT-X attn2 layers, depth)
    _fp("sd3-dit", ("3-medium",), "SAI", {"joint_blocks.0.context_block.attn.qkv.weight": (None, None),
                                          "x_embedder.proj.weight": (1536, 16, 2, 2)},
        lacks=("joint_blocks.0.context_block.attn.ln_k.weight",)),
    _fp("sd3-dit", ("3.5-medium",), "SAI", {"joint_blocks.0.context_block.attn.ln_k.weight": (None,),
                                            "joint_blocks.0.x_block.attn2.qkv.weight": (None, None),
                                            "x_embedder.proj.weight": (1536, 16, 2, 2)}),
    _fp("sd3-dit", ("3.5-large",), "SAI", {"joint_blocks.0.context_block.attn.ln_k.weight": (None,),
                                           "x_embedder.proj.weight": (2432, 16, 2, 2)},
        lacks=("joint_blocks.0.x_block.attn2.qkv.weight",), note="3.5 large turbo has the same layout"),
    # ---- FLUX.1 and Chroma (sd-scripts flux_utils.analyze_checkpoint_state)
    _fp("flux1-dit", _FLUX_DEV, "BFL", {"double_blocks.0.img_attn.qkv.weight": (9216, 3072),
                                        "img_in.weight": (3072, 64),
                                        "vector_in.in_layer.weight": (3072, 768),
                                        "guidance_in.in_layer.weight": (3072, 256)},
        note="FLUX.1 Kontext [dev] has exactly the FLUX.1 dev layout"),
    _fp("flux1-dit", ("schnell",), "BFL", {"double_blocks.0.img_attn.qkv.weight": (9216, 3072),
                                           "img_in.weight": (3072, 64), "vector_in.in_layer.weight": (3072, 768)},
        lacks=("guidance_in.in_layer.weight",)),
    _fp("flux1-dit", _FLUX_DEV, "diffusers", {"transformer_blocks.0.attn.add_k_proj.weight": (3072, 3072),
                                              "x_embedder.weight": (3072, 64), "context_embedder.weight": (3072, 4096),
                                              "time_text_embed.guidance_embedder.linear_1.weight": (3072, 256)},
        note="FLUX.1 Kontext [dev] has exactly the FLUX.1 dev layout"),
    _fp("flux1-dit", ("schnell",), "diffusers", {"transformer_blocks.0.attn.add_k_proj.weight": (3072, 3072),
                                                 "x_embedder.weight": (3072, 64),
                                                 "context_embedder.weight": (3072, 4096),
                                                 "time_text_embed.text_embedder.linear_1.weight": (3072, 768)},
        lacks=("time_text_embed.guidance_embedder.linear_1.weight",)),
    _fp("chroma-dit", (), "Chroma", {"distilled_guidance_layer.in_proj.weight": (5120, 64),
                                     "double_blocks.0.img_attn.qkv.weight": (9216, 3072)}),
    # ---- Lumina 2, Z-Image (NextDiT; told apart by width), HunyuanImage 2.1, Anima
    _fp("lumina2-dit", (), "NextDiT", {"x_embedder.weight": (2304, 64), "cap_embedder.1.weight": (2304, None),
                                       "context_refiner.0.attention.qkv.weight": (3840, 2304)}),
    _fp("z-image-dit", (), "official", {"all_x_embedder.2-1.weight": (3840, 64), "cap_pad_token": (1, 3840),
                                        "layers.0.attention.to_q.weight": (3840, 3840)}),
    _fp("z-image-dit", (), "ComfyUI", {"x_embedder.weight": (3840, 64), "cap_pad_token": (1, 3840),
                                       "layers.0.attention.qkv.weight": (11520, 3840)}),
    _fp("hunyuan-image-2.1-dit", (), "official", {"img_in.proj.weight": (3584, 64, 1, 1),
                                                  "byt5_in.fc3.weight": (3584, 2048),
                                                  "double_blocks.0.img_attn_qkv.weight": (None, 3584)}),
    _fp("anima-dit", (), "sd-scripts", {"llm_adapter.embed.weight": (32128, 1024),
                                        "x_embedder.proj.1.weight": (2048, 68), "t_embedding_norm.weight": (2048,)}),
    # ---- Qwen-Image (musubi qwen_image_model; edit variants build the same modules)
    _fp("qwen-image-dit", _QWEN_VARIANTS, "diffusers", {"txt_norm.weight": (3584,), "img_in.weight": (3072, 64),
                                                        "transformer_blocks.0.img_mod.1.weight": (18432, 3072)},
        lacks=("time_text_embed.addition_t_embedding.weight",),
        note="Qwen-Image, -Edit, -Edit-2509 and -Edit-2511 DiTs have identical keys and shapes"),
    _fp("qwen-image-dit", ("layered",), "diffusers", {"txt_norm.weight": (3584,), "img_in.weight": (3072, 64),
                                                      "time_text_embed.addition_t_embedding.weight": (2, 3072)}),
    # ---- FLUX.2 (told apart by width; klein and klein-base share a layout)
    _fp("flux2-dit", ("dev",), "BFL", {"double_stream_modulation_img.lin.weight": (None, 6144),
                                       "img_in.weight": (6144, 128)}),
    _fp("flux2-dit", ("klein-4b", "klein-base-4b"), "BFL", {"double_stream_modulation_img.lin.weight": (None, 3072),
                                                            "img_in.weight": (3072, 128)},
        note="klein and klein-base have the same layout"),
    _fp("flux2-dit", ("klein-9b", "klein-base-9b"), "BFL", {"double_stream_modulation_img.lin.weight": (None, 4096),
                                                            "img_in.weight": (4096, 128)},
        note="klein and klein-base have the same layout"),
    # ---- Wan 2.1 / 2.2 (patch_embedding: width 1536/5120, in channels 16 t2v / 36 i2v / 48 Fun-Control)
    _fp("wan-dit", ("t2v-1.3B",), "Wan", {"patch_embedding.weight": (1536, 16, 1, 2, 2)},
        lacks=("img_emb.proj.0.weight",)),
    _fp("wan-dit", _WAN_T2V_14B, "Wan", {"patch_embedding.weight": (5120, 16, 1, 2, 2)},
        lacks=("img_emb.proj.0.weight",),
        note="Wan 2.1 t2v-14B, t2i-14B and the 2.2 t2v-A14B experts (high and low noise) share this layout"),
    _fp("wan-dit", ("i2v-14B",), "Wan", {"patch_embedding.weight": (5120, 36, 1, 2, 2),
                                         "img_emb.proj.0.weight": (None,)}, lacks=("img_emb.emb_pos",)),
    _fp("wan-dit", ("flf2v-14B",), "Wan", {"patch_embedding.weight": (5120, 36, 1, 2, 2),
                                           "img_emb.emb_pos": (1, 514, 1280)}),
    _fp("wan-dit", ("i2v-A14B",), "Wan", {"patch_embedding.weight": (5120, 36, 1, 2, 2)},
        lacks=("img_emb.proj.0.weight",), note="the 2.2 high- and low-noise experts share this layout"),
    _fp("wan-dit", ("t2v-1.3B-FC",), "Wan", {"patch_embedding.weight": (1536, 48, 1, 2, 2)}),
    _fp("wan-dit", ("t2v-14B-FC", "i2v-14B-FC"), "Wan", {"patch_embedding.weight": (5120, 48, 1, 2, 2)}),
    # ---- HunyuanVideo, HunyuanVideo 1.5, FramePack
    _fp("hunyuan-video-dit", (), "official", {"img_in.proj.weight": (3072, 16, 1, 2, 2),
                                              "txt_in.individual_token_refiner.blocks.0.norm1.weight": (3072,),
                                              "vector_in.in_layer.weight": (3072, 768)}),
    _fp("hunyuan-video-1.5-dit", ("t2v", "i2v"), "official", {"img_in.proj.weight": (2048, 65, 1, 1, 1),
                                                              "cond_type_embedding.weight": (3, 2048),
                                                              "byt5_in.fc1.weight": (2048, 1472)},
        note="the t2v and i2v DiTs have identical layouts"),
    _fp("framepack-dit", ("FramePack", "FramePack-F1"), "diffusers", {
        "x_embedder.proj.weight": (3072, 16, 1, 2, 2), "clean_x_embedder.proj.weight": (3072, 16, 1, 2, 2),
        "single_transformer_blocks.0.attn.to_q.weight": (3072, 3072)},
        note="FramePack and FramePack-F1 have the same layout"),
    # ---- Kandinsky 5 (musubi kandinsky5 get_dit: video models have visual_cond, so t2v = i2v)
    _fp("kandinsky5-dit", ("lite-t2v", "lite-i2v"), "kandinsky5", {
        "visual_embeddings.in_layer.weight": (1792, 132), "pooled_text_embeddings.in_layer.weight": (None, 768)},
        note="the Lite t2v and i2v DiTs have the same layout"),
    _fp("kandinsky5-dit", ("pro-t2v", "pro-i2v"), "kandinsky5", {
        "visual_embeddings.in_layer.weight": (4096, 132), "pooled_text_embeddings.in_layer.weight": (None, 768)},
        note="the Pro t2v and i2v DiTs have the same layout"),
    _fp("kandinsky5-dit", ("lite-t2i",), "kandinsky5", {
        "visual_embeddings.in_layer.weight": (2560, 64), "pooled_text_embeddings.in_layer.weight": (None, 768)}),
    _fp("kandinsky5-dit", ("lite-i2i",), "kandinsky5", {
        "visual_embeddings.in_layer.weight": (2560, 132), "pooled_text_embeddings.in_layer.weight": (None, 768)}),
    # ---- HiDream-O1 (a Qwen3-VL with pixel patch embedder and timestep embedder; full and dev share a layout)
    _fp("hidream-o1-dit", ("full", "dev"), "ComfyUI", {"x_embedder.proj1.weight": (None, 3072),
                                                       "final_layer2.linear.weight": (3072, None),
                                                       "t_embedder1.mlp.0.weight": (None, 256)},
        prefixes=("", "model."), note="the full and dev models have the same layout"),
    # ---- VAEs
    _fp("sd-vae", (), "LDM", {"encoder.down.0.block.0.conv1.weight": (128, 128, 3, 3),
                              "encoder.conv_out.weight": (8, 512, 3, 3), "quant_conv.weight": (8, 8, 1, 1)}),
    _fp("sd-vae", (), "diffusers", {"encoder.down_blocks.0.resnets.0.conv1.weight": (128, 128, 3, 3),
                                    "encoder.conv_out.weight": (8, 512, 3, 3), "quant_conv.weight": (8, 8, 1, 1)}),
    _fp("flux1-ae", (), "LDM", {"encoder.down.0.block.0.conv1.weight": (128, 128, 3, 3),
                                "encoder.conv_out.weight": (32, 512, 3, 3), "decoder.conv_in.weight": (512, 16, 3, 3)},
        lacks=("quant_conv.weight", "encoder.quant_conv.weight"), also=("sd3-vae",),
        note="the FLUX.1 AE and the SD3 VAE have the same layout"),
    _fp("flux1-vae-diffusers", (), "diffusers", {"encoder.down_blocks.0.resnets.0.conv1.weight": (128, 128, 3, 3),
                                                 "encoder.conv_out.weight": (32, 512, 3, 3),
                                                 "decoder.conv_in.weight": (512, 16, 3, 3)}),
    _fp("flux2-ae", (), "BFL", {"encoder.quant_conv.weight": (64, 64, 1, 1), "bn.running_mean": (128,),
                                "encoder.conv_out.weight": (64, 512, 3, 3)}),
    _fp("wan2.1-vae", (), "Wan", {"encoder.conv1.weight": (96, 3, 3, 3, 3), "conv2.weight": (16, 16, 1, 1, 1)},
        also=("qwen-image-vae",), note="the ComfyUI Qwen-Image VAE has the same layout as the Wan 2.1 VAE"),
    _fp("qwen-image-vae", (), "diffusers", {"encoder.conv_in.weight": (96, 3, 3, 3, 3),
                                            "post_quant_conv.weight": (16, 16, 1, 1, 1)}),
    _fp("qwen-image-layered-vae", (), "diffusers", {"encoder.conv_in.weight": (96, 4, 3, 3, 3),
                                                    "post_quant_conv.weight": (16, 16, 1, 1, 1)}),
    _fp("hunyuan-video-vae", (), "official", {
        "encoder.conv_in.conv.weight": (128, 3, 3, 3, 3),
        "encoder.down_blocks.0.resnets.0.conv1.conv.weight": (None, None, 3, 3, 3),
        "post_quant_conv.weight": (16, 16, 1, 1, 1)}),
    _fp("hunyuan-video-1.5-vae", (), "official", {"encoder.conv_in.conv.weight": (128, 3, 3, 3, 3),
                                                  "encoder.down.0.block.0.conv1.conv.weight": (None, None, 3, 3, 3)}),
    _fp("hunyuan-image-2.1-vae", (), "official", {"decoder.conv_in.weight": (1024, 64, 3, 3),
                                                  "encoder.conv_out.weight": (128, 1024, 3, 3)}),
    # ---- text encoders (HF layouts unless said)
    _fp("clip-l", (), "HF", {"text_model.encoder.layers.11.self_attn.q_proj.weight": (768, 768),
                             "text_model.embeddings.token_embedding.weight": (49408, 768)},
        lacks=("text_model.encoder.layers.12.self_attn.q_proj.weight",)),
    _fp("clip-g", (), "HF", {"text_model.encoder.layers.31.self_attn.q_proj.weight": (1280, 1280),
                             "text_model.embeddings.token_embedding.weight": (49408, 1280)}),
    _fp("clip-g", (), "OpenCLIP", {"transformer.resblocks.31.attn.in_proj_weight": (3840, 1280),
                                   "token_embedding.weight": (49408, 1280)}),
    _fp("openclip-h", (), "OpenCLIP", {"transformer.resblocks.22.attn.in_proj_weight": (3072, 1024),
                                       "token_embedding.weight": (49408, 1024)}),
    _fp("openclip-h", (), "HF", {"text_model.encoder.layers.22.self_attn.q_proj.weight": (1024, 1024),
                                 "text_model.embeddings.token_embedding.weight": (49408, 1024)}),
    _fp("t5-xxl", (), "HF", {"encoder.block.23.layer.1.DenseReluDense.wi_0.weight": (10240, 4096),
                             "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": (32, 64)},
        lacks=("encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight",)),
    _fp("umt5-xxl", (), "HF", {"encoder.block.23.layer.1.DenseReluDense.wi_0.weight": (10240, 4096),
                               "encoder.block.1.layer.0.SelfAttention.relative_attention_bias.weight": (32, 64)}),
    _fp("umt5-xxl", (), "Wan", {"token_embedding.weight": (256384, 4096), "blocks.23.attn.q.weight": (4096, 4096)}),
    _fp("byt5-small-glyph", (), "HF", {"encoder.block.11.layer.0.SelfAttention.q.weight": (384, 1472),
                                       "encoder.final_layer_norm.weight": (1472,)}),
    _fp("qwen2.5-vl-7b", (), "ComfyUI", {"model.layers.27.self_attn.q_proj.weight": (3584, 3584),
                                         "model.embed_tokens.weight": (152064, 3584),
                                         "visual.blocks.31.attn.qkv.weight": (3840, 1280)}),
    _fp("qwen2.5-vl-7b", (), "HF", {"model.language_model.layers.27.self_attn.q_proj.weight": (3584, 3584),
                                    "model.language_model.embed_tokens.weight": (152064, 3584),
                                    "model.visual.blocks.31.attn.qkv.weight": (3840, 1280)}),
    _fp("qwen3-0.6b", (), "HF", {"layers.27.self_attn.q_norm.weight": (128,), "embed_tokens.weight": (151936, 1024)},
        lacks=("layers.28.self_attn.q_norm.weight",), prefixes=("model.", "")),
    _fp("qwen3-4b", (), "HF", {"layers.35.self_attn.q_norm.weight": (128,), "embed_tokens.weight": (151936, 2560)},
        lacks=("layers.36.self_attn.q_norm.weight",), prefixes=("model.", "")),
    _fp("qwen3-8b", (), "HF", {"layers.35.self_attn.q_norm.weight": (128,), "embed_tokens.weight": (151936, 4096)},
        lacks=("layers.36.self_attn.q_norm.weight",), prefixes=("model.", "")),
    _fp("gemma2-2b", (), "HF", {"layers.25.self_attn.q_proj.weight": (2048, 2304),
                                "embed_tokens.weight": (256000, 2304)}, prefixes=("", "model.")),
    _fp("mistral3-24b", (), "HF", {"layers.39.self_attn.q_proj.weight": (4096, 5120),
                                   "embed_tokens.weight": (131072, 5120)},
        prefixes=("language_model.model.", "model.language_model.", "model.")),
    _fp("llava-llama3-8b", (), "HF", {"model.layers.31.self_attn.q_proj.weight": (4096, 4096),
                                      "model.embed_tokens.weight": (128320, 4096)},
        lacks=("model.layers.31.self_attn.q_norm.weight",)),
    # ---- image encoders
    _fp("siglip", (), "HF", {"vision_model.embeddings.patch_embedding.weight": (1152, 3, 14, 14),
                             "vision_model.head.probe": (1, 1, 1152)}),
    _fp("wan2.1-clip", (), "Wan", {"visual.patch_embedding.weight": (1280, 3, 14, 14),
                                   "textual.token_embedding.weight": (250002, 1024)}),
)
"""Every fingerprint; the most specific match wins (see ``identify``)."""


@dataclass(frozen=True)
class Component:
    """Where a single-file checkpoint keeps one of its parts: a key prefix and the role found there."""

    pattern: re.Pattern
    role: str
    """``denoiser``, ``vae`` or ``text_encoder``: only fingerprints of that role are tried under the prefix."""


COMPONENTS = tuple(Component(re.compile(p), r) for p, r in (
    (r"model\.diffusion_model\.", "denoiser"),
    (r"diffusion_model\.", "denoiser"),
    (r"net\.", "denoiser"),
    (r"first_stage_model\.", "vae"),
    (r"vae\.", "vae"),
    (r"cond_stage_model\.(?:transformer|model)\.", "text_encoder"),
    (r"conditioner\.embedders\.\d+\.(?:transformer|model)\.", "text_encoder"),
    (r"text_encoders\.[A-Za-z0-9_.-]+?\.transformer\.", "text_encoder"),
    (r"text_encoders\.[A-Za-z0-9_-]+\.", "text_encoder"),
))
"""Prefixes of single-file checkpoints (LDM/SGM, SD3, ComfyUI, sd-scripts' loaders), in the order they are tried."""

ROLE_OF_COMPONENT = {"denoiser": ("unet", "dit"), "vae": ("vae",), "text_encoder": ("text_encoder",)}


@dataclass(frozen=True)
class MetadataHint:
    """What a metadata value says about the family (and variant) of a file."""

    key: str
    pattern: re.Pattern
    family: str
    variants: tuple[str, ...] = ()


def _meta(key: str, pattern: str, family: str, *variants: str) -> MetadataHint:
    return MetadataHint(key, re.compile(pattern, re.IGNORECASE), family, variants)


_ARCH = "modelspec.architecture"
_BASE = "ss_base_model_version"
METADATA_HINTS = (
    # sd-scripts library/sai_model_spec.py and musubi utils/sai_model_spec.py (a "/lora" suffix is ignored)
    _meta(_ARCH, r"^stable-diffusion-v1", "sd1"),
    _meta(_ARCH, r"^stable-diffusion-v2-768-v", "sd2", "768-v"),
    _meta(_ARCH, r"^stable-diffusion-v2", "sd2", "512"),
    _meta(_ARCH, r"^stable-diffusion-xl", "sdxl"),
    _meta(_ARCH, r"^stable-diffusion-v?3[.-]5-large", "sd3", "3.5-large"),
    _meta(_ARCH, r"^stable-diffusion-v?3[.-]5-m", "sd3", "3.5-medium"),
    _meta(_ARCH, r"^stable-diffusion-v?3", "sd3", "3-medium"),
    _meta(_ARCH, r"^flux-1-dev", "flux1", "dev"),
    _meta(_ARCH, r"^flux-1-schnell", "flux1", "schnell"),
    _meta(_ARCH, r"^flux-1", "flux1"),
    _meta(_ARCH, r"^chroma", "chroma"),
    _meta(_ARCH, r"^lumina", "lumina2"),
    _meta(_ARCH, r"^hunyuan-image", "hunyuan-image-2.1"),
    _meta(_ARCH, r"^anima", "anima"),
    _meta(_ARCH, r"^hunyuan-video-1\.5", "hunyuan-video-1.5"),
    _meta(_ARCH, r"^hunyuan-video", "hunyuan-video"),
    _meta(_ARCH, r"^wan2", "wan"),
    _meta(_ARCH, r"^framepack", "framepack"),
    _meta(_ARCH, r"^Flux\.1-dev", "flux1", "kontext"),
    _meta(_ARCH, r"^Flux\.2-dev", "flux2", "dev"),
    _meta(_ARCH, r"^Flux\.2-klein-4b", "flux2", "klein-4b", "klein-base-4b"),
    _meta(_ARCH, r"^Flux\.2-klein-9b", "flux2", "klein-9b", "klein-base-9b"),
    _meta(_ARCH, r"^Qwen-Image-Edit-2511", "qwen-image", "edit-2511"),
    _meta(_ARCH, r"^Qwen-Image-Edit-Plus", "qwen-image", "edit-2509"),
    _meta(_ARCH, r"^Qwen-Image-Edit", "qwen-image", "edit"),
    _meta(_ARCH, r"^Qwen-Image-Layered", "qwen-image", "layered"),
    _meta(_ARCH, r"^Qwen-Image", "qwen-image", "original"),
    _meta(_ARCH, r"^Kandinsky-5", "kandinsky5"),
    _meta(_ARCH, r"^Z-Image", "z-image"),
    _meta(_ARCH, r"^HiDream-O1", "hidream-o1"),
    # ss_base_model_version (sd-scripts model version strings; musubi's architecture full names)
    _meta(_BASE, r"^sd_v1", "sd1"),
    _meta(_BASE, r"^sd_v2_v", "sd2", "768-v"),
    _meta(_BASE, r"^sd_v2", "sd2", "512"),
    _meta(_BASE, r"^sdxl", "sdxl"),
    _meta(_BASE, r"^sd3", "sd3"),
    _meta(_BASE, r"^flux1", "flux1"),
    _meta(_BASE, r"^chroma", "chroma"),
    _meta(_BASE, r"^lumina", "lumina2"),
    _meta(_BASE, r"^hunyuan-image", "hunyuan-image-2.1"),
    _meta(_BASE, r"^anima", "anima"),
    _meta(_BASE, r"^hunyuan_video_1_5", "hunyuan-video-1.5"),
    _meta(_BASE, r"^hunyuan_video", "hunyuan-video"),
    _meta(_BASE, r"^wan", "wan"),
    _meta(_BASE, r"^framepack", "framepack"),
    _meta(_BASE, r"^flux_kontext", "flux1", "kontext"),
    _meta(_BASE, r"^flux_2_dev", "flux2", "dev"),
    _meta(_BASE, r"^flux_2_klein_4b", "flux2", "klein-4b", "klein-base-4b"),
    _meta(_BASE, r"^flux_2_klein_9b", "flux2", "klein-9b", "klein-base-9b"),
    _meta(_BASE, r"^qwen_image_edit", "qwen-image", "edit", "edit-2509", "edit-2511"),
    _meta(_BASE, r"^qwen_image_layered", "qwen-image", "layered"),
    _meta(_BASE, r"^qwen_image", "qwen-image", "original"),
    _meta(_BASE, r"^kandinsky5", "kandinsky5"),
    _meta(_BASE, r"^z_image", "z-image"),
    _meta(_BASE, r"^hidream_o1", "hidream-o1"),
)
"""Read in order, first match per key wins; used as evidence beside the keys, never instead of them."""


@dataclass(frozen=True)
class NameHint:
    """A file-name pattern that narrows the variants a layout leaves open (musubi itself trusts the name)."""

    family: str
    pattern: re.Pattern
    variants: tuple[str, ...]


def _name(family: str, pattern: str, *variants: str) -> NameHint:
    return NameHint(family, re.compile(pattern, re.IGNORECASE), variants)


NAME_HINTS = (
    _name("qwen-image", r"layered", "layered"),
    _name("qwen-image", r"edit[-_ .]?2511", "edit-2511"),
    _name("qwen-image", r"edit[-_ .]?(?:2509|plus)", "edit-2509"),
    _name("qwen-image", r"edit(?![-_ .]?(?:2509|2511|plus))", "edit"),
    _name("qwen-image", r"qwen[-_ .]?image(?![-_ .]?(?:edit|layered))", "original"),
    _name("flux1", r"kontext", "kontext"),
    _name("flux1", r"flux[-_ .]?1[-_ .]?dev|flux1dev", "dev"),
    _name("flux2", r"klein[-_ .]?base[-_ .]?4b", "klein-base-4b"),
    _name("flux2", r"klein[-_ .]?4b", "klein-4b"),
    _name("flux2", r"klein[-_ .]?base[-_ .]?9b", "klein-base-9b"),
    _name("flux2", r"klein[-_ .]?9b", "klein-9b"),
    _name("wan", r"wan[-_ .]?2[-_ .]?2|a14b", "t2v-A14B", "i2v-A14B"),
    _name("wan", r"wan[-_ .]?2[-_ .]?1", "t2v-14B", "t2i-14B", "i2v-14B", "flf2v-14B", "t2v-14B-FC", "i2v-14B-FC"),
    _name("wan", r"t2i", "t2i-14B"),
    _name("wan", r"i2v", "i2v-14B", "i2v-A14B", "i2v-14B-FC"),
    _name("wan", r"t2v", "t2v-14B", "t2v-A14B", "t2v-14B-FC"),
    _name("hunyuan-video-1.5", r"i2v", "i2v"),
    _name("hunyuan-video-1.5", r"t2v", "t2v"),
    _name("framepack", r"f1", "FramePack-F1"),
    _name("kandinsky5", r"i2v", "lite-i2v", "pro-i2v"),
    _name("kandinsky5", r"t2v", "lite-t2v", "pro-t2v"),
    _name("hidream-o1", r"dev", "dev"),
    _name("sd2", r"768", "768-v"),
)
"""Each matching pattern narrows the candidates (a pattern that would leave none is skipped)."""
