"""cases.py: the attack table. Each case builds a bad (or good) input in a fresh directory,
runs one ttt command line and says what must happen: "ok" (exit 0, optionally checked), or
an error whose message matches a regular expression (naming what was wrong), or
"ok-or:REGEX" (either: where the value is one the command may take). quick=True
marks the cases that `make test` runs; `make attack` runs them all."""
import json
import re
import math
import os
import struct

from lib import ids_st, pattern_ids, st_split, st_tensors, tokfile

OK = "ok"
CASES = []


def case(cid, argv, expect, setup=None, quick=False, check=None, needs=None, stdout=None, timeout=None):
    CASES.append(dict(id=cid, argv=argv, expect=expect, setup=setup, quick=quick, check=check, needs=needs,
                      stdout=stdout, timeout=timeout))


def model(kind="ttt"):
    return lambda c: c.model(kind)


def both(*fns):
    def run(c):
        for f in fns:
            f(c)
    return run


# ---------------------------------------------------------------------------------------------
# model.safetensors
def hdr_edit(fn, kind="ttt"):
    def s(c):
        m = c.model(kind)
        c.edit_header(os.path.join(m, "model.safetensors"), fn)
    return s


def replace_file(name, data, kind="ttt"):
    def s(c):
        m = c.model(kind)
        p = os.path.join(m, name)
        os.remove(p)
        with open(p, "wb") as f:
            f.write(data)
    return s


def make_special(p, what):
    """replace file p by a directory, a FIFO, a link to /dev/zero, a dangling link or a loop"""
    if os.path.lexists(p):
        os.remove(p)
    if what == "dir":
        os.mkdir(p)
    elif what == "fifo":
        os.mkfifo(p)
    elif what == "zero":
        os.symlink("/dev/zero", p)
    elif what == "dangling":
        os.symlink(p + ".nowhere", p)
    elif what == "loop":
        os.symlink(p, p)


def special(name, what, kind="ttt"):
    def s(c):
        make_special(os.path.join(c.model(kind), name), what)
    return s


def first_tensor(h):
    return next(k for k in json.loads(h) if k != "__metadata__")


def set_entry(field, value):
    def fn(h, b):
        j = json.loads(h)
        j[first_tensor(h)][field] = value
        return json.dumps(j), b
    return fn


def nan_first(kind):
    def s(c):
        m = c.model(kind)
        with open(os.path.join(m, "model.safetensors"), "rb") as f:
            hdr = st_split(f.read())[0]
        c.poke_tensor(m, first_tensor(hdr), 0, struct.pack("<f", math.nan))
    return s


INFO = "info --model {m}"
FWD = "forward --model {m} --random 1x8 --threads 1"
for kind in ("ttt", "llama", "mamba"):
    q = kind == "ttt"
    case("st-dup-metadata-" + kind, INFO, r"duplicate key \"__metadata__\"",
         hdr_edit(lambda h, b: ('{"__metadata__":{"a":"1","b":"2","c":"3"},' + h[1:], b), kind), quick=True)
    case("st-nan-" + kind, FWD, r"non-finite.*flat index 0", nan_first(kind), quick=q)
case("st-empty-file", INFO, r"too short|safetensors", replace_file("model.safetensors", b""), quick=True)
case("st-8-bytes", INFO, r"too short|header length", replace_file("model.safetensors", b"\x10" + b"\0" * 7))
case("st-header-len-huge", INFO, r"header length", replace_file("model.safetensors", b"\xff" * 8 + b"{}"),
     quick=True)
case("st-header-not-json", INFO, r"not valid JSON", replace_file("model.safetensors", struct.pack("<Q", 4) + b"{{{{"))
case("st-header-array", INFO, r"not a JSON object", replace_file("model.safetensors", struct.pack("<Q", 2) + b"[]"))
case("st-trailing", INFO, r"trailing", hdr_edit(lambda h, b: (h + "xx", b)))
case("st-deep-json", INFO, r"JSON|nest|deep",
     replace_file("model.safetensors", struct.pack("<Q", 20001) + b"[" * 10000 + b"]" * 10000 + b" "), quick=True)
case("st-dup-tensor", INFO, r"duplicate key",
     hdr_edit(lambda h, b: ("{" + '"%s":%s,' % (first_tensor(h), json.dumps(json.loads(h)[first_tensor(h)])) + h[1:],
                            b)))
case("st-dup-entry-key", INFO, r"duplicate key \"dtype\"", hdr_edit(lambda h, b: (h.replace('"dtype":', '"dtype":"F32","dtype":', 1), b)),
     quick=True)
case("st-dup-meta-key", INFO, r"duplicate key \"format\"",
     hdr_edit(lambda h, b: (h.replace('"format":"pt"', '"format":"pt","format":"np"', 1), b)))
case("st-dtype-bad", INFO, r"dtype", hdr_edit(set_entry("dtype", "F128")))
case("st-shape-negative", INFO, r"shape|dimension", hdr_edit(set_entry("shape", [-1, 8])))
case("st-shape-overflow", INFO, r"shape|overflow|large|need", hdr_edit(set_entry("shape", [2 ** 40, 2 ** 40, 2 ** 40])),
     quick=True)
case("st-shape-float", INFO, r"shape|dimension", hdr_edit(set_entry("shape", [1.5, 8])))
case("st-offsets-beyond", INFO, r"offset|beyond|file|bytes", hdr_edit(set_entry("data_offsets", [0, 2 ** 50])))
case("st-offsets-reversed", INFO, r"offset", hdr_edit(set_entry("data_offsets", [64, 0])))
case("st-offsets-huge", INFO, r"offset", hdr_edit(set_entry("data_offsets", [0, 1e300])))
case("st-overlap", INFO, r"overlap|cover|need",
     hdr_edit(lambda h, b: (json.dumps({k: (dict(v, data_offsets=[0, v["data_offsets"][1] - v["data_offsets"][0]])
                                          if k != "__metadata__" else v) for k, v in json.loads(h).items()}), b)))
case("st-missing-tensor", INFO, r"missing",
     hdr_edit(lambda h, b: (json.dumps({k: v for k, v in json.loads(h).items() if k != "model.norm.weight"}), b)))
case("st-extra-tensor", INFO, r"unexpected tensor",
     hdr_edit(lambda h, b: ('{"zzz":{"dtype":"F32","shape":[1],"data_offsets":[%d,%d]},' % (len(b), len(b) + 4) + h[1:],
                            b + bytes(4))))
case("st-truncated-data", INFO, r"truncat|beyond|offset|bytes", hdr_edit(lambda h, b: (h, b[: len(b) // 2])),
     quick=True)
case("st-unicode-names", INFO, r"unexpected tensor|missing",
     hdr_edit(lambda h, b: (h.replace("model.norm.weight", "model.n\u00f6rm.weight\udcff"), b)))
case("st-meta-not-string", INFO, r"__metadata__", hdr_edit(lambda h, b: (h.replace('"format":"pt"', '"format":1', 1), b)))
for what, rx in (("dir", r"is a directory"), ("fifo", r"FIFO"), ("zero", r"character device"),
                 ("dangling", r"No such file|cannot open"), ("loop", r"symbolic links|cannot open")):
    case("st-special-" + what, INFO, rx, special("model.safetensors", what), quick=what in ("dir", "fifo"))
    case("cfg-special-" + what, INFO, rx, special("config.json", what), quick=what == "fifo")
for dtype, raw, idx in (("f16", struct.pack("<H", 0x7C00), 3), ("bf16", struct.pack("<H", 0xFFC0), 1)):
    def s(c, dtype=dtype, raw=raw, idx=idx):
        m = c.p("m")
        import subprocess
        subprocess.run([c.fx.ttt, "init"] + c.fx.MODELS["ttt"].split() + ["--dtype", dtype, "--out", m],
                       capture_output=True, check=True)
        c.vars["m"] = m
        c.poke_tensor(m, "model.norm.weight", idx, raw)
    case("st-nonfinite-" + dtype, INFO, r"model\.norm\.weight.*non-finite.*flat index %d" % idx, s, quick=dtype == "f16")
case("st-huge-weight-forward", FWD, r"not finite|overflow",
     lambda c: [c.poke_tensor(c.vars.get("m") or c.model(), "model.norm.weight", i, struct.pack("<f", 3e38))
                for i in range(8)])

# ---------------------------------------------------------------------------------------------
# config.json
def cfg_set(_kind="ttt", **kv):
    def s(c):
        m = c.model(_kind)
        c.edit_config(m, lambda j: j.update(kv))
    return s


def cfg_text(text, kind="ttt"):
    def s(c):
        m = c.model(kind)
        with open(os.path.join(m, "config.json"), "w") as f:
            f.write(text)
    return s


case("cfg-empty", INFO, r"not valid JSON|config", cfg_text(""), quick=True)
case("cfg-array", INFO, r"JSON object", cfg_text("[]"))
case("cfg-dup-top", INFO, r"duplicate key \"hidden_size\"", cfg_text('{"hidden_size": 16, "hidden_size": 8}'), quick=True)
case("cfg-dup-nested", INFO, r"duplicate key \"d_state\".*ssm_cfg",
     cfg_text('{"d_model": 8, "n_layer": 1, "vocab_size": 11, "ssm_cfg": {"d_state": 4, "d_state": 8}}'))
case("cfg-model-type", INFO, r"model_type", cfg_set(model_type="gpt2"))
case("cfg-missing-field", INFO, r"hidden_size", lambda c: c.edit_config(c.model(), lambda j: j.pop("hidden_size")))
bad_cfg = [("vocab_size", 0, r"vocab_size"), ("vocab_size", -5, r"vocab_size"), ("vocab_size", 1.5, r"vocab_size"),
           ("vocab_size", "11", r"vocab_size"), ("hidden_size", 2 ** 31 + 2, r"hidden_size"),
           ("hidden_size", 2 ** 60, r"hidden_size"), ("num_hidden_layers", 2000000000, r"num_hidden_layers"),
           ("num_attention_heads", 0, r"num_attention_heads"), ("num_attention_heads", 3, r"divisible"),
           ("mini_batch_size", 2 ** 26, r"mini_batch_size"), ("mini_batch_size", 0, r"mini_batch_size"),
           ("ttt_base_lr", 1e300, r"ttt_base_lr"), ("ttt_base_lr", -1, r"ttt_base_lr"),
           ("rope_theta", -1, r"rope_theta"), ("rope_theta", 1e300, r"rope_theta"),
           ("rms_norm_eps", 0, r"rms_norm_eps"), ("rms_norm_eps", 1e40, r"rms_norm_eps"),
           ("initializer_range", 1e300, r"initializer_range"), ("bos_token_id", 11, r"bos"),
           ("eos_token_id", -7, r"eos|bos"), ("ttt_layer_type", "rnn", r"ttt_layer_type"),
           ("conv_kernel", 100000, r"conv_kernel"), ("pre_conv", "yes", r"pre_conv"),
           ("intermediate_size", 2 ** 31 - 1, r"shape|intermediate"), ("tie_word_embeddings", False, r"missing|lm_head")]
for i, (k, v, rx) in enumerate(bad_cfg):
    case("cfg-%s-%s" % (k, str(v)[:12]), INFO, rx, cfg_set(**{k: v}), quick=i % 3 == 0)
case("cfg-inf", INFO, r"ttt_base_lr|finite", cfg_text('{"model_type": "ttt", "vocab_size": 11, "hidden_size": 8, '
                                                      '"intermediate_size": 8, "num_hidden_layers": 1, '
                                                      '"num_attention_heads": 2, "ttt_base_lr": 1e999}'))
case("cfg-big-file", INFO, r"bytes|allowed", cfg_text(" " * (17 << 20) + "{}"))
case("cfg-mamba-dt", INFO, r"time_step", cfg_set(_kind="mamba", time_step_min=5.0, time_step_max=0.1))
case("cfg-llama-kv", INFO, r"num_key_value_heads", cfg_set(_kind="llama", num_key_value_heads=3))

# ---------------------------------------------------------------------------------------------
# token files
def tok(fname="d.tok", **kw):
    ids = kw.pop("ids", pattern_ids(400))
    return lambda c: c.write(fname, tokfile(ids, **kw))


EVAL = "eval --model {m} --data {d}/d.tok --context 16 --threads 1"
bad_tok = [("magic", dict(magic=b"NOTATOKN"), r"not a token file"), ("version", dict(version=2), r"version"),
           ("width", dict(width=3), r"width"), ("checksum", dict(checksum=1), r"checksum"),
           ("count", dict(n_tokens=401), r"truncated|corrupt"), ("count-huge", dict(n_tokens=2 ** 62), r"truncated|corrupt"),
           ("vocab0", dict(vocab=0), r"vocabulary"), ("id-range", dict(ids=[1, 2, 50] + pattern_ids(397)), r"outside"),
           ("reserved", dict(reserved=b"\x01"), r"reserved"), ("name-no-nul", dict(name=b"x" * 32), r"NUL"),
           ("docs-order", dict(docs=(0, 5, 3)), r"document"), ("docs-start", dict(docs=(4,)), r"document"),
           ("ndocs-huge", dict(n_docs=2 ** 61), r"truncated|corrupt|documents"), ("bos", dict(bos=11), r"BOS"),
           ("trailing", dict(trailing=b"x"), r"truncated|corrupt"), ("vocab-model", dict(vocab=50), r"vocab_size"),
           ("tokenizer-name", dict(name=b"r50k_base"), r"r50k_base.*llama2")]
for i, (n, kw, rx) in enumerate(bad_tok):
    setup = both(model(), tok(**kw))
    if n == "tokenizer-name":
        setup = both(lambda c: c.edit_config(c.model(), lambda j: j.update(ttt_tokenizer="llama2")), tok(**kw))
    case("tok-" + n, EVAL, rx, setup, quick=i % 2 == 0)
    if i % 4 == 0:
        case("tok-train-" + n, "train --model {m} --data {d}/d.tok --run {d}/run --steps 1 --seq-len 8 --batch 1 "
             "--quiet --threads 1", rx, setup)
case("tok-short", EVAL, r"window", both(model(), tok(ids=pattern_ids(10))))
for what, rx in (("dir", r"is a directory"), ("fifo", r"FIFO"), ("zero", r"character device")):
    def s(c, what=what):
        c.model()
        p = c.p("d.tok")
        {"dir": lambda: os.mkdir(p), "fifo": lambda: os.mkfifo(p), "zero": lambda: os.symlink("/dev/zero", p)}[what]()
    case("tok-special-" + what, EVAL, rx, s, quick=what == "fifo")
    case("tok-train-special-" + what, "train --model {m} --data {d}/d.tok --run {d}/run --steps 1 --quiet", rx, s)
case("tok-good", EVAL, OK, both(model(), tok()), quick=True, check=lambda c, o, e: None if "perplexity" in o else "no perplexity")
case("tok-val-range", "train --model {m} --data {d}/d.tok --val {d}/v.tok --run {d}/run --steps 1 --seq-len 8 "
     "--batch 1 --quiet", r"vocab_size", both(model(), tok(), tok("v.tok", vocab=50, ids=[40] * 100)))

# ---------------------------------------------------------------------------------------------
# tokenizer files (need the fetched tokenizers; skipped without them)
def tiktoken_file(name, transform):
    def s(c):
        src = c.fx.tokenizer(name)
        with open(src, "rb") as f:
            lines = f.read().split(b"\n")[:3000]
        c.write(name, transform(lines))
    return s


TOKZ = "tokenize --tokenizer {d}/%s --text 'hello world' --ids"
R50 = "r50k_base.tiktoken"
case("tkz-truncated-line", TOKZ % R50, r"r50k_base|line|rank", tiktoken_file(R50, lambda l: b"\n".join(l[:-1] + [b"abc"])),
     needs=R50, quick=True)
case("tkz-bad-base64", TOKZ % R50, r"base64|line", tiktoken_file(R50, lambda l: b"\n".join([b"!!!! 0"] + l[1:])), needs=R50)
case("tkz-dup-rank", TOKZ % R50, r"twice", tiktoken_file(R50, lambda l: b"\n".join(l[:2999] + [l[5]]) + b"\n"), needs=R50)
case("tkz-empty", TOKZ % R50, r"r50k_base|empty|rank|token", tiktoken_file(R50, lambda l: b""), needs=R50)
case("tkz-rank-huge", TOKZ % R50, r"rank|line", tiktoken_file(R50, lambda l: b"\n".join(l[:10] + [l[10].split(b" ")[0] + b" 99999999999999999999"])),
     needs=R50)
case("tkz-fifo", TOKZ % R50, r"FIFO", lambda c: os.mkfifo(c.p(R50)), needs=R50, quick=True)
case("tkz-dir", "tokenize --tokenizer {d}/tk --text hi --ids", r"vocab.txt|directory|cannot open",
     lambda c: os.mkdir(c.p("tk")), needs="llama2")
def llama_dir(vocab_fn=None, merges_fn=None):
    def s(c):
        src = c.fx.tokenizer("llama2")
        os.mkdir(c.p("tk"))
        for fn, tr in (("vocab.txt", vocab_fn), ("merges.u16le", merges_fn)):
            with open(os.path.join(src, fn), "rb") as f:
                data = f.read()
            c.write("tk/" + fn, tr(data) if tr else data)
    return s
LL = "tokenize --tokenizer {d}/tk --text 'hello world' --ids"
case("tkz-llama-vocab-garbage", LL, r"vocab|tk", llama_dir(vocab_fn=lambda d: b"\xff\xfe garbage\n" * 10), needs="llama2", quick=True)
case("tkz-llama-merges-odd", LL, r"merges|tk", llama_dir(merges_fn=lambda d: d[:-1]), needs="llama2")
case("tkz-llama-merges-range", LL, r"merges|tk|id", llama_dir(merges_fn=lambda d: b"\xff\xff\xff\xff" + d[4:]), needs="llama2")
case("tkz-llama-vocab-empty", LL, r"vocab|tk", llama_dir(vocab_fn=lambda d: b""), needs="llama2")
for name in ("cl100k_base.tiktoken", "o200k_base.tiktoken"):
    # a 1 MB whitespace run and a 2 MB word: valid text the tokenizer must take in linear time
    case("tkz-long-space-" + name[:6], "tokenize --tokenizer %s --input {d}/t.txt --count" % ("{tokdir}/" + name), OK,
         lambda c: c.write("t.txt", b" " * (1 << 20) + b"x"), needs=name, timeout=120)
    case("tkz-long-word-" + name[:6], "tokenize --tokenizer %s --input {d}/t.txt --count" % ("{tokdir}/" + name), OK,
         lambda c: c.write("t.txt", b"a" * (2 << 20)), needs=name, timeout=120)

# ---------------------------------------------------------------------------------------------
# train_state.safetensors and latest
def state_meta(key, value):
    def s(c):
        run = c.run_dir()
        p = os.path.join(run, "ckpt-00000003", "train_state.safetensors")
        c.edit_header(p, lambda h, b: (json.dumps(dict(json.loads(h), __metadata__=dict(
            json.loads(h)["__metadata__"], **{key: value}))), b))
    return s


RESUME = "train --resume --data {fx}/data.tok --run {run} --steps 6 --seq-len 8 --batch 2 --threads 1 --quiet"
for i, (k, v) in enumerate((("windows_consumed", "-4"), ("windows_consumed", "abc"), ("step", "2x"),
                            ("step", "99999999999999999999"), ("step", "-1"), ("seed", "1e3"), ("windows_consumed", "5"),
                            ("step", "1"))):
    case("state-%s-%s" % (k, v[:8]), RESUME, r"%s|train_state|metadata" % k, state_meta(k, v), quick=i % 2 == 0)
case("state-dup-metadata", RESUME, r"duplicate key \"__metadata__\"",
     lambda c: c.edit_header(os.path.join(c.run_dir(), "ckpt-00000003", "train_state.safetensors"),
                             lambda h, b: ('{"__metadata__":{"step":"1"},' + h[1:], b)), quick=True)
def latest(content):
    def s(c):
        run = c.run_dir()
        p = os.path.join(run, "latest")
        os.remove(p)
        if content == "FIFO":
            os.mkfifo(p)
        elif content == "DIR":
            os.mkdir(p)
        else:
            with open(p, "w") as f:
                f.write(content)
    return s
for i, (content, rx) in enumerate((("../other/ckpt-00000001\n", r"latest"), ("/etc\n", r"latest"), ("", r"latest"),
                                    ("ckpt-00000099\n", r"latest|ckpt-00000099"), ("\x00\xff\n", r"latest"),
                                    ("ckpt-00000002/../ckpt-00000003\n", r"latest"), ("FIFO", r"latest|FIFO"),
                                    ("DIR", r"latest|directory"), ("x" * 5000, r"latest"))):
    case("latest-%d" % i, RESUME, rx, latest(content), quick=i % 3 == 0)
case("resume-ok", RESUME, OK, lambda c: c.run_dir(), quick=True)
case("resume-past-steps", RESUME.replace("--steps 6", "--steps 2"), r"steps|already", lambda c: c.run_dir(), quick=True)

# ---------------------------------------------------------------------------------------------
# command-line flags: contradictions, meaningless combinations, numeric extremes
INIT = "init --preset %s --out {d}/new %s"
for i, (preset, flags, rx) in enumerate((
        ("ttt-linear-tiny", "--tied --untied", r"--tied and --untied"), ("ttt-linear-tiny", "--kv-heads 1", r"--kv-heads"),
        ("mamba-tiny", "--heads 2", r"--heads"), ("llama-tiny", "--mini-batch 4", r"--mini-batch"),
        ("ttt-linear-tiny", "--width 0", r"--width"), ("ttt-linear-tiny", "--width 1099511627776", r"--width"),
        ("ttt-linear-tiny", "--width 7", r"divisible|even|heads"), ("nope", "", r"preset"),
        ("ttt-linear-tiny", "--dtype f8", r"dtype"), ("ttt-linear-tiny", "--base-lr nan", r"--base-lr"),
        ("ttt-linear-tiny", "--base-lr 1e300", r"ttt_base_lr"), ("ttt-linear-tiny", "--rope-theta -1", r"rope_theta"),
        ("ttt-linear-tiny", "--vocab 0", r"--vocab"), ("ttt-linear-tiny", "--bos 999999", r"bos"),
        ("ttt-linear-tiny", "--layers 1000000000 --width 1048576", r"num_hidden_layers|layers"))):
    case("init-%d" % i, INIT % (preset, flags), rx, quick=i % 3 == 0)
case("init-out-file", "init --preset ttt-linear-tiny --out {d}/f", r"not a directory|exists",
     lambda c: c.write("f", "x"))
case("init-ok", INIT % ("ttt-linear-tiny", "--width 16"), OK, quick=True)

FWDM = "forward --model {m} --threads 1 "
for i, (arg, rx) in enumerate((("--random 9223372036854775807x9223372036854775807", r"--random"),
                               ("--random 65536x65536", r"--random"), ("--random 0x8", r"--random"),
                               ("--random 1x8x", r"--random"), ("--random ' 1x8'", r"--random"),
                               ("--random 1x8 --input {m}/model.safetensors", r"--input and --random"),
                               ("--input {d}/i.safetensors", r"token id|outside"), ("--random 1x8 --remat-group -1", r"--remat-group"),
                               ("--random 1x8 --precision f16", r"--precision"), ("--random 1x8 --bf16 --precision f64", r"--bf16"),
                               ("--random 1x8 --seed 1e3", r"--seed"), ("--random 1x8 --repeat 0", r"--repeat"))):
    setup = model()
    if "i.safetensors" in arg:
        setup = both(model(), lambda c: c.write("i.safetensors", ids_st([1, 2, -5, 3], [1, 4])))
    case("fwd-%d" % i, FWDM + arg, rx, setup, quick=i % 2 == 0)
for i, (data, rx) in enumerate(((ids_st([1, 2, 2 ** 40], [1, 3]), r"does not fit"), (ids_st([1, 2, 3], [3]), r"dimensions"),
                                (st_tensors({"input_ids": ("F32", [1, 2], struct.pack("<2f", 1, 2))}), r"dtype"),
                                (st_tensors({"x": ("I64", [1, 1], struct.pack("<q", 1))}), r"input_ids"),
                                (ids_st([], [0, 4]), r"empty"), (ids_st([1, 2, 3, 4], [2, 4]), r"cover|need|bytes"))):
    case("fwd-input-%d" % i, FWDM + "--input {d}/i.safetensors", rx,
         both(model(), lambda c, data=data: c.write("i.safetensors", data)), quick=i % 2 == 0)
case("fwd-L1", FWDM + "--input {d}/i.safetensors", OK, both(model(), lambda c: c.write("i.safetensors", ids_st([1], [1, 1]))),
     check=lambda c, o, e: None if "n/a" in e else "a loss was printed for L = 1")
case("fwd-ok-all-families", "forward --model {m} --random 2x20 --threads 1", OK, model("mamba"), quick=True)

NUMERIC = [  # command line with {v}, the flag, values that must be refused
    ("eval --model {m} --data {fx}/data.tok --context {v}", "--context", ["0", "-1", "9223372036854775808", "2x", "", "nan", "1e3"]),
    ("eval --model {m} --data {fx}/data.tok --context 16 --batch {v}", "--batch", ["0", "-3", "99999999999"]),
    ("eval --model {m} --data {fx}/data.tok --context 16 --windows {v}", "--windows", ["-1", "inf"]),
    ("eval --model {m} --data {fx}/data.tok --context 16 --buckets {v}", "--buckets", ["0", "-2"]),
    ("forward --model {m} --random 1x8 --threads {v}", "--threads", ["-1", "100000", "1.5"]),
    ("train --model {m} --data {fx}/data.tok --run {d}/run --steps {v} --quiet", "--steps", ["0", "-5", "1e9", "99999999999999999999"]),
    ("train --model {m} --data {fx}/data.tok --run {d}/run --steps 2 --lr {v} --quiet", "lr", ["nan", "inf", "-1", "1e", "0x1p3x"]),
    ("train --model {m} --data {fx}/data.tok --run {d}/run --steps 2 --clip {v} --quiet", "clip", ["-1", "nan"]),
    ("train --model {m} --data {fx}/data.tok --run {d}/run --steps 2 --beta2 {v} --quiet", "beta", ["1", "-0.1", "nan"]),
    ("train --model {m} --data {fx}/data.tok --run {d}/run --steps 2 --seq-len {v} --quiet", "--seq-len", ["0", "-8"]),
    ("train --model {m} --data {fx}/data.tok --run {d}/run --steps 2 --batch 4 --micro-batch {v} --quiet", "micro", ["-1", "3"]),
]
for i, (cmd, flag, vals) in enumerate(NUMERIC):
    for j, v in enumerate(vals):
        case("num-%s-%d" % (flag.strip("-"), j), cmd.replace("{v}", "'%s'" % v), flag, model(), quick=(i + j) % 3 == 0)

GEN = "generate --model {m32} --tokenizer {tokdir}/llama2 --prompt hi --max-tokens 3 --quiet --threads 1 "
def m32(c):
    import subprocess
    p = c.p("m32")
    subprocess.run([c.fx.ttt, "init", "--preset", "ttt-linear-tiny", "--layers", "1", "--width", "8", "--heads", "2",
                    "--intermediate", "8", "--vocab", "32000", "--out", p], capture_output=True, check=True)
    c.vars["m32"] = p
for i, (arg, rx) in enumerate((("--top-k -1", r"top-k"), ("--top-p 0", r"top-p"), ("--top-p 1.5", r"top-p"), ("--top-p nan", r"top-p"),
                               ("--temperature -1", r"temperature"), ("--temperature inf", r"temperature"),
                               ("--batch 0", r"--batch"), ("--max-tokens -1", r"--max-tokens"), ("--stop ''", r"--stop"),
                               ("--prompt ''", r"empty|prompt"), ("--prompt-file {d}/p", r"FIFO"),
                               ("--prompt-file /dev/zero", r"character device"), ("--seed -1", r"--seed"))):
    setup = m32
    if "{d}/p" in arg:
        setup = both(m32, lambda c: os.mkfifo(c.p("p")))
    line = GEN.replace("--prompt hi ", "") if "prompt" in arg else GEN
    case("gen-%d" % i, line + arg, rx, setup, needs="llama2", quick=i % 3 == 0)
case("gen-max0", GEN + "--max-tokens 0", OK, m32, needs="llama2", quick=True)
case("gen-vocab-mismatch", "generate --model {m} --tokenizer {tokdir}/llama2 --prompt hi --max-tokens 2", r"vocab",
     model(), needs="llama2")
case("gen-nan-weights", GEN, r"non-finite", both(m32, lambda c: c.poke_tensor(c.vars["m32"], "model.embed_tokens.weight", 7,
                                                                              struct.pack("<f", math.inf))), needs="llama2")

case("bench-models", "bench --models gpt2 --quick --out {d}/b", r"gpt2", quick=True)
case("bench-models-dup", "bench --models llama,llama --quick --out {d}/b", r"twice")
case("bench-contexts", "bench --contexts 99999999999999999999 --quick --out {d}/b", r"--contexts")
case("bench-contexts-empty", "bench --contexts , --quick --out {d}/b", r"--contexts")
case("bench-out-quote", "bench --quick --out \"{d}/it's\"", r"single quote")
case("tok-ids-range", "detokenize --tokenizer {tokdir}/llama2 --ids '1 2 -3'", r"-3", needs="llama2", quick=True)
case("tok-ids-huge", "detokenize --tokenizer {tokdir}/llama2 --ids '99999999999'", r"token id|99999999999", needs="llama2")
case("tok-input-fifo", "tokenize --tokenizer {tokdir}/llama2 --input {d}/f --count", r"FIFO",
     lambda c: os.mkfifo(c.p("f")), needs="llama2", quick=True)
case("tok-input-dir", "tokenize --tokenizer {tokdir}/llama2 --input {d} --count", r"is a directory", needs="llama2")
case("tok-output-full", "tokenize --tokenizer {tokdir}/llama2 --text hi --output /dev/full", r"No space", needs="llama2",
     quick=True, check=None)
case("tok-output-dir", "tokenize --tokenizer {tokdir}/llama2 --text hi --output {d}", r"directory", needs="llama2")
case("unknown-command", "frobnicate", r"unknown command", quick=True)
case("unknown-flag", "info --model {m} --frob", r"unknown flag", model())
case("missing-model", "info --model {d}/none", r"No such file|cannot open", quick=True)
case("eval-stats-llama", "eval --model {m} --data {fx}/data.tok --context 16 --ttt-stats {d}/s.csv", r"TTT model", model("llama"))
case("eval-bypos-full", "eval --model {m} --data {fx}/data.tok --context 16 --by-position /dev/full", r"No space", model(), quick=True)
case("eval-bypos-dir", "eval --model {m} --data {fx}/data.tok --context 16 --by-position {d}", r"directory", model())

# stdout on a full device: every command that prints
for i, cmd in enumerate(("info --model {m}", "info --model {m} --tensors", "eval --model {m} --data {fx}/data.tok --context 16",
                         "--help", "forward --help")):
    case("stdout-full-%d" % i, cmd, r"standard output", model(), stdout="/dev/full", quick=i < 2)
case("stdout-full-ids", "tokenize --tokenizer {tokdir}/llama2 --text hi --ids", r"standard output", needs="llama2",
     stdout="/dev/full")
case("stdout-full-gen", GEN, r"standard output", m32, needs="llama2", stdout="/dev/full")

# ---------------------------------------------------------------------------------------------
# every numeric flag of every command (from `ttt CMD --help`) against the malformed and
# out-of-range values: each must be refused with a message naming the flag. Integer flags
# (N, L, B, K, ID, S, M, T for counts) take the int64 extremes too; real flags (X, T, P) the
# non-finite spellings.
BAD_INT = ["2x", "", "nan", "1e3", "9223372036854775808", "-9223372036854775809", "0x10", " 5"]
BAD_REAL = ["2x", "", "nan", "inf", "-inf", "1e999", "0x1p3x", "1,5"]
TRAIN = "train --model {m} --data {fx}/data.tok --run {d}/run --steps 2 --seq-len 8 --batch 2 --quiet --threads 1"
TRAINP = "train --preset ttt-linear-tiny --data {fx}/data.tok --run {d}/run --steps 2 --seq-len 8 --batch 2 --quiet --threads 1"
SWEEP = [  # (command line, setup, needs, integer flags, real flags)
    ("init --preset ttt-linear-tiny --out {d}/new", None, None,
     ["seed", "layers", "width", "heads", "intermediate", "mini-batch", "conv-kernel", "max-position", "vocab", "bos", "eos"],
     ["base-lr", "rope-theta"]),
    ("init --preset llama-tiny --out {d}/new", None, None, ["kv-heads"], []),
    ("forward --model {m} --random 1x8 --threads 1", model(), None, ["threads", "remat-group", "repeat", "seed"], []),
    ("eval --model {m} --data {fx}/data.tok --context 16 --threads 1", model(), None,
     ["context", "windows", "batch", "buckets", "threads"], []),
    (GEN.replace("--max-tokens 3 ", ""), m32, "llama2", ["max-tokens", "top-k", "seed", "batch", "threads"],
     ["temperature", "top-p"]),
    (TRAIN, model(), None,
     ["steps", "seq-len", "batch", "batch-tokens", "micro-batch", "warmup", "seed", "init-seed", "ckpt-every", "keep",
      "log-every", "val-every", "val-windows", "stop-after", "threads", "remat-group"],
     ["lr", "lr-end", "beta1", "beta2", "eps", "clip", "weight-decay"]),
    (TRAINP, None, None, ["layers", "width", "heads", "intermediate", "mini-batch", "conv-kernel", "max-position"],
     ["base-lr", "rope-theta"]),
    ("bench --quick --models ttt-linear --contexts 16 --reps 1 --decode-steps 1 --threads 1 --out {d}/b", None, None,
     ["batch", "reps", "decode-steps", "threads", "train-context"], []),
]
_n = 0
for line, setup, needs, ints, reals in SWEEP:
    cmd = line.split()[0]
    for flag in ints + reals:
        vals = BAD_INT if flag in ints else BAD_REAL
        for j, v in enumerate(vals):
            _n += 1
            if re.search(r"--%s \S+" % re.escape(flag), line):  # replace the value the line gives
                argv = re.sub(r"--%s \S+" % re.escape(flag), lambda _m: "--%s '%s'" % (flag, v), line, count=1)
            else:
                argv = "%s --%s '%s'" % (line, flag, v)
            case("sweep-%s-%s-%d" % (cmd, flag, j), argv, r"--%s\b" % re.escape(flag), setup, needs=needs,
                 quick=_n % 9 == 0)
    # a value-taking flag given as the last word, with no value
    for flag in (ints + reals)[:3]:
        case("sweep-%s-%s-novalue" % (cmd, flag), "%s --%s" % (line, flag), r"--%s\b" % re.escape(flag), setup,
             needs=needs, quick=flag == ints[0])

# ---------------------------------------------------------------------------------------------
# /dev/stdin, /dev/null, /dev/stdout and devices as inputs and outputs (the runner checks after
# every case that /dev/null, /dev/full and /dev/zero are still the devices they were)
TKZ = "tokenize --tokenizer {tokdir}/llama2 "
def count_check(c, o, e):
    return None if re.search(r"\d", o + e) else "no count printed"
case("stdin-regular", TKZ + "--input /dev/stdin --count < {d}/t.txt", OK, lambda c: c.write("t.txt", "hello world\n"),
     needs="llama2", check=count_check, quick=True)
case("stdin-null", TKZ + "--input /dev/stdin --count < /dev/null", r"character device", needs="llama2")
case("stdin-data-regular", "eval --model {m} --data /dev/stdin --context 16 --threads 1 < {fx}/data.tok", OK, model(),
     check=lambda c, o, e: None if "perplexity" in o + e else "no perplexity")
case("stdin-data-null", "eval --model {m} --data /dev/stdin --context 16 --threads 1 < /dev/null", r"character device",
     model(), quick=True)
case("stdin-model", "info --model /dev/stdin < /dev/null", r"config\.json|directory")
case("out-null-tokenize", TKZ + "--text hi --output /dev/null", OK, needs="llama2", quick=True)
case("out-stdout-tokenize", TKZ + "--text hi --output /dev/stdout", OK, needs="llama2",
     check=lambda c, o, e: None if o.startswith("TTTTOKEN") else "no token file on standard output")
case("out-null-bypos", "eval --model {m} --data {fx}/data.tok --context 16 --threads 1 --by-position /dev/null", OK, model(),
     quick=True)
case("out-zero-link-bypos", "eval --model {m} --data {fx}/data.tok --context 16 --threads 1 --by-position {d}/z", OK,
     both(model(), lambda c: os.symlink("/dev/zero", c.p("z"))),
     check=lambda c, o, e: None if os.path.islink(c.p("z")) or os.path.isfile(c.p("z")) else "the link vanished")
case("out-full-stats", "eval --model {m} --data {fx}/data.tok --context 16 --threads 1 --ttt-stats /dev/full", r"No space",
     model())
case("init-out-null", "init --preset ttt-linear-tiny --out /dev/null", r"/dev/null.*(directory|device)", quick=True)
case("init-out-full", "init --preset ttt-linear-tiny --out /dev/full", r"/dev/full.*(directory|device)")
case("train-run-null", TRAIN + " --run /dev/null", r"/dev/null.*(directory|device)", model(), quick=True)
case("train-run-file", TRAIN.replace("{d}/run", "{d}/f"), r"not a directory|exists", both(model(), lambda c: c.write("f", "x")))
case("bench-out-null", "bench --quick --out /dev/null", r"/dev/null.*(directory|device)")
case("fwd-out-full", "forward --model {m} --random 1x8 --threads 1 --output /dev/full", r"No space", model(), quick=True)
case("fwd-out-null", "forward --model {m} --random 1x8 --threads 1 --output /dev/null", OK, model())
case("fwd-in-zero", "forward --model {m} --threads 1 --input /dev/zero", r"character device", model())
case("fwd-in-fifo", "forward --model {m} --threads 1 --input {d}/p", r"FIFO", both(model(), lambda c: os.mkfifo(c.p("p"))))
case("tok-input-list-fifo", TKZ + "--input-list {d}/l --output {d}/o.tok", r"FIFO", lambda c: os.mkfifo(c.p("l")),
     needs="llama2")
case("tok-input-list-entry-dir", TKZ + "--input-list {d}/l --output {d}/o.tok", r"is a directory",
     lambda c: c.write("l", c.d + "\n"), needs="llama2")
case("tok-input-list-missing", TKZ + "--input-list {d}/l --output {d}/o.tok", r"nofile.*(No such|cannot)",
     lambda c: c.write("l", c.p("nofile") + "\n"), needs="llama2")

# the same flags at 0, -1 and the largest int64: a value the command can take (success), or a
# refusal naming the flag; a size no memory can hold must be refused (never an attempt that
# crashes or is killed). Flags whose largest value only means "run for a very long time"
# (--steps, --repeat, --max-tokens, --reps, --decode-steps) are left out at the top end.
EITHER = "ok-or:"
MAXV = "9223372036854775807"
SIZES = {"layers", "width", "heads", "intermediate", "mini-batch", "conv-kernel", "max-position", "vocab", "kv-heads",
         "context", "batch", "seq-len", "batch-tokens", "train-context"}
LONG = {"steps", "repeat", "max-tokens", "reps", "decode-steps"}
for line, setup, needs, ints, reals in SWEEP:
    cmd = line.split()[0]
    for flag in ints:
        for j, v in enumerate(("0", "-1", MAXV)):
            if v == MAXV and flag in LONG:
                continue
            if re.search(r"--%s \S+" % re.escape(flag), line):
                argv = re.sub(r"--%s \S+" % re.escape(flag), lambda _m: "--%s %s" % (flag, v), line, count=1)
            else:
                argv = "%s --%s %s" % (line, flag, v)
            rx = r"(--)?\b%s\b" % re.escape(flag)  # "top-k must be >= 0" names the flag too
            exp = rx + r"|memory|too large|exceed|overflow" if v == MAXV and flag in SIZES else EITHER + rx
            _n += 1
            case("edge-%s-%s-%s" % (cmd, flag, "max" if v == MAXV else v), argv, exp, setup, needs=needs,
                 quick=_n % 9 == 0 and cmd != "bench", timeout=180 if cmd == "bench" else None)

# ---------------------------------------------------------------------------------------------
# train_state.safetensors tensors (the Adam moments) and the checkpoint's model
def state_edit(fn):
    def s(c):
        run = c.run_dir()
        c.edit_header(os.path.join(run, "ckpt-00000003", "train_state.safetensors"), fn)
    return s


def state_poke(name, raw):
    def s(c):
        run = c.run_dir()
        p = os.path.join(run, "ckpt-00000003", "train_state.safetensors")
        with open(p, "rb") as f:
            data = bytearray(f.read())
        hdr, _ = st_split(bytes(data))
        off = 8 + len(hdr.encode()) + json.loads(hdr)[name]["data_offsets"][0]
        data[off:off + len(raw)] = raw
        with open(p, "wb") as f:
            f.write(data)
    return s


M0 = "adam.m.model.embed_tokens.weight"
case("state-tensor-missing", RESUME, r"adam|missing|train_state",
     state_edit(lambda h, b: (json.dumps({k: v for k, v in json.loads(h).items() if k != M0}), b)), quick=True)
case("state-tensor-shape", RESUME, r"shape|adam|train_state",
     state_edit(lambda h, b: (json.dumps(dict(json.loads(h), **{M0: dict(json.loads(h)[M0], shape=[8, 11])})), b)))
case("state-tensor-dtype", RESUME, r"dtype|adam|train_state",
     state_edit(lambda h, b: (json.dumps(dict(json.loads(h), **{M0: dict(json.loads(h)[M0], dtype="I32")})), b)))
case("state-tensor-nan", RESUME, r"non-finite|adam|train_state", state_poke(M0, struct.pack("<f", math.nan)))
case("state-v-negative", RESUME, r"negative|adam\.v|train_state",
     state_poke(M0.replace("adam.m", "adam.v"), struct.pack("<f", -1.0)))
case("state-truncated", RESUME, r"train_state|truncat|beyond|offset",
     lambda c: [c.run_dir(), open(os.path.join(c.p("run"), "ckpt-00000003", "train_state.safetensors"), "r+b").truncate(200)])
case("state-missing-file", RESUME, r"train_state",
     lambda c: os.remove(os.path.join(c.run_dir(), "ckpt-00000003", "train_state.safetensors")))
case("state-ckpt-model-nan", RESUME, r"non-finite",
     lambda c: c.poke_tensor(os.path.join(c.run_dir(), "ckpt-00000003"), "model.norm.weight", 0, struct.pack("<f", math.inf)))
case("state-ckpt-config-dup", RESUME, r"duplicate key",
     lambda c: c.edit_config(os.path.join(c.run_dir(), "ckpt-00000003"),
                             lambda j: '{"hidden_size": 8, ' + json.dumps(j)[1:]))

# ---------------------------------------------------------------------------------------------
# more tokenizer files
case("tkz-encoding-unknown", "tokenize --tokenizer {d}/ranks.txt --text hi --ids", r"encoding",
     lambda c: c.write("ranks.txt", b"aGk= 0\n"), quick=True)
case("tkz-encoding-bogus", "tokenize --tokenizer {tokdir}/%s --encoding gpt5 --text hi --ids" % R50, r"gpt5|encoding",
     needs=R50)
case("tkz-no-newline-huge", TOKZ % R50, r"r50k_base|line|rank|base64", lambda c: c.write(R50, b"QUFB" * (4 << 20)),
     needs=R50)
case("tkz-dup-token", TOKZ % R50, r"twice|duplicate", tiktoken_file(R50, lambda l: b"\n".join(l[:2999] + [l[7].split(b" ")[0] + b" 2999"]) + b"\n"),
     needs=R50)
case("tkz-crlf", TOKZ % R50, EITHER + r"r50k_base|line|rank", tiktoken_file(R50, lambda l: b"\r\n".join(l)), needs=R50)
case("tkz-zero-link", TOKZ % R50, r"character device", lambda c: os.symlink("/dev/zero", c.p(R50)), needs=R50)
case("tkz-llama-vocab-fifo", LL, r"FIFO", lambda c: [os.mkdir(c.p("tk")), os.mkfifo(c.p("tk/vocab.txt"))], needs="llama2")
def _llama_no_merges(c):
    llama_dir()(c)
    os.remove(c.p("tk/merges.u16le"))
case("tkz-llama-merges-missing", LL, r"merges\.u16le", _llama_no_merges, needs="llama2", quick=True)
case("tkz-llama-vocab-zero", LL, r"character device",
     lambda c: [llama_dir()(c), os.remove(c.p("tk/vocab.txt")), os.symlink("/dev/zero", c.p("tk/vocab.txt"))], needs="llama2")
case("tkz-llama-vocab-short", LL, r"vocab",
     llama_dir(vocab_fn=lambda d: b"\n".join(d.split(b"\n")[:100]) + b"\n"), needs="llama2")
case("tkz-p50k-ok", "tokenize --tokenizer {tokdir}/p50k_base.tiktoken --text 'hello world' --ids", OK,
     needs="p50k_base.tiktoken", check=lambda c, o, e: None if re.match(r"\s*\d+( \d+)*\s*$", o) else "no ids: %r" % o[:80])

# ---------------------------------------------------------------------------------------------
# links from the files a command writes to a canary directory outside every directory it was
# given: whatever the outcome, the runner checks after each case that the canary is untouched
def plant(rel, target):
    """replace RUN/REL (or D/REL) by a symbolic link to TARGET inside the canary"""
    def s(c):
        base = c.run_dir() if rel.startswith("run/") else c.d
        p = os.path.join(c.d, rel)
        if os.path.lexists(p):
            if os.path.isdir(p) and not os.path.islink(p):
                import shutil
                shutil.rmtree(p)
            else:
                os.remove(p)
        os.symlink(os.path.join(c.vars["canary"], target), p)
        return base
    return s


ANY = EITHER + r"\S"  # success, or any failure with a message: only the canary matters here
for rel, target in (("run/metrics.jsonl", "c0"), ("run/.lock", "sub/c1"), ("run/latest", "sub/c2"),
                    ("run/model", "sub"), ("run/ckpt-00000002", "sub"), ("run/ckpt-00000003", "sub"),
                    ("run/ckpt-00000001", "")):
    case("canary-%s" % rel.replace("/", "-"), RESUME.replace("--steps 6", "--steps 6 --ckpt-every 1 --keep 1"), ANY,
         plant(rel, target), quick=rel in ("run/.lock", "run/ckpt-00000001"))
case("canary-fresh-run-lock", TRAIN.replace("--steps 2", "--steps 2 --ckpt-every 1"), ANY,
     both(model(), lambda c: [os.mkdir(c.p("run")), os.symlink(os.path.join(c.vars["canary"], "c0"), c.p("run/.lock"))]))
case("canary-bypos", "eval --model {m} --data {fx}/data.tok --context 16 --threads 1 --by-position {d}/o.csv", ANY,
     both(model(), plant("o.csv", "c0")), quick=True)
case("canary-stats", "eval --model {m} --data {fx}/data.tok --context 16 --threads 1 --ttt-stats {d}/o.csv", ANY,
     both(model(), plant("o.csv", "sub/c1")))
case("canary-tokenize-out", TKZ + "--text hi --output {d}/o.tok", ANY, plant("o.tok", "c0"), needs="llama2")
case("canary-forward-out", "forward --model {m} --random 1x8 --threads 1 --output {d}/o.st", ANY,
     both(model(), plant("o.st", "sub/c2")))
case("canary-bench-out", "bench --quick --models ttt-linear --contexts 16 --out {d}/b", ANY,
     lambda c: [os.mkdir(c.p("b")), os.symlink(os.path.join(c.vars["canary"], "c0"), c.p("b/results.csv")),
                os.symlink(os.path.join(c.vars["canary"], "sub/c1"), c.p("b/results.json"))], timeout=120)

# ---------------------------------------------------------------------------------------------
# more safetensors headers, config.json texts, token ids at the vocabulary's edge
case("st-nan-mlp", FWD, r"non-finite.*flat index 0", nan_first("mlp"))
case("st-size-mismatch", INFO, r"shape|bytes|size|need", hdr_edit(set_entry("shape", [1])))
case("st-header-len-beyond", INFO, r"header length|beyond|truncat|too short",
     lambda c: [c.model(), open(c.p("m/model.safetensors"), "r+b").write(struct.pack("<Q", os.path.getsize(c.p("m/model.safetensors"))))])
case("st-header-not-utf8", INFO, r"UTF-8|JSON|header", hdr_edit(lambda h, b: (h.encode()[:-1] + b'"\xff\xfe":1}', b)))
case("st-entry-not-object", INFO, r"tensor|object|dtype",
     hdr_edit(lambda h, b: (json.dumps(dict(json.loads(h), **{first_tensor(h): 5})), b)))
case("st-offsets-three", INFO, r"data_offsets|offset", hdr_edit(set_entry("data_offsets", [0, 4, 8])))
case("st-offsets-negative", INFO, r"data_offsets|offset", hdr_edit(set_entry("data_offsets", [-4, 0])))
case("st-shape-missing", INFO, r"shape", hdr_edit(lambda h, b: (json.dumps(dict(json.loads(h), **{
    first_tensor(h): {k: v for k, v in json.loads(h)[first_tensor(h)].items() if k != "shape"}})), b)))
case("cfg-unknown-key-ok", INFO, OK, cfg_set(some_future_field=[1, 2, 3]))
case("cfg-nan-literal", INFO, r"not valid JSON|JSON", cfg_text('{"model_type": "ttt", "ttt_base_lr": NaN}'))
case("cfg-bom", INFO, EITHER + r"JSON|config", lambda c: [c.model(), c.write("m/config.json",
                                                                             b"\xef\xbb\xbf" + c.read("m/config.json"))])
case("cfg-nul-inside", INFO, r"JSON|NUL|config", lambda c: [c.model(), c.write("m/config.json",
                                                                               c.read("m/config.json")[:-1] + b"\0}")])
case("tok-id-equals-vocab", EVAL, r"outside|vocab", both(model(), tok(ids=[11] + pattern_ids(399))), quick=True)
case("tok-width4-ok", EVAL, OK, both(model(), tok(width=4)),
     check=lambda c, o, e: None if "perplexity" in o + e else "no perplexity")
case("fwd-id-equals-vocab", FWDM + "--input {d}/i.safetensors", r"token id|outside|vocab",
     both(model(), lambda c: c.write("i.safetensors", ids_st([1, 2, 11, 3], [1, 4]))), quick=True)
case("fwd-id-i32-negative", FWDM + "--input {d}/i.safetensors", r"token id|outside|vocab|dtype",
     both(model(), lambda c: c.write("i.safetensors", ids_st([1, -2, 3, 4], [1, 4], dtype="I32"))))
case("detok-id-vocab", "detokenize --tokenizer {tokdir}/llama2 --ids '1 32000'", r"32000", needs="llama2")

# ---------------------------------------------------------------------------------------------
# incomplete checkpoints behind `latest`, and the second data files of eval and train
case("latest-incomplete-model", RESUME, r"ckpt-00000003|model\.safetensors|latest",
     lambda c: os.remove(os.path.join(c.run_dir(), "ckpt-00000003", "model.safetensors")), quick=True)
case("latest-incomplete-config", RESUME, r"ckpt-00000003|config\.json|latest",
     lambda c: os.remove(os.path.join(c.run_dir(), "ckpt-00000003", "config.json")))
case("latest-ckpt-is-file", RESUME, r"ckpt-00000003|directory|latest",
     lambda c: [c.run_dir(), __import__("shutil").rmtree(c.p("run/ckpt-00000003")), c.write("run/ckpt-00000003", "x")])
case("eval-unigram-fifo", EVAL + " --unigram {d}/u.tok", r"FIFO", both(model(), tok(), lambda c: os.mkfifo(c.p("u.tok"))))
case("eval-unigram-checksum", EVAL + " --unigram {d}/u.tok", r"checksum", both(model(), tok(), tok("u.tok", checksum=5)))
case("eval-unigram-vocab", EVAL + " --unigram {d}/u.tok", r"vocab", both(model(), tok(), tok("u.tok", vocab=50, ids=[40] * 50)))
case("train-val-fifo", TRAIN + " --val {d}/v.tok --val-every 1", r"FIFO", both(model(), lambda c: os.mkfifo(c.p("v.tok"))),
     quick=True)
case("train-val-short", TRAIN + " --val {d}/v.tok --val-every 1", r"v\.tok|window|short|tokens",
     both(model(), tok("v.tok", ids=pattern_ids(5))))
# a scripts/plot_bench.py in the working directory is somebody else's file: bench must not run it
case("bench-foreign-script", "bench --quick --models ttt-linear --contexts 16 --reps 1 --decode-steps 1 --threads 1 "
     "--out {d}/b", OK,
     lambda c: c.write("scripts/plot_bench.py", "open(%r, 'w').write('ran')\n" % c.p("RAN")),
     check=lambda c, o, e: "bench ran ./scripts/plot_bench.py from the working directory" if os.path.exists(c.p("RAN")) else None,
     timeout=120)


# the hub's sharded checkpoints (their own file; it adds to CASES)
import cases_shards  # noqa: E402,F401

# ttt convert (its own file; it adds to CASES)
import cases_convert  # noqa: E402,F401

# tokenizer.json files (their own file; it adds to CASES)
import cases_hf  # noqa: E402,F401

# model directories with their tokenizer (their own file; it adds to CASES)
import cases_modeltok  # noqa: E402,F401

# generation_config.json, chat templates and Llama config fields (their own file; it adds to CASES)
import cases_genconfig  # noqa: E402,F401

# ttt synth mqar and token files with a loss mask (their own file; it adds to CASES)
import cases_synth  # noqa: E402,F401

# state files of ttt generate --save-state (their own file; it adds to CASES)
import cases_state  # noqa: E402,F401
# ttt serve's command line (its own file; it adds to CASES)
import cases_serve  # noqa: E402,F401
