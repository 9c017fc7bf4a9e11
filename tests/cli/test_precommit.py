"""The pre-commit hooks of .pre-commit-hooks.yaml, run the way pre-commit
runs them (entry + the staged file names its filters select), and the
documented GitHub Actions step (scan to a SARIF file)."""
import json
import os
import re
import shlex
import shutil
import subprocess

import pytest

from conftest import BIN, SRC, fixture

BIN = os.path.abspath(BIN)

yaml = pytest.importorskip("yaml")
HOOKS = yaml.safe_load(open(os.path.join(SRC, ".pre-commit-hooks.yaml")))


def hook(hook_id):
    return [h for h in HOOKS if h["id"] == hook_id][0]


def run_hook(h, files):
    """pre-commit's selection: 'files' is a Python regex searched in the
    path; 'entry' is split like a shell command, 'modelgate' is the
    binary under test."""
    sel = [f for f in files
           if re.search(h.get("files", ""), f)]
    if not sel:
        return 0, sel, b""
    cmd = shlex.split(h["entry"])
    assert cmd[0] == "modelgate" and h["language"] == "system"
    p = subprocess.run([BIN, *cmd[1:], *sel], capture_output=True)
    return p.returncode, sel, p.stdout


def test_hooks_are_well_formed():
    assert [h["id"] for h in HOOKS] == ["modelgate", "modelgate-all"]
    for h in HOOKS:
        for key in ("id", "name", "entry", "language"):
            assert key in h


def test_model_file_hook(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(fixture("pickle", "mal_reverse_shell.pkl"), "model.PT")
    shutil.copy(fixture("pickle", "ok_plain_p2.pkl"), "weights.bin")
    shutil.copy(fixture("pickle", "mal_inst.pkl"), "README")
    rc, sel, out = run_hook(hook("modelgate"),
                            ["model.PT", "weights.bin", "README"])
    assert sel == ["model.PT", "weights.bin"] and rc == 1
    assert b"model.PT: DANGEROUS" in out and b"modelgate:" not in out
    rc, sel, _ = run_hook(hook("modelgate"), ["weights.bin"])
    assert rc == 0
    # every file, by content: the pickle named README is caught
    rc, sel, out = run_hook(hook("modelgate-all"), ["README", "weights.bin"])
    assert rc == 1 and b"README: DANGEROUS" in out


def test_actions_example_produces_valid_sarif(tmp_path, monkeypatch):
    jsonschema = pytest.importorskip("jsonschema")
    doc = open(os.path.join(SRC, "docs", "cli.md")).read()
    step = re.search(r"run: /tmp/modelgate/build/modelgate (scan .*) > "
                     r"modelgate.sarif", doc)
    assert step, "GitHub Actions example not found in docs/cli.md"
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(fixture("pickle", "mal_reverse_shell.pkl"), models / "a.pt")
    monkeypatch.chdir(tmp_path)
    p = subprocess.run([BIN, *shlex.split(step.group(1))],
                       capture_output=True)
    assert p.returncode == 1
    schema = json.load(open(os.path.join(SRC, "tests", "fixtures", "sarif",
                                         "sarif-schema-2.1.0.json")))
    sarif = json.loads(p.stdout)
    jsonschema.Draft4Validator(schema).validate(sarif)
    assert sarif["runs"][0]["results"][0]["locations"][0][
        "physicalLocation"]["artifactLocation"]["uri"] == "models/a.pt"
