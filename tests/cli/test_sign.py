"""modelgate sign / verify / check and the OMS conformance adapter
(sign-model, verify-model): the reference vectors, round trips on the three
curves checked by an independent verifier (omsref.py) and the OMS JSON
schemas, every tampering with its precise reason, keyrings, admission."""
import base64
import json
import os
import pathlib
import shutil
import subprocess

import pytest

import omsref
from conftest import BIN, FIXTURES, run

OMS = pathlib.Path(FIXTURES) / "oms"
MT = OMS / "model-transparency"
SPEC = OMS / "model-signing-spec" / "test-vectors" / "v1.0"
PUB = MT / "keys" / "signing-key-pub.pem"
CURVES = {"P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}


def text(p):
    return p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")


def keypair(tmp, curve="P-384", name="k"):
    priv, pub = tmp / f"{name}.pem", tmp / f"{name}.pub"
    subprocess.run(["openssl", "ecparam", "-name", CURVES[curve], "-genkey",
                    "-noout", "-out", str(priv)], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "ec", "-in", str(priv), "-pubout", "-out",
                    str(pub)], check=True, capture_output=True)
    return priv, pub


def make_model(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (root / "config.json").write_text('{"layers": 2}\n')
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "tokenizer.txt").write_text("a b c\n")
    (root / "a-b").write_text("dash\n")
    (root / ".hidden").write_text("dotfile\n")
    (root / ".git").mkdir(exist_ok=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return root


def reasons(p):
    """(path, code) pairs of the reason lines."""
    out = []
    for line in p.stdout.decode(errors="replace").splitlines():
        parts = line.split(": ", 2)
        if len(parts) == 3 and parts[0] not in ("FAILED", "ERROR",
                                                 "REFUSED", "verified"):
            out.append((parts[0], parts[1]))
    return out


@pytest.fixture
def signed(tmp_path):
    priv, pub = keypair(tmp_path)
    model = make_model(tmp_path / "model")
    p = run("sign", "--key", str(priv), str(model))
    assert p.returncode == 0, text(p)
    return model, priv, pub


# ---- the reference vectors ----

@pytest.mark.parametrize("case,extra", [
    ("v1.1.0-elliptic-key", []),
    ("v1.0.1-elliptic-key", ["--ignore", "ignore-me"]),
])
def test_reference_folder_vectors_verify(tmp_path, case, extra):
    model = tmp_path / case
    shutil.copytree(MT / case, model)
    p = run("verify", "--key", str(PUB), *extra, str(model))
    assert p.returncode == 0, text(p)
    assert "verified:" in p.stdout.decode()


def test_v101_vector_needs_its_ignore_path(tmp_path):
    model = tmp_path / "m"
    shutil.copytree(MT / "v1.0.1-elliptic-key", model)
    p = run("verify", "--key", str(PUB), str(model))
    assert p.returncode == 1
    assert ("ignore-me", "added") in reasons(p)


@pytest.mark.parametrize("case", ["v1.0.0-elliptic-key", "v0.3.1-elliptic-key"])
def test_reference_single_file_vectors_verify(case):
    p = run("verify", "--key", str(PUB), "--signature",
            str(MT / case / "model.sig"), str(MT / case / "signme-1"))
    assert p.returncode == 0, text(p)
    assert "rawBytes" in p.stdout.decode()  # the legacy-format note


def test_spec_valid_key_bundle_verifies(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    for f in ("signme-1", "signme-2", "ignore-me"):
        shutil.copy(MT / "v1.1.0-elliptic-key" / f, model / f)
    p = run("verify", "--key", str(PUB), "--signature",
            str(SPEC / "valid" / "key.bundle.json"), str(model))
    assert p.returncode == 0, text(p)
    # the independent verifier agrees
    omsref.verify(model, SPEC / "valid" / "key.bundle.json",
                  omsref.load_public(PUB))


@pytest.mark.parametrize("bundle,code", [
    ("invalid/empty.bundle.json", "malformed-bundle"),
    ("invalid/missing-envelope.bundle.json", "malformed-bundle"),
    ("invalid/missing-verification-material.bundle.json", "malformed-bundle"),
    ("invalid/missing-tlog-entries.bundle.json", "unsupported"),
    ("invalid-payload/wrong-predicate.bundle.json", "bad-signature"),
    ("valid/certificate.bundle.json", "unsupported"),
    ("valid/sigstore.bundle.json", "unsupported"),
])
def test_spec_bundles_refused_with_reason(tmp_path, bundle, code):
    model = tmp_path / "model"
    shutil.copytree(MT / "v1.1.0-elliptic-key", model)
    p = run("verify", "--key", str(PUB), "--signature", str(SPEC / bundle),
            str(model))
    assert p.returncode == 1, text(p)
    assert [c for _, c in reasons(p)] == [code], text(p)


def test_reference_vector_with_another_key_is_key_mismatch(tmp_path):
    _, pub = keypair(tmp_path)
    model = tmp_path / "m"
    shutil.copytree(MT / "v1.1.0-elliptic-key", model)
    p = run("verify", "--key", str(pub), str(model))
    assert p.returncode == 1
    assert [c for _, c in reasons(p)] == ["key-mismatch"]


def test_legacy_vector_with_another_key_is_bad_signature(tmp_path):
    _, pub = keypair(tmp_path)  # no hint in v1.0.x: only the signature says
    p = run("verify", "--key", str(pub), "--signature",
            str(MT / "v1.0.0-elliptic-key" / "model.sig"),
            str(MT / "v1.0.0-elliptic-key" / "signme-1"))
    assert p.returncode == 1
    assert "bad-signature" in [c for _, c in reasons(p)]


# ---- round trips, checked independently ----

def schema_validate(bundle_path):
    jsonschema = pytest.importorskip("jsonschema")
    sdir = OMS / "model-signing-spec" / "schemas" / "v1.0"
    store = {}
    for f in sdir.glob("*.json"):
        s = json.loads(f.read_text())
        store[s["$id"]] = s
    bundle = json.loads(pathlib.Path(bundle_path).read_text())
    top = store["https://model_signing/bundle/v1.0/schema"]
    resolver = jsonschema.RefResolver.from_schema(top, store=store)
    jsonschema.Draft202012Validator(top, resolver=resolver).validate(bundle)
    stmt = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    st_schema = store["https://model_signing/statement/v1.0/schema"]
    jsonschema.Draft202012Validator(
        st_schema, resolver=jsonschema.RefResolver.from_schema(
            st_schema, store=store)).validate(stmt)
    return stmt


@pytest.mark.parametrize("curve", list(CURVES))
def test_roundtrip_each_curve(tmp_path, curve):
    priv, pub = keypair(tmp_path, curve)
    model = make_model(tmp_path / "model")
    p = run("sign", "--key", str(priv), "-j", "2", str(model))
    assert p.returncode == 0, text(p)
    sig = model / "model.sig"
    p = run("verify", "--key", str(pub), str(model))
    assert p.returncode == 0, text(p)
    # what model_signing would check, done without modelgate
    stmt = omsref.verify(model, sig, omsref.load_public(pub))
    names = [r["name"] for r in stmt["predicate"]["resources"]]
    assert names == sorted(names, key=omsref.sort_key)
    assert names.index("a-b") < names.index("config.json")
    assert ".hidden" in names and not any(n.startswith(".git/") for n in names)
    ser = stmt["predicate"]["serialization"]
    assert set(ser["ignore_paths"]) == {".git", ".gitattributes", ".github",
                                        ".gitignore", "model.sig"}
    assert stmt["subject"][0]["name"] == "model"
    b = json.loads(sig.read_text())
    assert b["verificationMaterial"] == {
        "publicKey": {"hint": omsref.hint(omsref.load_public(pub))},
        "tlogEntries": []}
    assert b["dsseEnvelope"]["signatures"][0]["keyid"] == ""
    schema_validate(sig)


def test_sort_order_is_component_wise(tmp_path, signed):
    model, priv, pub = signed
    (model / "a").mkdir()
    (model / "a" / "z").write_text("1")
    (model / "a.b").write_text("2")
    (model / "ä").write_text("3")
    assert run("sign", "--key", str(priv), str(model)).returncode == 0
    stmt = omsref.verify(model, model / "model.sig", omsref.load_public(pub))
    names = [r["name"] for r in stmt["predicate"]["resources"]]
    assert names == sorted(names, key=omsref.sort_key)
    assert names.index("a/z") < names.index("a-b") < names.index("a.b")
    assert names[-1] == "ä"


def test_single_file_model(tmp_path):
    priv, pub = keypair(tmp_path, "P-256")
    f = tmp_path / "model.pt"
    f.write_bytes(b"\x80\x02}q\x00.")
    p = run("sign", "--key", str(priv), str(f))
    assert p.returncode == 0, text(p)
    sig = tmp_path / "model.pt.sig"
    stmt = omsref.verify(f, sig, omsref.load_public(pub))
    assert [r["name"] for r in stmt["predicate"]["resources"]] == ["."]
    assert run("verify", "--key", str(pub), str(f)).returncode == 0
    f.write_bytes(b"\x80\x02}q\x01.")
    p = run("verify", "--key", str(pub), str(f))
    assert p.returncode == 1
    assert reasons(p) == [(".", "changed")]


def test_single_file_named_by_basename_is_accepted(tmp_path):
    """The OMS spec and the Go client name a single file by its basename."""
    priv, pub = keypair(tmp_path)
    f = tmp_path / "w.bin"
    f.write_bytes(b"weights")
    b = omsref.make_bundle(omsref.load_private(priv),
                           [("w.bin", omsref.sha256_file(f))])
    (tmp_path / "b.sig").write_text(json.dumps(b))
    p = run("verify", "--key", str(pub), "--signature",
            str(tmp_path / "b.sig"), str(f))
    assert p.returncode == 0, text(p)


def test_bundle_made_by_reference_rules_verifies(tmp_path, signed):
    model, priv, pub = signed
    res = sorted(omsref.manifest_of(model, omsref.GIT_PATHS +
                                    ["model.sig"]).items(),
                 key=lambda x: omsref.sort_key(x[0]))
    b = omsref.make_bundle(omsref.load_private(priv), res,
                           ignore_paths=omsref.GIT_PATHS + ["model.sig"])
    (model / "model.sig").write_text(json.dumps(b, indent=1))
    p = run("verify", "--key", str(pub), str(model))
    assert p.returncode == 0, text(p)


# ---- tampering: each fails with its reason ----

def test_one_byte_changed(signed):
    model, _, pub = signed
    data = bytearray((model / "weights.bin").read_bytes())
    data[1000] ^= 1
    (model / "weights.bin").write_bytes(bytes(data))
    p = run("verify", "--key", str(pub), str(model))
    assert p.returncode == 1
    assert reasons(p) == [("weights.bin", "changed")]


def test_file_added(signed):
    model, _, pub = signed
    (model / "sub" / "extra.pkl").write_bytes(b"x")
    p = run("verify", "--key", str(pub), str(model))
    assert p.returncode == 1
    assert reasons(p) == [("sub/extra.pkl", "added")]
    p = run("verify", "--key", str(pub), "--ignore-unsigned-files",
            str(model))
    assert p.returncode == 0, text(p)


def test_file_removed(signed):
    model, _, pub = signed
    (model / "config.json").unlink()
    p = run("verify", "--key", str(pub), str(model))
    assert p.returncode == 1
    assert reasons(p) == [("config.json", "missing")]
    # --ignore-unsigned-files never excuses a missing signed file
    p = run("verify", "--key", str(pub), "--ignore-unsigned-files",
            str(model))
    assert p.returncode == 1


def test_file_renamed(signed):
    model, _, pub = signed
    (model / "config.json").rename(model / "config2.json")
    p = run("verify", "--key", str(pub), str(model))
    assert p.returncode == 1
    assert sorted(reasons(p)) == [("config.json", "missing"),
                                  ("config2.json", "added")]


def edit_bundle(model, fn):
    sig = model / "model.sig"
    b = json.loads(sig.read_text())
    fn(b)
    sig.write_text(json.dumps(b))


def test_bundle_payload_edited(signed):
    model, _, pub = signed

    def change_digest(b):
        st = json.loads(base64.b64decode(b["dsseEnvelope"]["payload"]))
        st["predicate"]["resources"][0]["digest"] = "00" * 32
        b["dsseEnvelope"]["payload"] = base64.b64encode(
            json.dumps(st).encode()).decode()
    edit_bundle(model, change_digest)
    p = run("verify", "--key", str(pub), str(model))
    assert p.returncode == 1
    assert [c for _, c in reasons(p)] == ["bad-signature"]


def test_bundle_signature_edited(signed):
    model, _, pub = signed

    def flip(b):
        s = bytearray(base64.b64decode(b["dsseEnvelope"]["signatures"][0]["sig"]))
        s[-1] ^= 1
        b["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(s).decode()
    edit_bundle(model, flip)
    p = run("verify", "--key", str(pub), str(model))
    assert [c for _, c in reasons(p)] == ["bad-signature"]


def test_bundle_keyid_is_ignored(signed):
    model, _, pub = signed
    edit_bundle(model, lambda b: b["dsseEnvelope"]["signatures"][0].update(
        keyid=None))
    assert run("verify", "--key", str(pub), str(model)).returncode == 0


def test_bundle_hint_edited(signed):
    model, _, pub = signed
    edit_bundle(model, lambda b: b["verificationMaterial"]["publicKey"]
                .update(hint="ab" * 32))
    p = run("verify", "--key", str(pub), str(model))
    assert [c for _, c in reasons(p)] == ["key-mismatch"]


def test_wrong_media_type(signed):
    model, _, pub = signed
    edit_bundle(model, lambda b: b.update(
        mediaType="application/vnd.dev.sigstore.bundle.v0.2+json"))
    p = run("verify", "--key", str(pub), str(model))
    assert p.returncode == 1
    assert [c for _, c in reasons(p)] == ["media-type"]


def test_wrong_payload_type(signed):
    model, _, pub = signed
    edit_bundle(model, lambda b: b["dsseEnvelope"].update(
        payloadType="application/json"))
    p = run("verify", "--key", str(pub), str(model))
    assert [c for _, c in reasons(p)] == ["bad-payload"]


def test_truncated_bundle(signed):
    model, _, pub = signed
    sig = model / "model.sig"
    data = sig.read_bytes()
    for cut in (1, len(data) // 2, len(data) - 3):
        sig.write_bytes(data[:cut])
        p = run("verify", "--key", str(pub), str(model))
        assert p.returncode == 1, cut
        assert [c for _, c in reasons(p)] == ["malformed-bundle"], cut


def test_duplicate_json_key_refused(signed):
    model, _, pub = signed
    sig = model / "model.sig"
    t = sig.read_text()
    sig.write_text('{"mediaType":"x",' + t[1:])
    p = run("verify", "--key", str(pub), str(model))
    assert [c for _, c in reasons(p)] == ["malformed-bundle"]
    assert "duplicate" in p.stdout.decode()


def test_other_key(signed, tmp_path):
    model, _, _ = signed
    _, other = keypair(tmp_path, "P-384", "other")
    p = run("verify", "--key", str(other), str(model))
    assert p.returncode == 1
    assert [c for _, c in reasons(p)] == ["key-mismatch"]


def test_no_signature_is_unsigned(tmp_path):
    _, pub = keypair(tmp_path)
    model = make_model(tmp_path / "m")
    p = run("verify", "--key", str(pub), str(model))
    assert p.returncode == 1
    assert [c for _, c in reasons(p)] == ["unsigned"]


@pytest.mark.parametrize("name", ["../secret", "/etc/passwd", "a/../../x",
                                  "a//b", "./a", "a/"])
def test_unsafe_resource_names_refused_before_disk(tmp_path, name):
    priv, pub = keypair(tmp_path)
    model = tmp_path / "m"
    model.mkdir()
    (tmp_path / "secret").write_text("s")
    b = omsref.make_bundle(omsref.load_private(priv), [(name, "00" * 32)])
    (tmp_path / "b.sig").write_text(json.dumps(b))
    p = run("verify", "--key", str(pub), "--ignore-unsigned-files",
            "--signature", str(tmp_path / "b.sig"), str(model))
    assert p.returncode == 1
    assert [c for _, c in reasons(p)] == ["bad-name"], text(p)


def test_root_digest_mismatch(tmp_path, signed):
    model, priv, pub = signed
    st = omsref.make_bundle(omsref.load_private(priv), [("x", "00" * 32)])
    payload = json.loads(base64.b64decode(st["dsseEnvelope"]["payload"]))
    payload["subject"][0]["digest"]["sha256"] = "11" * 32
    b = omsref.make_bundle(omsref.load_private(priv), [],
                           raw_payload=json.dumps(payload).encode())
    (model / "model.sig").write_text(json.dumps(b))
    p = run("verify", "--key", str(pub), str(model))
    assert [c for _, c in reasons(p)] == ["bad-payload"]
    assert "root digest" in p.stdout.decode()


# ---- refusals on the model side ----

def test_symlink_refused_unless_allowed(tmp_path):
    priv, pub = keypair(tmp_path)
    model = make_model(tmp_path / "m")
    os.symlink("weights.bin", model / "link.bin")
    p = run("sign", "--key", str(priv), str(model))
    assert p.returncode == 1
    assert "link.bin: refused" in text(p)
    assert not (model / "model.sig").exists()
    p = run("sign", "--key", str(priv), "--allow-symlinks", str(model))
    assert p.returncode == 0, text(p)
    assert run("verify", "--key", str(pub), str(model)).returncode == 0
    (model / "weights.bin").write_bytes(b"changed")
    p = run("verify", "--key", str(pub), str(model))
    assert sorted(reasons(p)) == [("link.bin", "changed"),
                                  ("weights.bin", "changed")]


def test_symlink_in_signed_model_without_allow(signed):
    model, _, pub = signed
    os.symlink("/etc/hostname", model / "evil")
    p = run("verify", "--key", str(pub), str(model))
    assert p.returncode == 1
    assert ("evil", "refused") in reasons(p)


def test_fifo_refused(tmp_path):
    priv, _ = keypair(tmp_path)
    model = make_model(tmp_path / "m")
    os.mkfifo(model / "pipe")
    p = run("sign", "--key", str(priv), str(model))
    assert p.returncode == 1
    assert "pipe: refused" in text(p)


def test_empty_model_refused(tmp_path):
    priv, _ = keypair(tmp_path)
    (tmp_path / "empty" / ".git").mkdir(parents=True)
    (tmp_path / "empty" / ".git" / "x").write_text("x")
    p = run("sign", "--key", str(priv), str(tmp_path / "empty"))
    assert p.returncode == 1
    assert "empty model" in text(p)


def test_non_utf8_name_refused(tmp_path):
    priv, _ = keypair(tmp_path)
    model = make_model(tmp_path / "m")
    (model / os.fsdecode(b"bad\xff")).write_text("x")
    p = run("sign", "--key", str(priv), str(model))
    assert p.returncode == 1
    assert "UTF-8" in text(p)


def test_ignore_paths_recorded_and_applied(tmp_path):
    priv, pub = keypair(tmp_path)
    model = make_model(tmp_path / "m")
    (model / "cache").mkdir()
    (model / "cache" / "x").write_text("1")
    (model / "notes.txt").write_text("n")
    p = run("sign", "--key", str(priv), "--ignore", "cache", "--ignore",
            str(model / "notes.txt"), str(model))
    assert p.returncode == 0, text(p)
    stmt = omsref.verify(model, model / "model.sig", omsref.load_public(pub))
    assert {"cache", "notes.txt"} <= set(
        stmt["predicate"]["serialization"]["ignore_paths"])
    (model / "cache" / "y").write_text("2")  # ignored: still verifies
    assert run("verify", "--key", str(pub), str(model)).returncode == 0
    p = run("sign", "--key", str(priv), "--ignore", "../x", str(model))
    assert p.returncode == 2
    p = run("sign", "--key", str(priv), "--ignore", "/etc", str(model))
    assert p.returncode == 2


def test_unicode_and_special_names(tmp_path):
    priv, pub = keypair(tmp_path)
    model = tmp_path / "m"
    model.mkdir()
    for n in ("modèle 1.bin", "日本.txt", "a b#c$d.json", "quote\"name"):
        (model / n).write_text(n)
    assert run("sign", "--key", str(priv), str(model)).returncode == 0
    omsref.verify(model, model / "model.sig", omsref.load_public(pub))
    assert run("verify", "--key", str(pub), str(model)).returncode == 0


def test_signature_outside_model(tmp_path):
    priv, pub = keypair(tmp_path)
    model = make_model(tmp_path / "m")
    out = tmp_path / "elsewhere.sig"
    assert run("sign", "--key", str(priv), "-o", str(out),
               str(model)).returncode == 0
    stmt = omsref.verify(model, out, omsref.load_public(pub))
    assert "elsewhere.sig" not in stmt["predicate"]["serialization"][
        "ignore_paths"]
    assert run("verify", "--key", str(pub), "--signature", str(out),
               str(model)).returncode == 0


def test_public_key_cannot_sign_and_bad_keys(tmp_path):
    _, pub = keypair(tmp_path)
    model = make_model(tmp_path / "m")
    assert run("sign", "--key", str(pub), str(model)).returncode == 2
    rsa = tmp_path / "rsa.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(rsa), "2048"],
                   check=True, capture_output=True)
    p = run("sign", "--key", str(rsa), str(model))
    assert p.returncode == 2 and "not an EC key" in text(p)
    k1 = tmp_path / "k1.pem"
    subprocess.run(["openssl", "ecparam", "-name", "secp256k1", "-genkey",
                    "-noout", "-out", str(k1)], check=True,
                   capture_output=True)
    p = run("sign", "--key", str(k1), str(model))
    assert p.returncode == 2 and "secp256k1" in text(p)
    (tmp_path / "junk.pem").write_text("junk")
    assert run("verify", "--key", str(tmp_path / "junk.pem"),
               str(model)).returncode == 2


def test_encrypted_key_with_password_file(tmp_path):
    priv, pub = keypair(tmp_path)
    enc = tmp_path / "enc.pem"
    subprocess.run(["openssl", "pkcs8", "-topk8", "-in", str(priv), "-out",
                    str(enc), "-passout", "pass:s3cret"], check=True,
                   capture_output=True)
    model = make_model(tmp_path / "m")
    p = run("sign", "--key", str(enc), str(model))
    assert p.returncode == 2 and "passphrase" in text(p)
    (tmp_path / "pw").write_text("s3cret\n")
    p = run("sign", "--key", str(enc), "--key-password-file",
            str(tmp_path / "pw"), str(model))
    assert p.returncode == 0, text(p)
    assert run("verify", "--key", str(pub), str(model)).returncode == 0


# ---- keyrings ----

def test_keyring_picks_key_by_hint(signed, tmp_path):
    model, _, pub = signed
    ring = tmp_path / "ring"
    ring.mkdir()
    _, other = keypair(tmp_path, "P-256", "other")
    shutil.copy(other, ring / "other.pub")
    p = run("verify", "--keyring", str(ring), str(model))
    assert p.returncode == 1
    assert [c for _, c in reasons(p)] == ["untrusted-key"]
    shutil.copy(pub, ring / "publisher.pem")
    (ring / "README").write_text("not a key, skipped")
    p = run("verify", "--keyring", str(ring), str(model))
    assert p.returncode == 0, text(p)


def test_keyring_tries_every_key_without_hint(tmp_path):
    ring = tmp_path / "ring"
    ring.mkdir()
    _, other = keypair(tmp_path, "P-256", "other")
    shutil.copy(other, ring / "a.pub")
    shutil.copy(PUB, ring / "b.pem")
    p = run("verify", "--keyring", str(ring), "--signature",
            str(MT / "v1.0.0-elliptic-key" / "model.sig"),
            str(MT / "v1.0.0-elliptic-key" / "signme-1"))
    assert p.returncode == 0, text(p)


def test_broken_keyring_is_an_error(signed, tmp_path):
    model, _, _ = signed
    ring = tmp_path / "ring"
    ring.mkdir()
    (ring / "bad.pem").write_text("nope")
    p = run("verify", "--keyring", str(ring), str(model))
    assert p.returncode == 2 and "bad.pem" in text(p)


# ---- check: admission ----

MALICIOUS_PICKLE = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."
BENIGN_PICKLE = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s."


def test_check_admits_signed_clean_model(tmp_path):
    priv, pub = keypair(tmp_path)
    model = make_model(tmp_path / "m")
    (model / "data.pkl").write_bytes(BENIGN_PICKLE)
    assert run("sign", "--key", str(priv), str(model)).returncode == 0
    ring = tmp_path / "ring"
    ring.mkdir()
    shutil.copy(pub, ring / "pub.pem")
    p = run("check", "--keyring", str(ring), str(model))
    assert p.returncode == 0, text(p)
    assert "ADMITTED" in p.stdout.decode()
    p = run("check", str(model), env={"MODELGATE_KEYRING": str(ring)})
    assert p.returncode == 0, text(p)


def test_check_refuses_signed_malicious_model(tmp_path):
    priv, pub = keypair(tmp_path)
    model = make_model(tmp_path / "m")
    (model / "data.pkl").write_bytes(MALICIOUS_PICKLE)
    assert run("sign", "--key", str(priv), str(model)).returncode == 0
    p = run("check", "--key", str(pub), str(model))
    assert p.returncode == 1
    out = p.stdout.decode()
    assert "REFUSED" in out and "DANGEROUS" in out and "data.pkl" in out


def test_check_scans_files_the_signature_ignores(tmp_path):
    priv, pub = keypair(tmp_path)
    model = make_model(tmp_path / "m")
    (model / "extra").mkdir()
    (model / "extra" / "evil.pkl").write_bytes(MALICIOUS_PICKLE)
    assert run("sign", "--key", str(priv), "--ignore", "extra",
               str(model)).returncode == 0
    assert run("verify", "--key", str(pub), str(model)).returncode == 0
    p = run("check", "--key", str(pub), str(model))
    assert p.returncode == 1
    assert "evil.pkl" in p.stdout.decode()


def test_check_refuses_unsigned_and_untrusted(tmp_path):
    priv, pub = keypair(tmp_path)
    _, other = keypair(tmp_path, "P-256", "other")
    model = make_model(tmp_path / "m")
    p = run("check", "--key", str(pub), str(model))
    assert p.returncode == 1 and "unsigned" in p.stdout.decode()
    assert run("sign", "--key", str(priv), str(model)).returncode == 0
    p = run("check", "--key", str(other), str(model))
    assert p.returncode == 1 and "REFUSED" in p.stdout.decode()
    (model / "weights.bin").write_bytes(b"swapped")
    p = run("check", "--key", str(pub), str(model))
    assert p.returncode == 1 and "weights.bin: changed" in p.stdout.decode()


def test_check_needs_a_trust_anchor(tmp_path):
    model = make_model(tmp_path / "m")
    e = dict(os.environ)
    e.pop("MODELGATE_KEYRING", None)
    p = subprocess.run([BIN, "check", str(model)], capture_output=True, env=e)
    assert p.returncode == 2
    assert "no trusted key" in text(p)


# ---- hashing: parallel, throughput reported ----

def test_throughput_reported_and_jobs_agree(tmp_path):
    """sign and verify report what they hashed (bytes, seconds, MB/s) on
    stderr; -j 1 and -j 4 sign the same manifest."""
    priv, pub = keypair(tmp_path)
    model = tmp_path / "m"
    model.mkdir()
    for i in range(6):
        (model / f"shard-{i}.bin").write_bytes(bytes([i]) * 500_000)
    stmts = []
    for jobs in ("1", "4"):
        p = run("sign", "--key", str(priv), "-j", jobs, str(model))
        assert p.returncode == 0, text(p)
        err = p.stderr.decode()
        assert "modelgate sign: hashed 3.0 MB" in err, err
        stmts.append(omsref.verify(model, model / "model.sig",
                                   omsref.load_public(pub))["predicate"])
    assert stmts[0] == stmts[1]
    p = run("verify", "--key", str(pub), "-j", "3", str(model))
    assert p.returncode == 0, text(p)
    err = p.stderr.decode()
    assert "modelgate verify: hashed 3.0 MB" in err, err


# ---- the OMS conformance adapter protocol ----

def test_adapter_roundtrip(tmp_path):
    priv, pub = keypair(tmp_path, "P-521")
    model = make_model(tmp_path / "model")
    (model / "ignored.txt").write_text("i")
    bundle = tmp_path / "bundle.sig"
    p = run("sign-model", "--method", "key", "--model-path", str(model),
            "--output-bundle", str(bundle), "--private-key", str(priv),
            "--ignore-paths", str(model / "ignored.txt"),
            "--ignore-paths", "/somewhere/else")
    assert p.returncode == 0, text(p)
    omsref.verify(model, bundle, omsref.load_public(pub))
    base = ["verify-model", "--method", "key", "--model-path", str(model),
            "--bundle", str(bundle), "--public-key", str(pub)]
    assert run(*base).returncode == 0
    (model / "injected.bin").write_text("after signing")
    assert run(*base).returncode == 1
    assert run(*base, "--ignore-unsigned-files").returncode == 0
    _, other = keypair(tmp_path, "P-256", "o")
    assert run(*base[:-1], str(other)).returncode == 1
    assert run("verify-model", "--method", "certificate", "--model-path",
               str(model), "--bundle", str(bundle), "--cert-chain",
               str(pub)).returncode != 0


def test_adapter_signature_inside_model(tmp_path):
    priv, pub = keypair(tmp_path)
    model = make_model(tmp_path / "model")
    bundle = model / "bundle.sig"
    assert run("sign-model", "--method", "key", "--model-path", str(model),
               "--output-bundle", str(bundle), "--private-key",
               str(priv)).returncode == 0
    b = json.loads(bundle.read_text())
    st = json.loads(base64.b64decode(b["dsseEnvelope"]["payload"]))
    assert "bundle.sig" not in [r["name"] for r in st["predicate"]["resources"]]
    assert run("verify-model", "--method", "key", "--model-path", str(model),
               "--bundle", str(bundle), "--public-key",
               str(pub)).returncode == 0


def test_adapter_reference_vector(tmp_path):
    model = tmp_path / "m"
    shutil.copytree(MT / "v1.0.1-elliptic-key", model)
    base = ["verify-model", "--method", "key", "--model-path", str(model),
            "--bundle", str(model / "model.sig"), "--public-key", str(PUB)]
    assert run(*base).returncode == 1
    assert run(*base, "--ignore-paths", str(model / "ignore-me")).returncode == 0
