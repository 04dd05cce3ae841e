"""`loratui lora ...` and `loratui models ...` end to end (in-process CLI, real files, real local server)."""

from __future__ import annotations

import hashlib

from safetensors.numpy import load_file


def test_info_of_the_real_lora(cli, real_lora):
    result = cli("lora", "info", real_lora)
    assert result.code == 0, result
    for text in ("204 (conv1x1 32, linear 172)", "networks.lora", "sd_v1", "stable-diffusion-v1/lora",
                 "torch.optim.adamw.AdamW", "64x64", "10_tinyconcept: 10 repeats, 8 images", "tinyconcept"):
        assert text in result.out
    data = cli("lora", "info", real_lora, "--json", "--modules").json()
    assert data["dim"] == 4 and data["alpha"] == 1.0 and data["module_count"] == 204
    assert len(data["modules"]) == 204 and data["summary"]["steps"] == 4
    assert data["top_tags"][0][1] == 8 and data["metadata"]["ss_network_module"] == "networks.lora"


def test_scan_list_info_by_id_and_compare(cli, tmp_path, lora_factory, kohya_metadata):
    folder = tmp_path / "loras"
    lora_factory(folder / "a.safetensors", metadata=kohya_metadata)
    other = dict(kohya_metadata, ss_learning_rate="0.0005", ss_seed="7")
    lora_factory(folder / "b.safetensors", metadata=other, modules=[("lora_unet_x", "linear", 8, 8, 4, 2.0)])
    dry = cli("lora", "scan", folder, "--dry-run", "--json").json()
    assert len(dry["added"]) == 2 and cli("lora", "list", "--json").json() == []
    assert cli("lora", "scan", folder).code == 0
    assert cli("lora", "scan", folder, "--json").json()["unchanged"] == 2
    listed = cli("lora", "list", "--json").json()
    assert {r["dim"] for r in listed} == {8, 4}
    by_id = {r["path"].rsplit("/", 1)[-1]: r["id"] for r in listed}
    info = cli("lora", "info", str(by_id["a.safetensors"]), "--json").json()
    assert info["library_id"] == by_id["a.safetensors"] and info["summary"]["trigger_words"][0] == "mychar"
    comparison = cli("lora", "compare", str(by_id["a.safetensors"]), folder / "b.safetensors", "--json").json()
    changed = {row["key"]: (row["a"], row["b"]) for row in comparison["metadata_changed"]}
    assert changed == {"ss_learning_rate": ("0.0001", "0.0005"), "ss_seed": ("42", "7")}
    differs = {row["field"] for row in comparison["overview"] if row["differs"]}
    assert {"dim", "alpha", "learning rate", "seed", "modules"} <= differs
    text = cli("lora", "compare", folder / "a.safetensors", folder / "b.safetensors")
    assert text.code == 0 and "ss_learning_rate" in text.out


def test_resize_command_makes_a_job_and_indexes_the_output(cli, tmp_path, lora_factory, kohya_metadata):
    src = lora_factory(tmp_path / "big.safetensors", metadata=kohya_metadata)
    out = tmp_path / "small.safetensors"
    result = cli("lora", "resize", src, "--rank", "4", "--conv-rank", "2", "--out", out, "--precision", "fp16",
                 "--json")
    assert result.code == 0, result
    data = result.json()
    assert data["output"] == str(out) and 0 < data["energy_retained"] < 1
    assert {m["new_rank"] for m in data["modules"]} == {4, 2}
    jobs = cli("jobs", "--json").json()
    assert jobs[0]["kind"] == "resize" and jobs[0]["status"] == "completed" and jobs[0]["id"] == data["job_id"]
    listed = cli("lora", "list", "--json").json()
    assert listed[0]["path"] == str(out) and listed[0]["job_id"] == data["job_id"]
    assert load_file(str(out))["lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight"].shape == (2, 16, 3, 3)
    dynamic = cli("lora", "resize", src, "--dynamic", "sv_fro", "--param", "0.5", "--json").json()
    assert dynamic["output"].endswith("big-sv_fro0.5.safetensors")
    assert dynamic["metadata"]["ss_network_dim"] == "Dynamic"


def test_user_mistakes_exit_2_with_one_line(cli, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\xff" * 4)
    result = cli("lora", "info", bad)
    assert result.code == 2 and "truncated header" in result.err and "Traceback" not in result.err
    assert cli("lora", "info", "999").code == 2
    missing_rank = cli("lora", "resize", bad)
    assert missing_rank.code == 2 and "--rank" in missing_rank.err
    assert cli("models", "download").code == 2


def test_upload_command(cli, tmp_path, hub_server, lora_factory, kohya_metadata, monkeypatch):
    path = lora_factory(tmp_path / "mychar.safetensors", metadata=kohya_metadata)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    no_token = cli("lora", "upload", path, "--repo", "alice/mychar")
    assert no_token.code == 2 and "HF_TOKEN" in no_token.err
    monkeypatch.setenv("MY_HF", hub_server.token)
    result = cli("lora", "upload", path, "--repo", "alice/mychar", "--token-env", "MY_HF", "--json")
    assert result.code == 0, result
    assert hub_server.repos["alice/mychar"]["files"]["mychar.safetensors"] == path.read_bytes()
    assert hub_server.token not in result.out + result.err
    job = cli("jobs", "--json").json()[0]
    assert job["kind"] == "upload" and job["status"] == "completed"
    assert hub_server.token not in str(job)


def test_models_download_and_list(cli, tmp_path, hub_server, monkeypatch, home):
    data = b"base model weights" * 5000
    hub_server.add_file("org/base", "model.safetensors", data)
    result = cli("models", "download", "org/base", "--json")
    assert result.code == 0, result
    files = result.json()["files"]
    assert files[0]["path"] == str(home / "models" / "model.safetensors")
    assert files[0]["sha256"] == hashlib.sha256(data).hexdigest()
    hub_server.civitai[42] = {"name": "../civ.safetensors", "data": b"c" * 100}
    monkeypatch.setenv("CIVITAI_API_TOKEN", hub_server.civitai_token)
    civ = cli("models", "download", "--civitai", "42", "--to", tmp_path / "civ")
    assert civ.code == 0, civ
    assert (tmp_path / "civ" / "civ.safetensors").read_bytes() == b"c" * 100
    (home / "models" / "manual.ckpt").write_bytes(b"x")
    listed = cli("models", "list", "--json").json()
    assert {(r["source"], r["path"].rsplit("/", 1)[-1]) for r in listed} == {
        ("hf", "model.safetensors"), ("civitai", "civ.safetensors"), ("local", "manual.ckpt")}
    assert cli("models", "list").code == 0
    kinds = {(j["kind"], j["status"]) for j in cli("jobs", "--json").json()}
    assert kinds == {("download", "completed")}


def test_info_names_the_job_whose_outputs_hold_the_file(cli, tmp_path, lora_factory, home):
    import json
    import time

    from loratui.store import connect

    path = lora_factory(tmp_path / "trained.safetensors")
    cli("jobs", "--json")  # creates the database
    conn = connect(home / "loratui.db")
    now = time.time()
    job_id = conn.execute("INSERT INTO jobs (kind, title, status, outputs, created_at, updated_at) VALUES "
                          "('train', 'my run', 'completed', ?, ?, ?)", (json.dumps([str(path)]), now, now)).lastrowid
    conn.close()
    data = cli("lora", "info", path, "--json").json()
    assert data["job"]["id"] == job_id and data["job"]["title"] == "my run"
    assert f"#{job_id} train my run (completed)" in cli("lora", "info", path).out


def test_models_download_family_fetches_every_file_its_record_names(cli, hub_server, home):
    from loratui.training.families import get_family

    family = get_family("qwen-image-edit-2509")
    for item in family.downloads:
        hub_server.add_file(item.repo, item.file, f"{item.repo}/{item.file}".encode() * 100)
    result = cli("models", "download", "--family", family.id)
    assert result.code == 0, result
    for item in family.downloads:
        path = home / "models" / item.repo / item.file
        assert path.read_bytes() == f"{item.repo}/{item.file}".encode() * 100
        assert f"--set {family.role(item.role).option}={path}" in result.err
    assert cli("models", "download", "--family", "anima").code == 2  # its record names no Hub files
    assert cli("models", "download", "org/x", "--family", "flux").code == 2
