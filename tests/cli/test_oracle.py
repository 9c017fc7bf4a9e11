"""Differential test against CPython's own unpickler: every global that
pickle.Unpickler asks find_class for, before a break too, must be among
modelgate's findings. CPython runs with a recording find_class that imports
nothing and returns inert stand-ins (tests/tools/oracle.py).

ctest runs a bounded sample (MG_ORACLE_COUNT, default 20000); set
MG_ORACLE_COUNT and MG_ORACLE_SEED to run longer."""
import json
import os
import shutil
import sys

from conftest import run

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
import oracle  # noqa: E402
import pickle_gen  # noqa: E402

COUNT = int(os.environ.get("MG_ORACLE_COUNT", "20000"))
SEED = int(os.environ.get("MG_ORACLE_SEED", "1"))
# where in the seed's range to start (to split a long run over processes)
START = int(os.environ.get("MG_ORACLE_START", "0"))
BATCH = 1000


def reported_globals(entry):
    out = set()
    for f in entry["findings"]:
        if f["rule"] == "pickle-global" and f["layer"] is None:
            out.add((f["module"], f["name"]))
    return out


def test_every_global_cpython_looks_up_is_reported(tmp_path):
    misses = []
    done = 0
    checked = 0
    while done < COUNT:
        n = min(BATCH, COUNT - done)
        expected = {}
        d = tmp_path / f"b{done}"
        d.mkdir()
        for i in range(n):
            seed = SEED * 10_000_000 + START + done + i
            data = pickle_gen.generate(seed)
            path = d / f"{seed}.pkl"
            path.write_bytes(data)
            seen, _ = oracle.globals_looked_up(data)
            expected[str(path)] = (seed, seen)
        p = run("scan", "--format", "json", "-j", "2", str(d), timeout=600)
        doc = json.loads(p.stdout)
        assert len(doc["files"]) == n
        for entry in doc["files"]:
            seed, seen = expected[entry["path"]]
            got = reported_globals(entry)
            for m, nm in seen:
                checked += 1
                if (m, nm) not in got and oracle.mapped(m, nm) not in got:
                    misses.append((seed, m, nm))
        shutil.rmtree(d)
        done += n
        if done % 100_000 == 0:
            print("oracle: %d pickles, %d globals compared, %d missed"
                  % (done, checked, len(misses)), misses[:5], flush=True)
    print("oracle: %d pickles from seed %d, %d globals compared, %d missed"
          % (COUNT, SEED * 10_000_000 + START, checked, len(misses)))
    assert not misses, misses[:20]
    # the sample must exercise the property, not pass vacuously
    assert checked > COUNT
