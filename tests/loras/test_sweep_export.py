"""Sharing a sweep: the contact sheet's size, labels and chosen-row frame; the HTML page's inlined images and
escaped prompts; `loratui lora grid` as a table, JSON and exports; the grid's images on an uploaded model card."""

from __future__ import annotations

import base64
import html
import re

from PIL import Image

from loratui.loras import sweep_export
from loratui.loras.hub import upload_lora
from loratui.loras.sweep_manifest import cell_path
from tests.sweepfolder import PROMPTS, make_sweep


def test_contact_sheet_size_placeholders_and_chosen_frame(tmp_path):
    folder = tmp_path / "sweep"
    manifest = make_sweep(folder, missing=[("e4", "p1-s2")], chosen="e4")
    layout = sweep_export.sheet_layout(manifest, cell=64)
    sheet = sweep_export.contact_sheet(folder, manifest, cell=64)
    assert sheet.size == (layout.width, layout.height)
    assert layout.width == layout.label_width + sweep_export.GAP + 4 * (64 + sweep_export.GAP)
    assert layout.height == layout.header_height + sweep_export.GAP + 4 * (64 + sweep_export.GAP)
    # a rendered cell shows its image (centre pixel of the 48x64 PNG fitted into 64x64: the flat colour)
    x, y = layout.cell_box(1, 0)
    with Image.open(cell_path(folder, "e2", "p0-s1")) as image:
        assert sheet.getpixel((x + 32, y + 60)) == image.getpixel((24, 60))
    # the missing cell is a placeholder on the background
    x, y = layout.cell_box(2, 3)
    assert sheet.getpixel((x + 32, y + 10)) == sweep_export.BACKGROUND
    # the chosen row (index 2) is framed in the highlight colour, the others are not
    top = layout.cell_box(2, 0)[1]
    assert sweep_export.CHOSEN_COLOUR in [sheet.getpixel((3, yy)) for yy in range(top, top + 64)]
    top = layout.cell_box(1, 0)[1]
    assert sweep_export.CHOSEN_COLOUR not in [sheet.getpixel((3, yy)) for yy in range(top, top + 64)]


def test_labels_and_prompt_wrapping(tmp_path):
    manifest = make_sweep(tmp_path / "sweep", strengths=(0.5, 1.0), make_loras=False)
    assert sweep_export.row_label(manifest.row("e2-s0.5")) == "epoch 2  strength 0.5"
    assert sweep_export.row_label(manifest.row("baseline")) == "no LoRA"
    font = sweep_export._font(14)
    lines = sweep_export._wrap(font, PROMPTS[0] + " and much more text" * 10, 120, 3)
    assert len(lines) == 3 and lines[-1].endswith("…")
    assert all(sweep_export._text_width(font, line) <= 120 for line in lines)
    label = sweep_export.column_label(manifest.columns[0], 20)
    assert label == "a photo of mychar s…  seed 1"


def test_html_inlines_every_image_once_and_escapes_prompts(tmp_path):
    folder = tmp_path / "sweep"
    manifest = make_sweep(folder, missing=[("e6", "p0-s1")], chosen="e2")
    page = sweep_export.html_page(folder, manifest)
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    expected = [base64.b64encode(cell_path(folder, r, c).read_bytes()).decode()
                for r, c in manifest.cells() if cell_path(folder, r, c).is_file()]
    assert sorted(uris) == sorted(expected) and len(uris) == 15
    assert all(page.count(uri) == 1 for uri in expected)
    assert page.count('class="missing"') == 1
    assert "<b>&amp; friends</b>" not in page and html.escape(PROMPTS[1]) in page
    assert not re.search(r'(src|href)="(?!data:)', page) and "http" not in page
    assert '<tr class="chosen"><th class="row">epoch 2' in page


def test_cli_grid_table_json_and_exports(cli, tmp_path):
    folder = tmp_path / "sweep"
    make_sweep(folder, missing=[("e4", "p1-s2")])
    table = cli("lora", "grid", folder)
    assert table.code == 0, table
    assert "15/16 cells rendered" in table.err and "epoch 4" in table.out
    data = cli("lora", "grid", folder, "--json").json()
    assert [r["key"] for r in data["rows"]] == ["baseline", "e2", "e4", "e6"]
    assert [c["image"] is None for c in data["rows"][2]["cells"]] == [False, False, False, True]
    out = cli("lora", "grid", folder, "--png", tmp_path / "sheet.png", "--html", tmp_path / "sheet.html",
              "--cell", "64", "--json").json()
    with Image.open(out["png"]) as sheet:
        assert sheet.format == "PNG" and sheet.width > 4 * 64
    assert (tmp_path / "sheet.html").read_text().startswith("<!DOCTYPE html>")
    assert cli("lora", "grid", tmp_path).code == 2  # not a sweep folder: one line, exit 2


def test_upload_puts_the_chosen_rows_images_on_the_card(cli, tmp_path, hub_server, monkeypatch):
    folder = tmp_path / "sweep"
    make_sweep(folder, chosen="e4")
    lora = tmp_path / "run" / "mychar-000004.safetensors"
    monkeypatch.setenv("HF_TOKEN", hub_server.token)
    result = cli("lora", "upload", lora, "--repo", "alice/mychar", "--sweep", folder, "--json")
    assert result.code == 0, result
    files = hub_server.repos["alice/mychar"]["files"]
    images = sorted(name for name in files if name.startswith("images/"))
    assert images == ["images/00-p0-s1.png", "images/01-p0-s2.png", "images/02-p1-s1.png", "images/03-p1-s2.png"]
    assert files["images/00-p0-s1.png"] == cell_path(folder, "e4", "p0-s1").read_bytes()
    card = files["README.md"].decode()
    assert "widget:" in card and 'url: "images/02-p1-s1.png"' in card and "![" in card
    assert result.json()["files"][-1] == "README.md"


def test_upload_of_a_file_no_row_used_is_refused(cli, tmp_path, lora_factory, monkeypatch):
    folder = tmp_path / "sweep"
    make_sweep(folder)
    other = lora_factory(tmp_path / "other.safetensors")
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    result = cli("lora", "upload", other, "--repo", "alice/x", "--sweep", folder)
    assert result.code == 2 and "no row of the sweep" in result.err
