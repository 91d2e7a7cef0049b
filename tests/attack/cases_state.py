"""cases_state.py: the attack cases of state files (ttt generate --save-state / --load-state,
ttt info --state; src/model/cache_io.c), added to the table of cases.py: truncated files,
hostile __metadata__ (missing keys, numbers out of range or not numbers, another family,
precision, configuration or weights), tensors missing, extra, of the wrong dtype or shape,
non-finite values, extras out of range, special files in place of the state, and outputs that
cannot be written. A valid state is made once per run (a TTT-Linear model of vocab 32000 with
the llama2 tokenizer, 2 prompt tokens + 3 generated) and copied into each case."""
import json
import os
import shutil
import struct
import subprocess

from cases import OK, case, make_special
from lib import st_join, st_split

GENF = "generate --model {m} --tokenizer {tokdir}/llama2 --quiet --threads 1 "
LOAD = GENF + "--load-state {st} --max-tokens 2"
INFO = "info --state {st} --model {m}"


M64 = (1 << 64) - 1
X1, X2, X3, X4, X5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                      0x27D4EB2F165667C5)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc, v):
    return (_rotl((acc + v * X2) & M64, 31) * X1) & M64


def xxh64(data, seed=0):
    """XXH64 (the reference algorithm), to forge a state checksum after an edit"""
    n, p, h = len(data), 0, 0
    if n >= 32:
        v = [(seed + X1 + X2) & M64, (seed + X2) & M64, seed, (seed - X1) & M64]
        while n - p >= 32:
            for i in range(4):
                v[i] = _round(v[i], struct.unpack_from("<Q", data, p + 8 * i)[0])
            p += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & M64
        for x in v:
            h = ((h ^ _round(0, x)) * X1 + X4) & M64
    else:
        h = (seed + X5) & M64
    h = (h + n) & M64
    while n - p >= 8:
        h = (_rotl(h ^ _round(0, struct.unpack_from("<Q", data, p)[0]), 27) * X1 + X4) & M64
        p += 8
    if n - p >= 4:
        h = (_rotl(h ^ ((struct.unpack_from("<I", data, p)[0] * X1) & M64), 23) * X2 + X3) & M64
        p += 4
    while p < n:
        h = (_rotl(h ^ ((data[p] * X5) & M64), 11) * X1) & M64
        p += 1
    h ^= h >> 33
    h = (h * X2) & M64
    h ^= h >> 29
    h = (h * X3) & M64
    return h ^ (h >> 32)


def forge(p):
    """recompute the state checksum of the file at p (cache_io.c: XXH64 of the tensors' bytes in
    name order, seeded with position * 8192 + batch), so that a deeper check is reached"""
    with open(p, "rb") as f:
        hdr, body = st_split(f.read())
    h = json.loads(hdr)
    md = h["__metadata__"]
    data = b"".join(body[v["data_offsets"][0]:v["data_offsets"][1]] for k, v in sorted(h.items()) if k != "__metadata__")
    md["state_checksum"] = "%016x" % xxh64(data, (int(md["position"]) * 8192 + int(md["batch"])) & M64)
    with open(p, "wb") as f:
        f.write(st_join(json.dumps(h), body))


def fixture(c):
    """the model and its state, made once per run in the fixtures directory"""
    root = c.fx.root
    m, st = os.path.join(root, "model-st32"), os.path.join(root, "state-st32.safetensors")
    if not os.path.exists(st):
        subprocess.run([c.fx.ttt, "init", "--preset", "ttt-linear-tiny", "--layers", "1", "--width", "8", "--heads",
                        "2", "--intermediate", "8", "--vocab", "32000", "--out", m], capture_output=True, check=True)
        subprocess.run([c.fx.ttt, "generate", "--model", m, "--tokenizer", os.path.join(c.fx.tok_dir, "llama2"),
                        "--prompt", "hi", "--max-tokens", "3", "--quiet", "--threads", "1", "--save-state",
                        st + ".tmp"], capture_output=True, check=True)
        os.rename(st + ".tmp", st)
    return m, st


def state(edit=None):
    """copy the model to {m} and the state to {st}; edit(c, path) damages the state"""
    def s(c):
        m, st = fixture(c)
        dst = c.p("m")
        shutil.copytree(m, dst)
        c.vars["m"] = dst
        p = c.p("s.st")
        shutil.copy(st, p)
        c.vars["st"] = p
        if edit:
            edit(c, p)
    return s


def header(fn):
    """edit the parsed header: fn(h) changes the dict (or returns the raw header text)"""
    def e(c, p):
        def ed(hdr, body):
            h = json.loads(hdr)
            r = fn(h)
            return (r if isinstance(r, str) else json.dumps(h)), body
        c.edit_header(p, ed)
    return e


def meta(key, value):
    """set (None: remove) a __metadata__ key; a new batch or position gets a forged checksum
    (when both are numbers), so that the check of the shapes is reached"""
    def f(h):
        if value is None:
            h["__metadata__"].pop(key)
        else:
            h["__metadata__"][key] = value
    e = header(f)
    if key not in ("batch", "position") or value is None:
        return e

    def ef(c, p):
        e(c, p)
        try:
            forge(p)
        except (ValueError, KeyError):
            pass
    return ef


def truncate(n):
    def e(c, p):
        with open(p, "rb") as f:
            d = f.read()
        with open(p, "wb") as f:
            f.write(d[:n] if n >= 0 else d[:len(d) + n])
    return e


def poke(tensor, index, raw, fix=True):
    """overwrite element INDEX of TENSOR with RAW bytes (fix: forge the checksum)"""
    def e(c, p):
        with open(p, "rb") as f:
            data = bytearray(f.read())
        hdr, _ = st_split(bytes(data))
        h = json.loads(hdr)
        off = 8 + len(hdr.encode()) + h[tensor]["data_offsets"][0] + index * len(raw)
        data[off:off + len(raw)] = raw
        with open(p, "wb") as f:
            f.write(data)
        if fix:
            forge(p)
    return e


def retensor(fn, fix=True):
    """rebuild the file from {name: (dtype, shape, raw)} after fn changes that dict (fix: forge
    the checksum)"""
    def e(c, p):
        with open(p, "rb") as f:
            hdr, body = st_split(f.read())
        h = json.loads(hdr)
        md = h.pop("__metadata__")
        t = {k: (v["dtype"], v["shape"], body[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in h.items()}
        fn(t)
        nh, nb = {"__metadata__": md}, b""
        for k, (dt, shape, raw) in t.items():
            nh[k] = {"dtype": dt, "shape": shape, "data_offsets": [len(nb), len(nb) + len(raw)]}
            nb += raw
        with open(p, "wb") as f:
            f.write(st_join(json.dumps(nh), nb))
        if fix:
            forge(p)
    return e


def sc(name, expect, edit=None, argv=INFO, quick=False):
    case("cstate-" + name, argv, expect, state(edit), needs="llama2", quick=quick)


# the valid state: described, loaded, continued, continued with a prompt
sc("ok-info", OK, quick=True)
sc("ok-continue", OK, argv=LOAD + " --save-state {d}/next.st", quick=True)
sc("ok-prompt", OK, argv=LOAD + " --prompt ' there'")
sc("ok-info-alone", OK, argv="info --state {st}")

# truncated anywhere
for i, n in enumerate((0, 7, 8, 100, 600, -1, -4, -130000)):
    sc("truncated-%d" % i, r"safetensors|too short|truncated|header|offsets|bytes|size", truncate(n), quick=i == 5)

# __metadata__: keys missing, hostile values
for key, rx in (("state_format", r"not a ttt state file"), ("state_version", r"state_version"),
                ("family", r"\"family\""), ("precision", r"\"precision\""), ("config_hash", r"config_hash"),
                ("weights_checksum", r"weights_checksum"), ("state_checksum", r"state_checksum"), ("batch", r"\"batch\""), ("position", r"\"position\"")):
    sc("meta-no-" + key.replace("_", "-"), rx, meta(key, None), quick=key == "position")
for i, (key, val, rx) in enumerate((
        ("state_format", "pt", r"not a ttt state file"),
        # (a NUL ends a metadata value as libcjson reads it: "ttt-state" then; either is fine)
        ("state_format", "ttt-state\u0000x", "ok-or:not a ttt state file"),
        ("state_version", "2", r"reads version 1"),
        ("state_version", "01x", r"positive integer"),
        ("state_version", "99999999999999999999999", r"positive integer"),
        ("batch", "0", r"batch must be an integer in \[1, 4096\]"),
        ("batch", "-1", r"batch must be"),
        ("batch", "4097", r"batch must be"),
        ("batch", "2", r"expected \[2, "),
        ("batch", " 1", r"batch must be"),
        ("batch", "1e3", r"batch must be"),
        ("batch", "18446744073709551617", r"batch must be"),
        ("position", "0", r"position must be"),
        ("position", "4", r"extra\.tokens\" is I32 \[1, 5\], expected I32 \[1, 4\]"),
        ("position", "6", r"extra\.tokens\" is I32 \[1, 5\], expected I32 \[1, 6\]"),
        ("position", "1099511627777", r"position must be"),
        ("position", "999999999", r"extra\.tokens\" is I32 \[1, 5\], expected I32 \[1, 999999999\]"),
        ("position", "+5", r"position must be"),
        ("family", "llama", r"family \"llama\", this model is TTT"),
        ("family", "../../etc", r"family \"\.\./\.\./etc\""),
        ("family", "x" * 5000, r"family \"x+\""),
        ("precision", "float64", r"computes in float32"),
        ("precision", "bf16", r"computes in float32"),
        ("config_hash", "0" * 16, r"another configuration"),
        ("config_hash", "ZZZZZZZZZZZZZZZZ", r"16 lowercase hex digits"),
        ("config_hash", "0" * 17, r"16 lowercase hex digits"),
        ("weights_checksum", "0" * 16, r"same configuration but other weights"),
        ("weights_checksum", "", r"16 lowercase hex digits"))):
    sc("meta-%s-%d" % (key.replace("_", "-"), i), rx, meta(key, val), quick=i % 4 == 0)
# a hostile saved config beside a wrong hash: still a clear message
sc("meta-config-garbage", r"another configuration",
   header(lambda h: h["__metadata__"].update(config_hash="0" * 16, config="{\"a\": [[[[[[[[")))
sc("meta-config-huge", r"another configuration",
   header(lambda h: h["__metadata__"].update(config_hash="0" * 16, config=json.dumps({"k%d" % i: i for i in range(3000)}))))
sc("meta-not-string", r"string|__metadata__|safetensors|batch",
   header(lambda h: h["__metadata__"].update(batch=1)))
sc("meta-duplicate", r"duplicate",
   header(lambda h: json.dumps(h).replace('"batch": "1"', '"batch": "1", "batch": "2"', 1)))
sc("meta-not-object", r"__metadata__|safetensors|not a ttt state", header(lambda h: h.update(__metadata__=[1, 2]) or None))

# tensors: missing, extra, dtype, shape, values
sc("tensor-missing", r"no tensor \"layers\.0\.ttt\.W1\"", retensor(lambda t: t.pop("layers.0.ttt.W1")), quick=True)
sc("tensor-extra", r"unexpected tensor \"layers\.0\.ttt\.W2\"",
   retensor(lambda t: t.update({"layers.0.ttt.W2": ("F32", [1, 2, 4, 4], b"\0" * 128)})))
sc("tensor-extra-layer", r"unexpected tensor \"layers\.1\.ttt\.W1\"",
   retensor(lambda t: t.update({"layers.1.ttt.W1": t["layers.0.ttt.W1"]})))
sc("tensor-f64", r"is F64, expected F32",
   retensor(lambda t: t.update({"layers.0.ttt.b1": ("F64", [1, 2, 4], b"\0" * 64)})))
sc("tensor-bf16", r"is BF16, expected F32",
   retensor(lambda t: t.update({"layers.0.ttt.b1": ("BF16", [1, 2, 4], b"\0" * 16)})))
sc("tensor-shape", r"has shape \[1, 4, 2\], expected \[1, 2, 4\]",
   retensor(lambda t: t.update({"layers.0.ttt.b1": ("F32", [1, 4, 2], t["layers.0.ttt.b1"][2])})))
sc("tensor-ndim", r"has shape \[8\], expected \[1, 2, 4\]",
   retensor(lambda t: t.update({"layers.0.ttt.b1": ("F32", [8], t["layers.0.ttt.b1"][2])})))
sc("tensor-nan", r"element 3 is nan", poke("layers.0.ttt.W1", 3, struct.pack("<f", float("nan"))), quick=True)
sc("tensor-inf", r"element 0 is -?inf", poke("layers.0.ttt.grad_sum.b1", 0, struct.pack("<f", float("-inf"))))
sc("tensor-overlap", r"overlap|offsets",
   header(lambda h: h["layers.0.ttt.b1"].update(data_offsets=h["layers.0.ttt.W1"]["data_offsets"][:1] +
                                               [h["layers.0.ttt.W1"]["data_offsets"][0] + 32])))
sc("tensor-name-long", r"unexpected tensor",
   retensor(lambda t: t.update({"layers.0." + "x" * 3000: ("F32", [1], b"\0" * 4)})))
# damage without a new checksum: caught by it
sc("tensor-bitflip", r"do not match its state_checksum", poke("layers.0.ttt.W1", 5, b"\x01", fix=False), quick=True)
sc("tensor-bitflip-info", r"do not match its state_checksum", poke("layers.0.ttt.b1", 1, b"\x02", fix=False),
   argv="info --state {st}")
sc("tensor-swap", r"do not match its state_checksum",
   retensor(lambda t: t.update({"layers.0.ttt.b1": t["layers.0.ttt.grad_sum.b1"],
                                "layers.0.ttt.grad_sum.b1": t["layers.0.ttt.b1"]}), fix=False))
sc("tensor-extra-unforged", r"do not match its state_checksum|unexpected tensor",
   retensor(lambda t: t.update({"layers.0.ttt.W2": ("F32", [1, 2, 4, 4], b"\0" * 128)}), fix=False))
sc("forged-ok", OK, retensor(lambda t: None), argv=LOAD)  # the forger itself is right
sc("meta-state-checksum-bad", r"do not match its state_checksum", meta("state_checksum", "0123456789abcdef"))
# extras (ttt generate's): token ids, logits, random stream
sc("extra-token-range", r"extra\.tokens element 2 is 32000, outside the vocabulary",
   poke("extra.tokens", 2, struct.pack("<i", 32000)), argv=LOAD, quick=True)
sc("extra-token-negative", r"extra\.tokens element 0 is -1", poke("extra.tokens", 0, struct.pack("<i", -1)), argv=LOAD)
sc("extra-tokens-shape", r"extra\.tokens\" is I32 \[1, 4\], expected I32 \[1, 5\]",
   retensor(lambda t: t.update({"extra.tokens": ("I32", [1, 4], t["extra.tokens"][2][:16])})), argv=LOAD)
sc("extra-tokens-dtype", r"extra\.tokens\" is I64",
   retensor(lambda t: t.update({"extra.tokens": ("I64", [1, 5], b"\0" * 40)})), argv=LOAD)
sc("extra-logits-nan", r"extra\.logits element 7 is nan", poke("extra.logits", 7, struct.pack("<f", float("nan"))),
   argv=LOAD)
sc("extra-rng-zero", r"extra\.rng of sequence 0 is all zero", poke("extra.rng", 0, b"\0" * 32), argv=LOAD)
sc("extra-none", r"holds no logits and random stream",
   retensor(lambda t: [t.pop("extra.logits"), t.pop("extra.rng")]), argv=LOAD)
sc("extra-none-prompt", OK, retensor(lambda t: [t.pop("extra.logits"), t.pop("extra.rng")]), argv=LOAD + " --prompt x")
sc("extra-no-tokens", r"holds no token ids", retensor(lambda t: t.pop("extra.tokens")), argv=LOAD)

# another model: other weights (another seed), a changed config.json, another family
def reinit(flags):
    def e(c, p):
        m = c.vars["m"]
        shutil.rmtree(m)
        subprocess.run([c.fx.ttt, "init"] + flags.split() + ["--out", m], capture_output=True, check=True)
    return e


sc("other-weights", r"same configuration but other weights",
   reinit("--preset ttt-linear-tiny --layers 1 --width 8 --heads 2 --intermediate 8 --vocab 32000 --seed 1"),
   argv=LOAD, quick=True)
sc("other-config", r"another configuration.*mini_batch_size 16 in the state, 8 in this model",
   reinit("--preset ttt-linear-tiny --layers 1 --width 8 --heads 2 --intermediate 8 --vocab 32000 --mini-batch 8"),
   argv=LOAD)
sc("other-family", r"family \"ttt\", this model is Mamba",
   reinit("--preset mamba-tiny --layers 1 --width 8 --vocab 32000"), argv=LOAD)
sc("weights-file-changed", r"other weights",
   lambda c, p: c.poke_tensor(c.vars["m"], "model.embed_tokens.weight", 5, struct.pack("<f", 0.5)), argv=LOAD)

# special files in place of the state; outputs that cannot be written; flags
for what, rx in (("dir", r"is a directory"), ("fifo", r"FIFO"), ("zero", r"character device"),
                 ("dangling", r"No such file|cannot open"), ("loop", r"symbolic links|cannot open")):
    sc("file-" + what, rx, lambda c, p, what=what: make_special(p, what), argv=LOAD, quick=what == "fifo")
sc("save-dir", r"is a directory", lambda c, p: os.mkdir(c.p("out")), argv=LOAD + " --save-state {d}/out")
sc("save-full", r"No space|write", argv=LOAD + " --save-state /dev/full")
sc("save-missing-dir", r"No such file|cannot", argv=LOAD + " --save-state {d}/no/such/dir/s.st")
sc("save-batch2", r"--batch 1", argv=GENF + "--prompt hi --batch 2 --save-state {d}/s2.st")
sc("load-batch2", r"--batch 1", argv=LOAD + " --batch 2")
sc("load-model-file", r"not a ttt state file", lambda c, p: shutil.copy(os.path.join(c.vars["m"], "model.safetensors"), p),
   argv=LOAD)
sc("load-empty", r"safetensors|too short|truncated|header|bytes", lambda c, p: open(p, "wb").close(), argv=LOAD)
