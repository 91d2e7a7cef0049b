// tok_oracle.cjs: the test oracle for tokenizer.json files: loads tokenizer.json +
// tokenizer_config.json with @lenml/tokenizers (a dependency-free fork of transformers.js'
// tokenizers) and encodes text with add_special_tokens false.
//
//   node tests/tok_oracle.cjs PKG_DIR TOKENIZER_JSON CONFIG_JSON ids TEXT...
//       one line per TEXT: its ids separated by spaces
//   node tests/tok_oracle.cjs PKG_DIR TOKENIZER_JSON CONFIG_JSON files [--text=T ...] FILE...
//       encodes each file (one document) and decodes it back; prints one JSON line:
//       {"files": n, "bytes": b, "tokens": t, "roundtrip_failures": k, "first_failure": "FILE"|null,
//        "vocab": v, "texts": [[ids of each --text=T]...], "load_ms": ms, "encode_ms": ms}
//
// PKG_DIR is the unpacked npm package (the directory holding package.json and dist/).
'use strict';
const fs = require('fs');
const path = require('path');

function main() {
  const [pkg, tjPath, cfgPath, mode, ...rest] = process.argv.slice(2);
  if (!pkg || !tjPath || !cfgPath || (mode !== 'ids' && mode !== 'files')) {
    process.stderr.write('usage: tok_oracle.cjs PKG_DIR TOKENIZER_JSON CONFIG_JSON (ids TEXT... | files FILE...)\n');
    process.exit(2);
  }
  const { TokenizerLoader } = require(path.resolve(pkg, 'dist', 'main.js'));
  const t0 = Date.now();
  const tok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(tjPath, 'utf8')),
    tokenizerConfig: JSON.parse(fs.readFileSync(cfgPath, 'utf8')),
  });
  const loadMs = Date.now() - t0;
  if (mode === 'ids') {
    for (const text of rest) {
      const ids = tok.encode(text, { add_special_tokens: false });
      process.stdout.write(ids.join(' ') + '\n');
    }
    return;
  }
  let bytes = 0, tokens = 0, failures = 0, first = null;
  const texts = rest.filter((a) => a.startsWith('--text=')).map((a) => tok.encode(a.slice(7), { add_special_tokens: false }));
  const files = rest.filter((a) => !a.startsWith('--text='));
  const t1 = Date.now();
  for (const f of files) {
    const buf = fs.readFileSync(f);
    const text = buf.toString('utf8');
    bytes += buf.length;
    if (text.length === 0) continue;
    const ids = tok.encode(text, { add_special_tokens: false });
    tokens += ids.length;
    const back = tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    if (back !== text) {
      failures++;
      if (first === null) first = f;
    }
  }
  const out = {
    files: files.length, bytes, tokens, roundtrip_failures: failures, first_failure: first,
    vocab: tok.model.vocab.length, texts, load_ms: loadMs, encode_ms: Date.now() - t1,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main();
