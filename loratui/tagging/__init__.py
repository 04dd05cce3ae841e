"""Auto-tagging and captioning.

``wd14``: the WD14 (SmilingWolf) ONNX taggers: model registry and download, preprocessing that matches kohya
sd-scripts' ``finetune/tag_images_by_wd14_tagger.py``, an onnxruntime session, a pipelined tagging job and
re-thresholding from stored scores. ``vlm``: captions from any OpenAI-compatible vision endpoint.
Both write captions only through ``loratui.datasets.journal.apply_caption_changes``.
"""
