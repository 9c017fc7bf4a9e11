#!/usr/bin/env python3
"""Write a folder of small model files for bench/scan/run.sh.

    gen.py OUTDIR N [--tiny]

N files, cycling through kinds that people keep in model folders: PyTorch
state-dict pickles (the data.pkl of torch.save, small layers), whole
pickled torch modules, numpy arrays, scikit-learn estimators (joblib-style
plain pickles), plain Python containers, and one malicious pickle in 50.
Layer sizes vary with the index so that files differ. With --tiny, every
file is a few hundred bytes (for the many-files cache benchmark) and
made without torch.
"""
import io
import os
import pickle
import sys
import zipfile

out, n = sys.argv[1], int(sys.argv[2])
tiny = "--tiny" in sys.argv[3:]
os.makedirs(out, exist_ok=True)

MAL = (b"\x80\x02cos\nsystem\nq\x00X\x1b\x00\x00\x00echo modelgate-bench "
       b"payload ok\x85R.")


def torch_data_pkl(obj):
    import torch
    buf = io.BytesIO()
    torch.save(obj, buf)
    z = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    name = [x for x in z.namelist() if x.endswith("/data.pkl")][0]
    return z.read(name)


def make(i):
    k = i % 50
    if k == 0:
        return MAL + b"#%d" % i  # trailing bytes: a distinct file each
    if tiny:
        return pickle.dumps({"step": i, "lr": 1e-3, "names": ["w", "b"],
                             "shape": (i % 97, 3)}, protocol=2 + i % 4)
    kind = i % 5
    w = 4 + i % 60
    if kind == 0:
        import torch
        m = torch.nn.Sequential(torch.nn.Linear(w, w), torch.nn.ReLU(),
                                torch.nn.Linear(w, 2))
        return torch_data_pkl(m.state_dict())
    if kind == 1:
        import torch
        return torch_data_pkl(torch.nn.Linear(w, 3))
    if kind == 2:
        import numpy as np
        return pickle.dumps(np.arange(w * 256, dtype=np.float32).reshape(256, w),
                            protocol=2 + i % 4)
    if kind == 3:
        from sklearn.linear_model import LogisticRegression
        import numpy as np
        x = np.arange(40, dtype=float).reshape(20, 2) + i
        y = np.array([0, 1] * 10)
        return pickle.dumps(LogisticRegression().fit(x, y), protocol=4)
    return pickle.dumps({"epoch": i, "history": list(range(w)),
                         "config": {"lr": 1e-3, "layers": [w, w, 2]}},
                        protocol=2 + i % 4)


for i in range(n):
    sub = os.path.join(out, "d%03d" % (i // 1000))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "m%06d.pkl" % i), "wb") as f:
        f.write(make(i))
