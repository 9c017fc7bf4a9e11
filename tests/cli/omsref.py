"""An independent re-implementation, in Python with `cryptography`, of the
rules model_signing (sigstore/model-transparency v1.1) applies with the key
method: it verifies bundles as model_signing's verifier does, and signs
bundles the way its signer does, so that tests can check modelgate's
bundles without modelgate and craft bundles modelgate did not write.

Written from the format description (docs and spec), not from its code.
"""
import base64
import hashlib
import json
import os
import pathlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE = "https://model_signing/signature/v1.0"
GIT_PATHS = [".git", ".gitattributes", ".github", ".gitignore"]


def load_public(path):
    data = pathlib.Path(path).read_bytes()
    start = data.index(b"-----BEGIN PUBLIC KEY-----")
    return serialization.load_pem_public_key(data[start:])


def load_private(path):
    return serialization.load_pem_private_key(
        pathlib.Path(path).read_bytes(), password=None)


def _hash_for(key):
    return {256: hashes.SHA256(), 384: hashes.SHA384(),
            521: hashes.SHA512()}[key.curve.key_size]


def hint(public_key):
    pem = public_key.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def pae(payload):
    return b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(),
                                   len(payload), payload)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_of(model, ignore_paths):
    """name -> hex digest, model_signing style (pathlib glob, dotfiles)."""
    model = pathlib.Path(model)
    if model.is_file():
        return {".": sha256_file(model)}
    ignores = [model / p for p in ignore_paths]
    out = {}
    for p in model.glob("**/*"):
        if any(p == i or i in p.parents for i in ignores):
            continue
        if p.is_symlink():
            raise ValueError(f"symlink {p}")
        if p.is_file():
            out[pathlib.PurePosixPath(p.relative_to(model)).as_posix()] = \
                sha256_file(p)
    return out


def verify(model, bundle_path, public_key, extra_ignores=()):
    """Raise ValueError unless the bundle verifies as model_signing would."""
    b = json.loads(pathlib.Path(bundle_path).read_text())
    if b["mediaType"] != MEDIA_TYPE:
        raise ValueError("media type")
    pk = b["verificationMaterial"]["publicKey"]
    if "hint" in pk and pk["hint"] != hint(public_key):
        raise ValueError("key mismatch")
    env = b["dsseEnvelope"]
    payload = base64.b64decode(env["payload"])
    sig = base64.b64decode(env["signatures"][0]["sig"])
    public_key.verify(sig, pae(payload), ec.ECDSA(_hash_for(public_key)))
    if env["payloadType"] != PAYLOAD_TYPE:
        raise ValueError("payload type")
    st = json.loads(payload)
    if st["_type"] != "https://in-toto.io/Statement/v1" or \
            st["predicateType"] != PREDICATE or len(st["subject"]) != 1:
        raise ValueError("statement")
    res = st["predicate"]["resources"]
    root = hashlib.sha256(b"".join(bytes.fromhex(r["digest"])
                                   for r in res)).hexdigest()
    if root != st["subject"][0]["digest"]["sha256"]:
        raise ValueError("root digest")
    ser = st["predicate"]["serialization"]
    ignores = set(GIT_PATHS) | set(ser.get("ignore_paths", [])) | \
        set(extra_ignores)
    try:
        ignores.add(os.path.relpath(bundle_path, model))
    except ValueError:
        pass
    expected = {r["name"]: r["digest"] for r in res}
    actual = manifest_of(model, ignores)
    if expected != actual:
        raise ValueError(f"manifest differs: {expected} != {actual}")
    return st


def sort_key(name):
    return pathlib.PurePosixPath(name).parts


def make_bundle(private_key, resources, ignore_paths=(), subject="model",
                raw_payload=None, hint_value=None):
    """A bundle signed like model_signing does; resources: [(name, hex)]."""
    root = hashlib.sha256(b"".join(bytes.fromhex(d)
                                   for _, d in resources)).hexdigest()
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": subject, "digest": {"sha256": root}}],
        "predicateType": PREDICATE,
        "predicate": {
            "resources": [{"name": n, "algorithm": "sha256", "digest": d}
                          for n, d in resources],
            "serialization": {"method": "files", "hash_type": "sha256",
                              "allow_symlinks": False,
                              "ignore_paths": list(ignore_paths)},
        },
    }
    payload = raw_payload if raw_payload is not None else \
        json.dumps(statement, indent=2).encode()
    sig = private_key.sign(pae(payload),
                           ec.ECDSA(_hash_for(private_key.public_key())))
    return {
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": {
            "publicKey": {"hint": hint_value or hint(private_key.public_key())},
            "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(sig).decode(),
                            "keyid": ""}]},
    }
