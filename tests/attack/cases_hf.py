"""cases_hf.py: the attack cases of tokenizer.json files (src/tokenizer/hf_*.c), added to the
table of cases.py: broken and hostile files made from the fetched GPT-2 and Llama-2 style
tokenizer.json (data/tok/hf), unsupported components, and text the pipeline must take in
linear time."""
import json
import os

from cases import OK, case, make_special

TOK = "tokenize --tokenizer {d}/tk/tokenizer.json --text 'hello world <s> x' --ids"


def hf_file(name, edit=None, raw=None):
    """data/tok/hf/NAME/tokenizer.json into {d}/tk/, edited as JSON (edit(j) changes it or returns
    a replacement) or replaced by raw bytes"""
    def s(c):
        src = os.path.join(c.fx.tokenizer("hf/" + name), "tokenizer.json")
        os.mkdir(c.p("tk"))
        if raw is not None:
            c.write("tk/tokenizer.json", raw)
            return
        with open(src, encoding="utf-8") as f:
            j = json.load(f)
        r = edit(j) if edit else None
        c.write("tk/tokenizer.json", json.dumps(r if r is not None else j).encode())
    return s


def set_path(path, value):
    def e(j):
        o = j
        for k in path[:-1]:
            o = o[k]
        o[path[-1]] = value
    return e


G, L = "hf/gpt2", "hf/llama2"
case("hf-ok", TOK, OK, hf_file("gpt2"), needs=G, quick=True)
case("hf-not-json", TOK, r"JSON|tokenizer.json", hf_file("gpt2", raw=b"{\"model\": {\"vocab\": "), needs=G, quick=True)
case("hf-array", TOK, r"object|tokenizer.json", hf_file("gpt2", raw=b"[1, 2]"), needs=G)
case("hf-empty", TOK, r"JSON|empty|tokenizer.json", hf_file("gpt2", raw=b""), needs=G)
case("hf-binary", TOK, r"JSON|tokenizer.json", hf_file("gpt2", raw=os.urandom(4096)), needs=G)
case("hf-no-model", TOK, r"model", hf_file("gpt2", lambda j: {k: v for k, v in j.items() if k != "model"}), needs=G)
case("hf-wordpiece", TOK, r"WordPiece.*not supported", hf_file("gpt2", set_path(["model", "type"], "WordPiece")),
     needs=G, quick=True)
case("hf-unigram", TOK, r"Unigram.*not supported", hf_file("gpt2", set_path(["model", "type"], "Unigram")), needs=G)
case("hf-dropout", TOK, r"dropout", hf_file("gpt2", set_path(["model", "dropout"], 0.5)), needs=G)
case("hf-normalizer-unknown", TOK, r"BertNormalizer.*not supported",
     hf_file("gpt2", set_path(["normalizer"], {"type": "BertNormalizer"})), needs=G, quick=True)
case("hf-pretok-unknown", TOK, r"Punctuation.*not supported",
     hf_file("gpt2", set_path(["pre_tokenizer"], {"type": "Punctuation"})), needs=G)
case("hf-decoder-unknown", TOK, r"CTC.*not supported", hf_file("gpt2", set_path(["decoder"], {"type": "CTC"})), needs=G)
case("hf-post-unknown", TOK, r"RobertaProcessing.*not supported",
     hf_file("gpt2", set_path(["post_processor"], {"type": "RobertaProcessing"})), needs=G)
case("hf-bad-regex", TOK, r"cannot compile", hf_file("gpt2", set_path(["pre_tokenizer"], {
    "type": "Split", "pattern": {"Regex": "(?<=a+)b"}, "behavior": "Isolated", "invert": False})), needs=G)
case("hf-nested-deep", TOK, r"nested", hf_file("gpt2", set_path(["normalizer"], json.loads(
    "{\"type\": \"Sequence\", \"normalizers\": [" * 40 + "]}" * 40))), needs=G)
case("hf-vocab-id-huge", TOK, r"integer id", hf_file("gpt2", lambda j: j["model"]["vocab"].update(x=1e300)), needs=G)
case("hf-vocab-id-float", TOK, r"integer id", hf_file("gpt2", lambda j: j["model"]["vocab"].update(x=3.5)), needs=G)
case("hf-vocab-dup-id", TOK, r"gives id 0 to both", hf_file("gpt2", lambda j: j["model"]["vocab"].update(xyz=0)),
     needs=G, quick=True)
case("hf-vocab-string", TOK, r"vocab", hf_file("gpt2", set_path(["model", "vocab"], "abc")), needs=G)
case("hf-merge-unknown", TOK, r"merges\[0\].*not in model.vocab",
     hf_file("gpt2", lambda j: j["model"]["merges"].insert(0, "zzzq qqqz")), needs=G, quick=True)
case("hf-merge-three", TOK, r"one space", hf_file("gpt2", lambda j: j["model"]["merges"].insert(0, "a b c")), needs=G)
case("hf-merge-number", TOK, r"merges\[0\]", hf_file("gpt2", lambda j: j["model"]["merges"].insert(0, 7)), needs=G)
case("hf-added-no-id", TOK, r"added_tokens", hf_file("gpt2", lambda j: j["added_tokens"].append({"content": "x"})),
     needs=G)
case("hf-added-id-negative", TOK, r"added_tokens.*id", hf_file("gpt2", lambda j: j["added_tokens"].append(
    {"id": -5, "content": "x"})), needs=G)
case("hf-added-empty", TOK, r"empty content", hf_file("gpt2", lambda j: j["added_tokens"].append(
    {"id": 3, "content": ""})), needs=G)
case("hf-added-twice", TOK, r"listed twice", hf_file("gpt2", lambda j: j["added_tokens"].append(
    dict(j["added_tokens"][0], id=7))), needs=G)
case("hf-template-undefined", TOK, r"special_tokens do not define", hf_file("llama2", lambda j: j["post_processor"].update(
    special_tokens={})), needs=L)
case("hf-template-id-range", TOK, r"outside", hf_file("llama2", lambda j: j["post_processor"]["special_tokens"]["<s>"].update(
    ids=[10 ** 9])), needs=L)
case("hf-metaspace-rep", TOK, r"exactly one character", hf_file("llama2", set_path(["pre_tokenizer"], {
    "type": "Metaspace", "replacement": "__"})), needs=L)
case("hf-no-unk-no-fallback", "tokenize --tokenizer {d}/tk/tokenizer.json --text 'h\ue000' --ids",
     r"U\+E000.*no token", hf_file("llama2", lambda j: j["model"].update(byte_fallback=False, unk_token=None)),
     needs=L, quick=True)
case("hf-config-bad-bos", TOK, r"tokenizer_config.json.*bos_token", lambda c: (hf_file("llama2")(c), c.write(
    "tk/tokenizer_config.json", b"{\"bos_token\": \"<nope>\", \"add_bos_token\": true}")), needs=L)
case("hf-config-not-json", TOK, r"tokenizer_config.json", lambda c: (hf_file("llama2")(c), c.write(
    "tk/tokenizer_config.json", b"{{{")), needs=L)
case("hf-fifo", TOK, r"FIFO", lambda c: (os.mkdir(c.p("tk")), os.mkfifo(c.p("tk/tokenizer.json"))), needs=G)
case("hf-dir-as-file", TOK, r"directory|regular", lambda c: (os.mkdir(c.p("tk")), make_special(
    c.p("tk/tokenizer.json"), "dir")), needs=G)
# valid text the pipeline must take in linear time: a 2 MB word with no space (one piece in a
# SentencePiece-style file), a 1 MB whitespace run, 200 kB of one added token repeated
for name, need in (("gpt2", G), ("llama2", L)):
    tk = "tokenize --tokenizer {tokdir}/" + need + " --input {d}/t.txt --count"
    case("hf-long-word-" + name, tk, OK, lambda c: c.write("t.txt", b"a" * (2 << 20)), needs=need, timeout=120)
    case("hf-long-space-" + name, tk, OK, lambda c: c.write("t.txt", b" " * (1 << 20) + b"x"), needs=need, timeout=120)
    case("hf-many-added-" + name, tk, OK, lambda c: c.write("t.txt", b"<|endoftext|><s>" * 12800), needs=need, timeout=120)
