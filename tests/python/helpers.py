"""helpers.py: shared set-up of the Python tests (run by tests/test_python.c): the ttt command
and library of the build under test (env TTT_BIN, TTT_LIB), a scratch directory (TTT_TMP), a
minimal safetensors reader/writer written here (independent of the library) and tiny models
made with `ttt init`."""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))
TTT_BIN = os.environ.get("TTT_BIN", os.path.join(REPO, "build", "ttt"))
TMP = os.environ.get("TTT_TMP") or tempfile.mkdtemp(prefix="ttt-pytest-")
os.makedirs(TMP, exist_ok=True)

import ttt  # noqa: E402

_DT = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def st_read(path):
    """{name: array} of a safetensors file (8-byte header length, JSON header, data)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(raw[base + a:base + b], dtype=_DT[v["dtype"]]).reshape(v["shape"])
    return out


def st_write(path, tensors):
    hdr, off, blobs = {}, 0, []
    for k, a in tensors.items():
        a = np.ascontiguousarray(a)
        name = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.int64): "I64"}[a.dtype]
        b = a.tobytes()
        hdr[k] = {"dtype": name, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def run(*args, check=True, input=None):
    r = subprocess.run([TTT_BIN] + [str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       input=input, cwd=REPO)
    if check and r.returncode != 0:
        raise AssertionError("ttt %s failed (%d): %s" % (" ".join(map(str, args)), r.returncode,
                                                         r.stderr.decode(errors="replace")))
    return r


_models = {}


def tiny_model(name="tiny", preset="ttt-linear-tiny", *flags):
    """A model directory made by `ttt init` (cached per name)."""
    if name not in _models:
        d = os.path.join(TMP, "model-" + name)
        run("init", "--preset", preset, "--out", d, "--seed", "7", *flags)
        _models[name] = d
    return _models[name]


def worst(a, b):
    """Where two arrays differ most: (index, a, b)."""
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    i = np.unravel_index(int(np.argmax(d)), d.shape)
    return "worst at %s: %r vs %r" % (tuple(int(x) for x in i), a[i], b[i])
