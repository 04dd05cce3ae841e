"""The kinds of ONNX tagger loratui runs, and what differs between them: file names, input layout and
normalisation, which output holds the scores, and the tag list format.

- ``wd14``: SmilingWolf's WD taggers (v2 and v3: vit, vit-large, eva02-large, swinv2, convnext, moat).
  ``model.onnx`` + ``selected_tags.csv`` (``tag_id,name,category,count``); input float32 NHWC BGR 0-255, the image
  padded to a white square (sd-scripts' preprocessing, see ``preprocess``); output: sigmoid scores.
- ``camie``: Camais03/camie-tagger-v2. ``camie-tagger-v2.onnx`` + ``camie-tagger-v2-metadata.json``
  (``dataset_info.tag_mapping.idx_to_tag`` / ``tag_to_category``, ``model_info.img_size`` 512); input float32
  NCHW RGB, the image shrunk to fit 512 (Lanczos) and centred on the ImageNet mean colour (124, 116, 104), then
  ImageNet mean/std normalised; outputs ``initial_predictions``, ``refined_predictions`` (logits; the refined
  ones are used, through a sigmoid), ``selected_candidates``.
- ``pixai``: pixai-labs/pixai-tagger-v0.9 as exported to ONNX by deepghs (``deepghs/pixai-tagger-v0.9-onnx``;
  PixAI publishes no ONNX file itself). ``model.onnx`` + ``selected_tags.csv`` (``id,tag_id,name,category,count,
  ips``; categories 0 general and 4 character, no rating tags); input ``input`` float32 NCHW RGB 448x448, the
  image on white, resized to the square (bilinear, as PixAI's own handler) and scaled to -1..1 (mean = std =
  0.5); outputs ``embedding``, ``logits`` and ``prediction`` (sigmoid scores, used).
"""

from __future__ import annotations

from dataclasses import dataclass

from loratui.errors import ModelError


@dataclass(frozen=True)
class TaggerFormat:
    """How to run one kind of tagger."""

    name: str
    model_file: str
    tags_file: str
    layout: str
    """'NHWC' or 'NCHW'."""
    default_size: int
    """The input size when the model's input shape does not fix it."""
    output: str | None
    """The output holding the scores (None: the first)."""
    sigmoid: bool
    """The output holds logits: apply a sigmoid."""
    label: str
    """What it is, for messages."""


WD14 = TaggerFormat("wd14", "model.onnx", "selected_tags.csv", "NHWC", 448, None, False, "WD14 tagger")
CAMIE = TaggerFormat("camie", "camie-tagger-v2.onnx", "camie-tagger-v2-metadata.json", "NCHW", 512,
                     "refined_predictions", True, "Camie tagger")
PIXAI = TaggerFormat("pixai", "model.onnx", "selected_tags.csv", "NCHW", 448, "prediction", False, "PixAI tagger")
FORMATS = {f.name: f for f in (WD14, CAMIE, PIXAI)}


def tagger_format(name: str) -> TaggerFormat:
    """The format called `name`; ModelError otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ModelError(f"unknown tagger format {name!r} (known: {', '.join(FORMATS)})") from None
