"""cases_modeltok.py: the attack cases of model directories that carry their tokenizer (ttt init
--tokenizer, ttt train --tokenizer and a --model DIR / checkpoint's tokenizer.json, ttt generate
with the directory's tokenizer.json), added to the table of cases.py: tokenizers that do not
match the token file or the model, broken and special tokenizer files, output directories that
are files, links to nothing or hold a directory where a tokenizer file goes."""
import json
import os

from cases import OK, case, make_special
from lib import pattern_ids, tokfile

INIT_FLAGS = "--preset ttt-linear-tiny --layers 1 --width 8 --heads 2 --intermediate 8"
INIT = "init " + INIT_FLAGS + " --tokenizer {d}/tk --out {d}/o"
TRAIN = "train --model {m} --data {d}/t.tok --run {d}/run2 --steps 2 --seq-len 8 --batch 2 --quiet --threads 1"
GEN = "generate --model {m} --prompt abcab --max-tokens 3 --temperature 0"

# the 11 ids of the tiny models: <unk> <s> </s> a..g ab
TINY = {"version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, t in enumerate(["<unk>", "<s>", "</s>"])],
        "normalizer": None, "pre_tokenizer": None, "post_processor": None, "decoder": None,
        "model": {"type": "BPE", "unk_token": "<unk>", "merges": ["a b"],
                  "vocab": dict([("<unk>", 0), ("<s>", 1), ("</s>", 2)] +
                                [(ch, 3 + i) for i, ch in enumerate("abcdefg")] + [("ab", 10)])}}
TINY_CONFIG = {"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True}


def tiny_tok(where="tk", raw=None):
    def s(c):
        c.write(where + "/tokenizer.json", raw if raw is not None else json.dumps(TINY))
        c.write(where + "/tokenizer_config.json", json.dumps(TINY_CONFIG))
    return s


def tokens(vocab=11, name=b"", n=400):
    return lambda c: c.write("t.tok", tokfile(pattern_ids(n, vocab), vocab=vocab, name=name))


def with_dir_tok(raw=None, special=None):
    """the fixture model with a tokenizer.json of its own (the tiny one, raw bytes or a special file)"""
    def s(c):
        m = c.model()
        tiny_tok("m", raw)(c)
        if special:
            make_special(os.path.join(m, "tokenizer.json"), special)
    return s


def steps(*fns):
    def run(c):
        for f in fns:
            f(c)
    return run


def same_as_tk(*rel):
    """every path REL (under the case directory) holds the tiny tokenizer.json"""
    def chk(c, out, err):
        want = c.read("tk/tokenizer.json")
        for r in rel:
            p = c.p(r)
            if not os.path.exists(p) or open(p, "rb").read() != want:
                return "%s is not the tokenizer's copy" % r
        return None
    return chk


def absent(*rel):
    def chk(c, out, err):
        for r in rel:
            if os.path.lexists(c.p(r)):
                return "%s exists (expected none)" % r
        return None
    return chk


case("mtok-init-ok", INIT, OK, tiny_tok(), check=same_as_tk("o/tokenizer.json"), quick=True)
def tk_is_model(c, out, err):
    if not os.path.exists(c.p("tk/config.json")):
        return "tk/config.json was not written"
    if c.read("tk/tokenizer.json") != json.dumps(TINY).encode():
        return "tk/tokenizer.json changed"
    left = [n for n in os.listdir(c.d) if ".init-" in n]
    return "staging directories left: %s" % left if left else None


# --out the tokenizer's own directory: the model goes beside the tokenizer files, which stay
case("mtok-init-into-tok-dir", "init " + INIT_FLAGS + " --tokenizer {d}/tk --out {d}/tk", OK, tiny_tok(),
     check=tk_is_model)
case("mtok-init-vocab-small", INIT + " --vocab 5", r"--vocab 5.*smaller.*11", tiny_tok(), quick=True)
case("mtok-init-vocab-zero", INIT + " --vocab 0", r"--vocab", tiny_tok())
case("mtok-init-tok-missing", "init " + INIT_FLAGS + " --tokenizer {d}/nothing --out {d}/o", r"--tokenizer.*nothing")
case("mtok-init-tok-fifo", INIT, r"FIFO", steps(tiny_tok(), lambda c: make_special(c.p("tk/tokenizer.json"), "fifo")))
case("mtok-init-tok-zero", INIT, r"character device|regular|tokenizer",
     steps(tiny_tok(), lambda c: make_special(c.p("tk/tokenizer.json"), "zero")))
case("mtok-init-tok-is-dir", INIT, r"directory|tokenizer",
     steps(tiny_tok(), lambda c: make_special(c.p("tk/tokenizer.json"), "dir")))
case("mtok-init-tok-binary", INIT, r"JSON|tokenizer", tiny_tok(raw=os.urandom(2048)))
case("mtok-init-tok-config-bad", INIT, r"tokenizer_config\.json",
     steps(tiny_tok(), lambda c: c.write("tk/tokenizer_config.json", "{\"bos_token\": ")))
case("mtok-init-out-file", INIT, r"not a directory", steps(tiny_tok(), lambda c: c.write("o", "x")), quick=True)
case("mtok-init-out-dangling", INIT, r"symbolic link to a missing path",
     steps(tiny_tok(), lambda c: make_special(c.p("o"), "dangling")))
case("mtok-init-out-no-parent", "init " + INIT_FLAGS + " --tokenizer {d}/tk --out {d}/no/such/o", r"staging|parent",
     tiny_tok())
case("mtok-init-out-tok-is-dir", "init " + INIT_FLAGS + " --vocab 11 --out {d}/o", r"o/tokenizer\.json.*directory",
     lambda c: os.makedirs(c.p("o/tokenizer.json")))
case("mtok-init-out-replaces-tok", "init " + INIT_FLAGS + " --vocab 11 --out {d}/o", OK,
     lambda c: c.write("o/tokenizer.json", "{}"), check=absent("o/tokenizer.json"))

# train
case("mtok-train-ok", TRAIN + " --tokenizer {d}/tk", OK, steps(lambda c: c.model(), tiny_tok(), tokens()),
     check=same_as_tk("run2/ckpt-00000002/tokenizer.json"), quick=True)
case("mtok-train-vocab-mismatch", TRAIN + " --tokenizer {d}/tk", r"t\.tok.*10 ids.*11 ids",
     steps(lambda c: c.model(), tiny_tok(), tokens(vocab=10)), quick=True)
case("mtok-train-name-mismatch", TRAIN + " --tokenizer {d}/tk", r"t\.tok.*'llama2'.*hf-",
     steps(lambda c: c.model(), tiny_tok(), tokens(name=b"llama2")))
case("mtok-train-model-name-mismatch", TRAIN + " --tokenizer {d}/tk", r"model was trained with tokenizer 'other'",
     steps(lambda c: c.model(), lambda c: c.edit_config(c.vars["m"], lambda j: j.update(ttt_tokenizer="other")),
           tiny_tok(), tokens()))
case("mtok-train-tok-missing", TRAIN + " --tokenizer {d}/nothing", r"--tokenizer.*nothing",
     steps(lambda c: c.model(), tokens()), check=absent("run2"))
case("mtok-train-tok-fifo", TRAIN + " --tokenizer {d}/tk", r"FIFO",
     steps(lambda c: c.model(), tiny_tok(), tokens(), lambda c: make_special(c.p("tk/tokenizer.json"), "fifo")))
case("mtok-train-builtin-mismatch", "train " + INIT_FLAGS + " --data {d}/t.tok --run {d}/run2 --steps 1 --seq-len 8 "
     "--batch 1 --quiet --threads 1 --tokenizer {tokdir}/r50k_base.tiktoken", r"'llama2'.*'r50k_base'",
     tokens(vocab=32000, name=b"llama2"), needs="r50k_base.tiktoken")
case("mtok-train-dir-tok", TRAIN, OK, steps(with_dir_tok(), tokens(), tiny_tok()),
     check=same_as_tk("run2/ckpt-00000002/tokenizer.json"), quick=True)
case("mtok-train-dir-tok-broken", TRAIN, OK, steps(with_dir_tok(raw=b"{\"model\": {\"type\": \"WordPiece\"}}"), tokens()),
     check=absent("run2/ckpt-00000002/tokenizer.json"))
case("mtok-train-dir-tok-fifo", TRAIN, OK, steps(with_dir_tok(special="fifo"), tokens()),
     check=absent("run2/ckpt-00000002/tokenizer.json"))
case("mtok-train-dir-tok-loop", TRAIN, OK, steps(with_dir_tok(special="loop"), tokens()),
     check=absent("run2/ckpt-00000002/tokenizer.json"))
case("mtok-train-dir-tok-other-data", TRAIN, OK, steps(with_dir_tok(), tokens(vocab=10)),
     check=absent("run2/ckpt-00000002/tokenizer.json"))
case("mtok-train-resume-tok", "train --run {run} --resume --data {fx}/data.tok --steps 4 --seq-len 8 --batch 2 "
     "--ckpt-every 1 --quiet --threads 1 --tokenizer {d}/tk", OK, steps(lambda c: c.run_dir(), tiny_tok()),
     check=same_as_tk("run/ckpt-00000004/tokenizer.json"))

# generate
case("mtok-gen-dir-tok", GEN, OK, with_dir_tok(), quick=True)
case("mtok-gen-dir-tok-broken", GEN, r"tokenizer\.json|JSON", with_dir_tok(raw=b"{\"model\": "))
case("mtok-gen-dir-tok-zero", GEN, r"character device|regular|tokenizer", with_dir_tok(special="zero"))
