"""The readers that run after the scan (tagger, VLM captioner, preview) open dataset images like the scan does."""

from __future__ import annotations

import os

import pytest

from loratui.fsutil import FileRefused
from tests.conftest import make_image


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "ds"
    (root / "sub").mkdir(parents=True)
    return root


@pytest.mark.timeout(30)
def test_readers_after_the_scan_stay_inside_the_dataset(tree, tmp_path):
    """The tagger, the VLM captioner and the preview open dataset images the same way as the scan."""
    from loratui.tagging.preprocess import load_and_preprocess
    from loratui.tagging.vlm import image_data_url
    from loratui.tui.preview_render import decode_for_preview

    make_image(tmp_path / "outside.png")
    os.symlink(tmp_path / "outside.png", tree / "escape.png")
    os.mkfifo(tree / "pipe.png")
    make_image(tree / "sub" / "real.png", size=(64, 48))
    os.symlink("sub/real.png", tree / "alias.png")
    readers = [lambda p: load_and_preprocess(p, 32, root=tree), lambda p: image_data_url(p, 32, root=tree),
               lambda p: decode_for_preview(p, 8, 4, root=tree)]
    for read in readers:
        with pytest.raises(FileRefused, match="outside the dataset"):
            read(tree / "escape.png")
        with pytest.raises(FileRefused, match="FIFO"):
            read(tree / "pipe.png")
        assert read(tree / "alias.png") is not None
    assert decode_for_preview(tree / "alias.png", 8, 4, root=tree)[1] == (64, 48)
