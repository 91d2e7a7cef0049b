// tokenizer_bench.mjs: the peer side of `make bench-tokenizer`: times npm gpt-tokenizer@4.0.0
// (or llama-tokenizer-js@1.2.2 for "llama2") encoding the same files as bench/tokenizer_bench.c
// and prints one JSON line: encoding, bytes, tokens, FNV-1a 64 of the ids (to check that both
// produce the same tokens), and the median seconds over the repetitions.
//   node bench/tokenizer_bench.mjs DATA_DIR ENCODING REPS FILE...
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const [dataDir, encoding, repsArg, ...files] = process.argv.slice(2);
if (!dataDir || !encoding || !repsArg || files.length === 0) {
  console.error('usage: node tokenizer_bench.mjs DATA_DIR ENCODING REPS FILE...');
  process.exit(2);
}
const reps = Number(repsArg);
let encode;
if (encoding === 'llama2') {
  const mod = await import(pathToFileURL(join(dataDir, 'pkg/llama-tokenizer-js-1.2.2/package/llama-tokenizer.js')).href);
  const tok = mod.default;
  encode = (text) => tok.encode(text, false, true);
} else {
  const mod = await import(pathToFileURL(join(dataDir, `pkg/gpt-tokenizer-4.0.0/package/esm/encoding/${encoding}.js`)).href);
  encode = (text) => mod.encode(text, { allowedSpecial: new Set(), disallowedSpecial: new Set() });
}
// each file is one document, decoded as UTF-8 as node reads text
const texts = files.map((f) => readFileSync(f, 'utf8'));
const bytes = files.reduce((s, f) => s + readFileSync(f).length, 0);

function fnv(ids, h) {
  for (const id of ids) {
    for (let k = 0; k < 4; k++) {
      h ^= BigInt((id >>> (8 * k)) & 255);
      h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
    }
  }
  return h;
}

const times = [];
let tokens = 0, hash = 0xcbf29ce484222325n;
for (let r = 0; r < reps; r++) {
  const t0 = process.hrtime.bigint();
  const out = texts.map((t) => encode(t));
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  times.push(dt);
  if (r === 0) {
    tokens = out.reduce((s, ids) => s + ids.length, 0);
    for (const ids of out) hash = fnv(ids, hash);
  }
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(JSON.stringify({ impl: encoding === 'llama2' ? 'llama-tokenizer-js' : 'gpt-tokenizer', encoding, bytes, tokens,
  fnv: hash.toString(16).padStart(16, '0'), median_s: median, mb_s: bytes / median / 1e6, reps }));
