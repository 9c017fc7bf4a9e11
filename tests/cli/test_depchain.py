"""The dependency chain: scan --python-env finds a planted pickle in a fake
site-packages (a real virtual environment of Debian's interpreter, with a
.pth target), and scan --hf-cache finds one in a fake Hugging Face cache
(blobs, refs, snapshots with symbolic links) and in the torch hub cache:
each once, under the name a user knows."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import fixture, run

PY = "/usr/bin/python3"


def scan(*args, env=None):
    p = run("scan", "--format", "json", *args, env=env)
    assert p.stdout, p.stderr.decode()
    return p.returncode, json.loads(p.stdout), p.stderr.decode()


def dangerous(doc):
    return [f["path"] for f in doc["files"] if f["verdict"] == "dangerous"]


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("env")
    v = root / "venv"
    subprocess.run([PY, "-m", "venv", "--without-pip", str(v)], check=True)
    site = v / "lib" / ("python%d.%d" % sys.version_info[:2]) / \
        "site-packages"
    assert site.is_dir()
    pkg = site / "evilpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    shutil.copy(fixture("pickle", "mal_reverse_shell.pkl"),
                pkg / "weights.bin")
    extra = root / "extra"
    extra.mkdir()
    shutil.copy(fixture("pickle", "mal_inst.pkl"), extra / "model.pkl")
    marker = root / "pth-ran"
    # a .pth path line, and an import line that must never run
    (site / "extra.pth").write_text(
        "# a comment\n%s\nimport os; open(%r, 'w').close()\n"
        % (extra, str(marker)))
    (site / "sitecustomize.py").write_text(
        "open(%r, 'w').close()\n" % str(marker))
    return {"python": str(v / "bin" / "python"), "site": site,
            "extra": extra, "marker": marker, "root": root}


def test_python_env_finds_planted_pickles_once(venv):
    # the site folder given again as a path is not scanned twice
    p = run("scan", "--format", "json", "-v",
            "--python-env=" + venv["python"], str(venv["site"]))
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    bad = dangerous(doc)
    want = [str(venv["site"] / "evilpkg" / "weights.bin"),
            str(venv["extra"] / "model.pkl")]
    assert sorted(bad) == sorted(want), bad
    paths = [f["path"] for f in doc["files"]]
    assert len(paths) == len(set(paths))
    for w in want:
        assert paths.count(w) == 1
    # nothing from the environment ran: no .pth import line, no
    # sitecustomize
    assert not venv["marker"].exists()
    # -v lists the folders and the .pth code lines (not run)
    err = p.stderr.decode()
    assert str(venv["site"]) in err and str(venv["extra"]) in err
    assert "import line(s)" in err and "not run here" in err


def test_python_env_errors(tmp_path):
    p = run("scan", "--python-env=/nonexistent/python3")
    assert p.returncode == 2 and b"/nonexistent/python3" in p.stderr
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    p = run("scan", "--python-env=" + str(fake))
    assert p.returncode == 2 and b"did not report" in p.stderr
    # the value is only taken with '=': a following word is a path, and
    # the interpreter is python3 from PATH (here one that reports nothing)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "python3").chmod(0o755)
    p = run("scan", "--python-env", "/nonexistent/path",
            env={"PATH": str(bindir)})
    assert p.returncode == 2 and b"/nonexistent/path" in p.stderr


def make_hf(root):
    hub = root / "hf" / "hub"
    repo = hub / "models--org--name"
    for d in ("blobs", "refs", "snapshots/1111aaaa", "snapshots/2222bbbb"):
        (repo / d).mkdir(parents=True)
    shutil.copy(fixture("pickle", "mal_reverse_shell.pkl"),
                repo / "blobs" / "5a5b")
    shutil.copy(fixture("pickle", "ok_torch_state_dict_data.pkl"),
                repo / "blobs" / "6c6d")
    (repo / "refs" / "main").write_text("2222bbbb")
    for rev in ("1111aaaa", "2222bbbb"):
        os.symlink("../../blobs/5a5b",
                   repo / "snapshots" / rev / "pytorch_model.bin")
        os.symlink("../../blobs/6c6d",
                   repo / "snapshots" / rev / "other.bin")
    torch_hub = root / "torch" / "hub" / "checkpoints"
    torch_hub.mkdir(parents=True)
    shutil.copy(fixture("pickle", "mal_inst.pkl"), torch_hub / "resnet.pth")
    return hub, repo, torch_hub


def test_hf_cache_finds_planted_pickle_once(tmp_path):
    hub, repo, torch_hub = make_hf(tmp_path)
    env = {"HF_HOME": str(tmp_path / "hf"),
           "TORCH_HOME": str(tmp_path / "torch"), "HF_HUB_CACHE": ""}
    rc, doc, _ = scan("--hf-cache", env=env)
    assert rc == 1
    assert dangerous(doc) == [
        str(repo / "snapshots" / "1111aaaa" / "pytorch_model.bin"),
        str(torch_hub / "resnet.pth")]
    paths = [f["path"] for f in doc["files"]]
    assert not any("/blobs/" in p for p in paths)  # named by revision
    assert len(paths) == len(set(paths)) == 4  # 2 blobs, refs/main, .pth


def test_hf_cache_dir_and_env_forms(tmp_path):
    hub, repo, _ = make_hf(tmp_path)
    want = [str(repo / "snapshots" / "1111aaaa" / "pytorch_model.bin")]
    # the hub folder, or HF_HOME (its parent), given explicitly
    for d in (hub, tmp_path / "hf"):
        rc, doc, _ = scan("--hf-cache=" + str(d))
        assert dangerous(doc) == want and rc == 1
    # HF_HUB_CACHE wins over HF_HOME; XDG_CACHE_HOME is the fallback
    rc, doc, _ = scan("--hf-cache", env={
        "HF_HUB_CACHE": str(hub), "HF_HOME": "/nonexistent",
        "TORCH_HOME": "/nonexistent"})
    assert dangerous(doc) == want
    xdg = tmp_path / "xdg"
    (xdg / "huggingface").mkdir(parents=True)
    os.symlink(hub, xdg / "huggingface" / "hub")
    rc, doc, err = scan("--hf-cache", env={
        "HF_HUB_CACHE": "", "HF_HOME": "", "TORCH_HOME": "",
        "XDG_CACHE_HOME": str(xdg)})
    assert [os.path.basename(p) for p in dangerous(doc)] == [
        "pytorch_model.bin"]
    assert "no torch hub cache at %s/torch/hub" % xdg in err
    p = run("scan", "--hf-cache=/nonexistent/hub")
    assert p.returncode == 2 and b"not a folder" in p.stderr


def test_hf_cache_nothing_there(tmp_path):
    rc, doc, err = scan("--hf-cache", env={
        "HF_HUB_CACHE": "", "HF_HOME": "", "TORCH_HOME": "",
        "XDG_CACHE_HOME": "", "HOME": str(tmp_path)})
    assert rc == 0 and doc["summary"]["files"] == 0
    assert "no Hugging Face cache at %s/.cache/huggingface/hub" % tmp_path \
        in err
