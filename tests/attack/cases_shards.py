"""cases_shards.py: the attack cases of the Hugging Face hub's sharded layout
(model.safetensors.index.json + model-0000N-of-00002.safetensors, src/io/st_set.c), added to
the table of cases.py: bad indexes, bad shard names, shards and index that disagree, special
files in place of either."""
import json
import os
import shutil

from cases import FWD, INFO, OK, case, make_special
from lib import st_split, st_tensors

SH = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
KEEP = object()


def sharded(mutate=None, kind="ttt"):
    """the model's tensors dealt out over two shards with an index; mutate(index, dir) edits it"""
    def s(c):
        m = c.model(kind)
        with open(os.path.join(m, "model.safetensors"), "rb") as f:
            hdr, body = st_split(f.read())
        h = json.loads(hdr)
        h.pop("__metadata__", None)
        parts, wmap = ({}, {}), {}
        for i, (k, v) in enumerate(sorted(h.items())):
            b, e = v["data_offsets"]
            parts[i % 2][k] = (v["dtype"], v["shape"], body[b:e])
            wmap[k] = SH[i % 2]
        for name, part in zip(SH, parts):
            with open(os.path.join(m, name), "wb") as f:
                f.write(st_tensors(part))
        os.remove(os.path.join(m, "model.safetensors"))
        index = {"metadata": {"total_size": len(body)}, "weight_map": wmap}
        r = mutate(index, m) if mutate else None
        if r is KEEP:  # mutate made the index itself
            return
        index = index if r is None else r
        if not isinstance(index, (bytes, str)):
            index = json.dumps(index)
        with open(os.path.join(m, "model.safetensors.index.json"), "wb") as f:
            f.write(index if isinstance(index, bytes) else index.encode())
    return s


def first_key(i):
    return sorted(i["weight_map"])[0]


case("shard-ok", FWD, OK, sharded(), quick=True)
case("shard-missing-file", INFO, r"model-00002-of-00002\.safetensors.*(No such file|cannot open)",
     sharded(lambda i, m: os.remove(os.path.join(m, SH[1]))))
case("shard-traversal", INFO, r"not a file name", sharded(lambda i, m: i["weight_map"].update(x="../x.safetensors")),
     quick=True)
case("shard-absolute", INFO, r"not a file name", sharded(lambda i, m: i["weight_map"].update(x="/etc/passwd")))
case("shard-empty-name", INFO, r"not a file name", sharded(lambda i, m: i["weight_map"].update(x="")))
case("shard-index-not-json", INFO, r"not valid JSON", sharded(lambda i, m: b"{\"weight_map\": {"))
case("shard-index-array", INFO, r"expected a JSON object", sharded(lambda i, m: b"[]"))
case("shard-no-weight-map", INFO, r"weight_map", sharded(lambda i, m: {"metadata": {}}))
case("shard-map-number", INFO, r"must be a string", sharded(lambda i, m: i["weight_map"].update(x=3)))
case("shard-empty-map", INFO, r"lists no tensor", sharded(lambda i, m: {"weight_map": {}}))
case("shard-ghost-tensor", INFO, r"ghost.*does not hold it", sharded(lambda i, m: i["weight_map"].update(ghost=SH[0])))
case("shard-unlisted", INFO, r"does not list", sharded(lambda i, m: i["weight_map"].pop(first_key(i)) and None), quick=True)
case("shard-wrong-shard", INFO, r"is mapped to .* but is in",
     sharded(lambda i, m: i["weight_map"].update({first_key(i): SH[1]})))
case("shard-duplicate-key", INFO, r"duplicate key",
     sharded(lambda i, m: json.dumps(i)[:-2] + ', "%s": "%s"}}' % (first_key(i), SH[0])))
for what, rx in (("dir", r"is a directory"), ("fifo", r"FIFO"), ("zero", r"character device"),
                 ("loop", r"symbolic links|cannot open")):
    case("shard-index-" + what, INFO, rx,
         sharded(lambda i, m, what=what: make_special(os.path.join(m, "model.safetensors.index.json"), what) or KEEP),
         quick=what == "fifo")
    case("shard-file-" + what, INFO, rx, sharded(lambda i, m, what=what: make_special(os.path.join(m, SH[0]), what)))
case("shard-two-shards", INFO, r"two shards",
     sharded(lambda i, m: [shutil.copy(os.path.join(m, SH[0]), os.path.join(m, "model-x.safetensors")),
                           i["weight_map"].update(zz="model-x.safetensors")] and None))
