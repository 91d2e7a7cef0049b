// hf_oracle.cjs: the test oracle for tokenizer.json files: @lenml/tokenizers@3.7.2 (a
// dependency-free fork of transformers.js' tokenizers, fetched by scripts/fetch-data.sh) encodes
// texts with add_special_tokens false and writes the ids, so that tests compare our ids with
// theirs. Nothing of it is linked into ttt.
//
//   node tests/hf_oracle.cjs LENML_MAIN_JS TOKDIR OUT FILE...
//     TOKDIR holds tokenizer.json and tokenizer_config.json; each FILE is read as UTF-8 and
//     encoded whole. OUT receives, per FILE, an int32 count then that many int32 ids
//     (little-endian). With FILE = "--cases CASES", CASES holds texts separated by lines of
//     "\x1e" (ASCII record separator) alone, each encoded as one text.
//   node tests/hf_oracle.cjs LENML_MAIN_JS TOKDIR --time REPS FILE...
//     prints {"bytes":N,"tokens":N,"fnv":H,"median_s":S,"mb_s":R} for encoding every FILE
//     (each one document), the median of REPS runs (make bench-tokenizer).
"use strict";
const fs = require("fs");
const path = require("path");

const [mainJs, tokdir, out, ...rest] = process.argv.slice(2);
if (!mainJs || !tokdir || !out) {
    process.stderr.write("usage: node hf_oracle.cjs LENML_MAIN_JS TOKDIR OUT FILE...\n");
    process.exit(2);
}
const { TokenizerLoader } = require(path.resolve(mainJs));
const tokenizerJSON = JSON.parse(fs.readFileSync(path.join(tokdir, "tokenizer.json"), "utf8"));
let tokenizerConfig = {};
const cfgPath = path.join(tokdir, "tokenizer_config.json");
if (fs.existsSync(cfgPath)) tokenizerConfig = JSON.parse(fs.readFileSync(cfgPath, "utf8"));
const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });
const encode = (text) => tok.encode(text, { add_special_tokens: false });

if (out === "--time") {
    const reps = parseInt(rest[0], 10);
    const texts = rest.slice(1).map((f) => fs.readFileSync(f, "utf8"));
    const bytes = texts.reduce((a, t) => a + Buffer.byteLength(t, "utf8"), 0);
    const times = [];
    let tokens = 0;
    let h = 0xcbf29ce484222325n; // FNV-1a over the ids' little-endian bytes, as bench/tokenizer_bench.c
    for (let r = 0; r < reps; r++) {
        const t0 = process.hrtime.bigint();
        const out = texts.map(encode);
        times.push(Number(process.hrtime.bigint() - t0) / 1e9);
        if (r > 0) continue;
        for (const ids of out) {
            tokens += ids.length;
            for (const id of ids)
                for (let k = 0; k < 4; k++) h = ((h ^ BigInt((id >>> (8 * k)) & 255)) * 0x100000001b3n) & 0xffffffffffffffffn;
        }
    }
    times.sort((a, b) => a - b);
    const med = times[Math.floor(times.length / 2)];
    console.log(JSON.stringify({ impl: "@lenml/tokenizers", bytes, tokens, fnv: h.toString(16).padStart(16, "0"),
                                 median_s: med, mb_s: bytes / 1e6 / med }));
    process.exit(0);
}

let texts = [];
for (let i = 0; i < rest.length; i++) {
    if (rest[i] === "--cases") {
        const all = fs.readFileSync(rest[++i], "utf8");
        texts.push(...all.split("\n\x1e\n"));
    } else {
        texts.push(fs.readFileSync(rest[i], "utf8"));
    }
}
const chunks = [];
for (const t of texts) {
    const ids = encode(t);
    const b = Buffer.alloc(4 * (ids.length + 1));
    b.writeInt32LE(ids.length, 0);
    ids.forEach((id, k) => b.writeInt32LE(id, 4 * (k + 1)));
    chunks.push(b);
}
fs.writeFileSync(out, Buffer.concat(chunks));
