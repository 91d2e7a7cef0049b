"""lib.py: the attack suite's building blocks: token files and safetensors files written
byte by byte (so that they can be damaged on purpose), fixtures made once with the release
binary, and the run context of one case (a fresh directory per case and binary)."""
import json
import os
import shutil
import struct
import subprocess

TOK_MAGIC = b"TTTTOKEN"


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def tokfile(ids, vocab=11, width=2, docs=(0,), bos=1, eos=2, name=b"", version=1,
            checksum=None, n_tokens=None, n_docs=None, reserved=b"", magic=TOK_MAGIC, trailing=b""):
    """a token file (the format of src/data/tokfile.c); every field can be overridden"""
    fmt = "<%d%s" % (len(ids), "H" if width == 2 else "I")
    body = struct.pack(fmt, *[i & (0xFFFF if width == 2 else 0xFFFFFFFF) for i in ids])
    body += struct.pack("<%dQ" % len(docs), *docs) + trailing
    h = bytearray(128)
    h[0:8] = magic
    struct.pack_into("<IIQQiiQ", h, 8, version, width, len(ids) if n_tokens is None else n_tokens,
                     len(docs) if n_docs is None else n_docs, bos, eos, vocab)
    h[48:48 + len(name)] = name[:32]
    struct.pack_into("<Q", h, 80, fnv1a(body) if checksum is None else checksum)
    h[88:88 + len(reserved)] = reserved
    return bytes(h) + body


def pattern_ids(n, vocab=11):
    return [3 + (i * 7 + (i // 13) % 5) % (vocab - 3) for i in range(n)]


def st_split(data):
    n = struct.unpack("<Q", data[:8])[0]
    return data[8:8 + n].decode("utf-8", "surrogateescape"), data[8 + n:]


def st_join(header, body):
    h = header.encode("utf-8", "surrogateescape") if isinstance(header, str) else header
    return struct.pack("<Q", len(h)) + h + body


def st_tensors(tensors, metadata=None):
    """safetensors bytes from {name: (dtype, shape, raw bytes)}"""
    hdr, body = {}, b""
    if metadata is not None:
        hdr["__metadata__"] = metadata
    for k, (dt, shape, raw) in tensors.items():
        hdr[k] = {"dtype": dt, "shape": shape, "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    return st_join(json.dumps(hdr), body)


def ids_st(ids, shape, dtype="I64"):
    fmt = {"I64": "q", "I32": "i"}.get(dtype, "q")
    return st_tensors({"input_ids": (dtype, shape, struct.pack("<%d%s" % (len(ids), fmt), *ids))})


class Fixtures:
    """valid inputs made once per run with the release binary; cases copy them"""

    MODELS = {
        "ttt": "--preset ttt-linear-tiny --layers 1 --width 8 --heads 2 --intermediate 8 --vocab 11",
        "mlp": "--preset ttt-mlp-tiny --layers 1 --width 8 --heads 2 --intermediate 8 --vocab 11",
        "llama": "--preset llama-tiny --layers 1 --width 8 --heads 2 --intermediate 8 --vocab 11",
        "mamba": "--preset mamba-tiny --layers 1 --width 8 --vocab 11",
    }

    def __init__(self, root, ttt, repo):
        self.root, self.ttt, self.repo = root, ttt, repo
        os.makedirs(root, exist_ok=True)
        for k, flags in self.MODELS.items():
            out = os.path.join(root, "model-" + k)
            r = subprocess.run([ttt, "init"] + flags.split() + ["--out", out], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("fixture %s: %s" % (k, r.stderr))
        with open(os.path.join(root, "data.tok"), "wb") as f:
            f.write(tokfile(pattern_ids(4000)))
        self.tok_dir = os.path.join(repo, "data", "tok")
        # a finished run with checkpoints at steps 1..3 (for train_state / latest cases)
        run = os.path.join(root, "run")
        r = subprocess.run([ttt, "train", "--model", self.model("ttt"), "--data", self.path("data.tok"), "--run",
                            run, "--steps", "3", "--seq-len", "8", "--batch", "2", "--ckpt-every", "1", "--keep",
                            "10", "--threads", "1", "--quiet"], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("fixture run: %s" % r.stderr)

    def model(self, k):
        return os.path.join(self.root, "model-" + k)

    def path(self, name):
        return os.path.join(self.root, name)

    def tokenizer(self, name):
        p = os.path.join(self.tok_dir, name)
        return p if os.path.exists(p) else None


class Ctx:
    """one case under one binary: a fresh directory and copies of the fixtures it asks for"""

    def __init__(self, fx, d, ttt):
        self.fx, self.d, self.ttt = fx, d, ttt
        self.vars = {"d": d}

    def p(self, name):
        return os.path.join(self.d, name)

    def model(self, kind="ttt", name="m"):
        dst = self.p(name)
        shutil.copytree(self.fx.model(kind), dst)
        self.vars[name] = dst
        return dst

    def run_dir(self, name="run"):
        dst = self.p(name)
        shutil.copytree(self.fx.path("run"), dst, symlinks=True)
        # the run's lock file records the pid of the fixture's trainer, long gone
        self.vars[name] = dst
        return dst

    def write(self, name, data):
        p = self.p(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        return p

    def read(self, name):
        with open(self.p(name), "rb") as f:
            return f.read()

    def edit_config(self, model, fn):
        p = os.path.join(model, "config.json")
        with open(p) as f:
            c = json.load(f)
        out = fn(c)
        with open(p, "w") as f:
            f.write(out if isinstance(out, str) else json.dumps(c))

    def edit_header(self, path, fn):
        with open(path, "rb") as f:
            hdr, body = st_split(f.read())
        hdr, body = fn(hdr, body)
        with open(path, "wb") as f:
            f.write(st_join(hdr, body))

    def poke_tensor(self, model, tensor, index, raw):
        """overwrite element INDEX of TENSOR in MODEL/model.safetensors with RAW bytes"""
        path = os.path.join(model, "model.safetensors")
        with open(path, "rb") as f:
            data = bytearray(f.read())
        hdr, _ = st_split(bytes(data))
        h = json.loads(hdr)
        off = 8 + len(hdr.encode()) + h[tensor]["data_offsets"][0] + index * len(raw)
        data[off:off + len(raw)] = raw
        with open(path, "wb") as f:
            f.write(data)
