"""cases_convert.py: the attack cases of `ttt convert` (src/cli/cmd_convert.c), added to the
table of cases.py: bad flags, an output directory that is the model, not empty, not a
directory or a link to nothing, broken or special source files, values that overflow the
target dtype, and good conversions (one file to shards and back) whose result must load."""
import json
import os
import struct

from cases import OK, case, make_special
from cases_shards import sharded

CONV = "convert --model {m} --out {d}/o"


def out_loads(c, out, err):
    """the converted directory holds an index whose shards all exist (or one model.safetensors)"""
    o = c.p("o")
    idx = os.path.join(o, "model.safetensors.index.json")
    if os.path.exists(idx):
        files = set(json.load(open(idx))["weight_map"].values())
        missing = [f for f in files if not os.path.exists(os.path.join(o, f))]
        return "index lists missing shards %s" % missing if missing else None
    return None if os.path.exists(os.path.join(o, "model.safetensors")) else "no weights written"


def setup_out(what):
    def s(c):
        c.model()
        p = c.p("o")
        if what == "nonempty":
            c.write("o/mine.txt", "keep me")
        elif what == "file":
            c.write("o", "x")
        else:
            make_special(p, what)
    return s


def poke(value):
    def s(c):
        m = c.model()
        with open(os.path.join(m, "model.safetensors"), "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            h = json.loads(f.read(n))
        name = next(k for k, v in sorted(h.items()) if k != "__metadata__" and v["dtype"] == "F32")
        c.poke_tensor(m, name, 0, struct.pack("<f", value))
    return s


case("convert-ok-shards", CONV + " --dtype bf16 --shard-size 1KB", OK, lambda c: c.model(), check=out_loads, quick=True)
case("convert-ok-from-shards", CONV + " --dtype f16", OK, sharded(), check=out_loads)
case("convert-out-is-model", "convert --model {m} --out {m}/", r"model directory itself", lambda c: c.model(), quick=True)
case("convert-out-nonempty", CONV, r"not empty.*--force", setup_out("nonempty"))
case("convert-out-canary", "convert --model {m} --out {canary}", r"not empty", lambda c: c.model())
case("convert-out-file", CONV, r"not a directory", setup_out("file"))
case("convert-out-fifo", CONV, r"not a directory", setup_out("fifo"))
case("convert-out-dangling", CONV, r"symbolic link to a missing path", setup_out("dangling"), quick=True)
case("convert-out-loop", CONV, r"symbolic links", setup_out("loop"))
case("convert-out-devnull", "convert --model {m} --out /dev/null", r"not a directory", lambda c: c.model())
case("convert-out-no-parent", "convert --model {m} --out {d}/no/such/o", r"staging directory|parent", lambda c: c.model())
case("convert-dtype-bad", CONV + " --dtype int8", r"--dtype", lambda c: c.model())
case("convert-shard-size-frac", CONV + " --shard-size 1.5GB", r"--shard-size", lambda c: c.model())
case("convert-shard-size-zero", CONV + " --shard-size 0MB", r"--shard-size", lambda c: c.model())
case("convert-shard-size-huge", CONV + " --shard-size 99999999999TB", r"--shard-size", lambda c: c.model())
case("convert-f16-overflow", CONV + " --dtype f16", r"overflows F16", poke(1.0e6), quick=True)
case("convert-bf16-overflow", CONV + " --dtype bf16", r"overflows BF16", poke(3.4028e38))
case("convert-config-fifo", CONV, r"FIFO", lambda c: make_special(os.path.join(c.model(), "config.json"), "fifo"))
case("convert-tokenizer-dir", CONV, r"is a directory", lambda c: make_special(os.path.join(c.model(), "tokenizer.json"), "dir"))
case("convert-no-config", CONV, r"config\.json", lambda c: os.remove(os.path.join(c.model(), "config.json")))
case("convert-shard-missing", CONV, r"model-00002-of-00002\.safetensors",
     sharded(lambda i, m: os.remove(os.path.join(m, "model-00002-of-00002.safetensors"))))


def truncated(c):
    p = os.path.join(c.model(), "model.safetensors")
    os.truncate(p, os.path.getsize(p) - 4)


case("convert-truncated", CONV, r"truncated|go beyond", truncated)
