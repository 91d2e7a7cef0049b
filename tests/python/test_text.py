"""test_text.py: ttt.Tokenizer against `ttt tokenize` and golden GPT-2 ids, ttt.tokfile
against the format of docs/data.md (parsed here, FNV-1a computed here) and the commands that
read token files (`ttt eval`, `ttt train`), generation against `ttt generate` (the same bytes
for the same seed and settings), and ttt.train / ttt.evaluate against the commands (the same
weights after training, the same perplexity)."""
import json
import os
import re
import struct
import unittest

import numpy as np

from helpers import REPO, TMP, run, st_read, tiny_model, ttt, worst

R50K = os.path.join(REPO, "data", "tok", "r50k_base.tiktoken")


def fnv1a64(b):
    h = 0xCBF29CE484222325
    for x in b:
        h = ((h ^ x) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


@unittest.skipUnless(os.path.exists(R50K), "data/tok/r50k_base.tiktoken absent (scripts/fetch-data.sh)")
class TestTokenizer(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tok = ttt.Tokenizer.load(R50K)

    def test_golden_and_cli(self):
        self.assertEqual(self.tok.encode("Hello world").tolist(), [15496, 995])  # GPT-2's ids
        self.assertEqual(self.tok.name, "r50k_base")
        self.assertEqual(self.tok.vocab_size, 50257)
        text = "Héllo wörld, the 3 cats\n\nsat  on 12345 mats! <|endoftext|>"
        r = run("tokenize", "--tokenizer", R50K, "--text", text, "--ids")
        cli = [int(x) for x in r.stdout.split()]
        self.assertEqual(self.tok.encode(text).tolist(), cli)
        self.assertEqual(self.tok.decode(cli), text)
        self.assertEqual(self.tok.encode(text, add_bos=True)[0], self.tok.bos_id)

    def test_batch_and_bytes(self):
        texts = ["one", "two words", "", "ünïcödé 🙂", b"\xff\xfe raw bytes"]
        batch = self.tok.encode_batch(texts)
        for t, ids in zip(texts, batch):
            self.assertEqual(ids.tolist(), self.tok.encode(t).tolist())
            want = t if isinstance(t, bytes) else t.encode()
            self.assertEqual(self.tok.decode_bytes(ids), want)
        with self.assertRaises(ttt.TTTError) as cm:
            self.tok.decode([50257])
        self.assertIn("50257", str(cm.exception))
        with self.assertRaises(TypeError):
            self.tok.encode(123)


class TestTokfile(unittest.TestCase):
    def test_round_trip_and_format(self):
        p = os.path.join(TMP, "py.tok")
        docs = [np.array([1, 5, 6, 2]), np.array([1, 7, 8, 9, 2]), np.array([1, 3, 2])]
        ttt.tokfile.write(p, docs, vocab_size=97, bos_id=1, eos_id=2, tokenizer="toy")
        tf = ttt.tokfile.read(p)
        self.assertEqual(tf.ids.tolist(), np.concatenate(docs).tolist())
        self.assertEqual(tf.doc_start.tolist(), [0, 4, 9])
        self.assertEqual((tf.vocab_size, tf.bos_id, tf.eos_id, tf.tokenizer, tf.width), (97, 1, 2, "toy", 2))
        self.assertEqual([d.tolist() for d in tf.documents()], [d.tolist() for d in docs])
        # the bytes, parsed here from docs/data.md's table
        with open(p, "rb") as f:
            raw = f.read()
        self.assertEqual(raw[:8], b"TTTTOKEN")
        ver, width, n, nd, bos, eos, V = struct.unpack_from("<iiqqiiq", raw, 8)
        self.assertEqual((ver, width, n, nd, bos, eos, V), (1, 2, 12, 3, 1, 2, 97))
        self.assertEqual(raw[48:51], b"toy")
        self.assertEqual(len(raw), 128 + 12 * 2 + 3 * 8)
        self.assertEqual(struct.unpack_from("<Q", raw, 80)[0], fnv1a64(raw[128:]))
        self.assertEqual(list(struct.unpack_from("<12H", raw, 128)), tf.ids.tolist())
        self.assertEqual(os.listdir(TMP).count("py.tok"), 1)
        # refused: an id outside the vocabulary (the library's message), a float array
        with self.assertRaises(ttt.TTTError) as cm:
            ttt.tokfile.write(os.path.join(TMP, "bad.tok"), [1, 2, 97], vocab_size=97)
        self.assertIn("outside the vocabulary", str(cm.exception))
        self.assertFalse(os.path.exists(os.path.join(TMP, "bad.tok")))
        with self.assertRaises(TypeError):
            ttt.tokfile.write(os.path.join(TMP, "bad.tok"), np.array([1.0, 2.0]), vocab_size=97)


class TestTrainEval(unittest.TestCase):
    """What Python writes, the commands read; what Python trains equals what `ttt train` trains."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tiny_model()
        rs = np.random.RandomState(5)
        cls.data = os.path.join(TMP, "train-py.tok")
        ttt.tokfile.write(cls.data, rs.randint(3, 97, 3000), vocab_size=97, bos_id=1, eos_id=2)

    def test_train_equals_cli(self):
        flags = dict(steps=3, seq_len=16, batch=4, micro_batch=2, lr=1e-2, seed=3, warmup=1)
        cli_run = os.path.join(TMP, "run-cli")
        args = ["train", "--model", self.dir, "--data", self.data, "--run", cli_run, "--quiet"]
        for k, v in flags.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        run(*args)
        m = ttt.Model.load(self.dir)
        seen = []
        res = ttt.train(m, self.data, run=os.path.join(TMP, "run-py"), callback=seen.append, **flags)
        self.assertEqual([p.step for p in seen], [1, 2, 3])
        for p in seen:
            self.assertTrue(np.isfinite(p.loss) and p.lr > 0 and p.tokens_per_s > 0)
        a = st_read(os.path.join(cli_run, "model", "model.safetensors"))
        b = st_read(os.path.join(res.checkpoint, "model.safetensors"))
        w = m.parameters()
        for k in a:
            self.assertTrue(np.array_equal(a[k], b[k]), "%s: %s" % (k, worst(a[k], b[k])))
            self.assertTrue(np.array_equal(a[k], w[k]), "%s: %s" % (k, worst(a[k], w[k])))
        # losses: those of metrics.jsonl (%.6f)
        with open(os.path.join(cli_run, "metrics.jsonl")) as f:
            ml = [json.loads(l) for l in f if "\"loss\"" in l]
        for rec in ml:
            self.assertAlmostEqual(res.losses[rec["step"] - 1], rec["loss"], delta=1e-6)

    def test_resume_equals_uninterrupted(self):
        flags = dict(steps=4, seq_len=16, batch=2, lr=1e-2, seed=1, warmup=1)
        full = ttt.Model.load(self.dir)
        ttt.train(full, self.data, quiet=True, **flags)
        run_dir = os.path.join(TMP, "run-resume")
        part = ttt.Model.load(self.dir)
        r1 = ttt.train(part, self.data, run=run_dir, stop_after=2, quiet=True, **flags)
        self.assertEqual(r1.steps, 2)
        ck = ttt.latest_checkpoint(run_dir)
        self.assertEqual(ck, r1.checkpoint)
        rest = ttt.Model.load(ck)
        r2 = ttt.train(rest, self.data, run=run_dir, resume=True, quiet=True, **flags)
        self.assertEqual(r2.steps, 2)
        a, b = full.parameters(), rest.parameters()
        for k in a:
            self.assertTrue(np.array_equal(a[k], b[k]), "%s: %s" % (k, worst(a[k], b[k])))
        with self.assertRaises(ttt.TTTError):
            ttt.latest_checkpoint(os.path.join(TMP, "no-run"))

    def test_eval_equals_cli(self):
        m = ttt.Model.load(self.dir)
        r = ttt.evaluate(m, self.data, context=32, windows=20, batch=4, by_position=True)
        out = run("eval", "--model", self.dir, "--data", self.data, "--context", 32, "--windows", 20,
                  "--batch", 4).stdout.decode()
        ppl = float(re.search(r"perplexity ([0-9.]+)", out).group(1))
        self.assertEqual("%.4f" % r.ppl, "%.4f" % ppl)
        self.assertEqual(r.windows, 20)
        self.assertAlmostEqual(float((r.by_position * r.counts).sum()), r.nll_sum, delta=1e-9 * r.nll_sum)
        if r.accuracy is not None:  # libraries that count argmax-correct targets: recount them here
            ids = ttt.tokfile.read(self.data).ids[:20 * 33].reshape(20, 33)
            lg = m.forward(ids[:, :32])
            want = float((lg.argmax(axis=2) == ids[:, 1:]).mean())
            self.assertAlmostEqual(r.accuracy, want, delta=1e-12)
        # ids instead of a path: the same numbers
        r2 = ttt.evaluate(m, ttt.tokfile.read(self.data).ids, context=32, windows=20, batch=4)
        self.assertEqual(r2.ppl, r.ppl)

    def test_options_and_callback_errors(self):
        m = ttt.Model.load(self.dir)
        with self.assertRaises(TypeError) as cm:
            ttt.train(m, self.data, stepz=3)
        self.assertIn("stepz", str(cm.exception))
        with self.assertRaises(TypeError) as cm:
            ttt.evaluate(m, self.data, context=8, window=3)
        self.assertIn("window", str(cm.exception))
        with self.assertRaises(ttt.ArgumentError):
            ttt.train(m, self.data, schedule="linear")
        calls = []

        def cb(p):
            calls.append(p.step)
            if p.step == 2:
                raise KeyError("stop here")

        w0 = m.parameters(copy=True)
        with self.assertRaises(KeyError):
            ttt.train(m, self.data, steps=50, seq_len=16, batch=2, callback=cb)
        self.assertEqual(calls, [1, 2])  # stopped after the step that raised
        self.assertFalse(all(np.array_equal(w0[k], v) for k, v in m.parameters().items()))
        # the model still works, and trains again
        self.assertTrue(np.isfinite(m.loss(np.arange(10) % 97)))
        ttt.train(m, self.data, steps=1, seq_len=16, batch=2, quiet=True)
        with self.assertRaises(ttt.TTTError) as cm:
            ttt.train(m, os.path.join(TMP, "missing.tok"), steps=1, quiet=True)
        self.assertIn("missing.tok", str(cm.exception))


@unittest.skipUnless(os.path.exists(R50K), "data/tok/r50k_base.tiktoken absent (scripts/fetch-data.sh)")
class TestGenerate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tiny_model("gpt2vocab", "ttt-linear-tiny", "--vocab", "50257", "--bos", "50256", "--eos", "50256")
        cls.m = ttt.Model.load(cls.dir)
        cls.tok = ttt.Tokenizer.load(R50K)

    def check(self, prompt, whole=False, **kw):
        args = ["generate", "--model", self.dir, "--tokenizer", R50K, "--prompt", prompt, "--quiet"]
        for k, v in kw.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        cli = run(*args).stdout
        pieces = list(self.m.generate(prompt, tokenizer=self.tok, **kw))
        self.assertTrue(all(isinstance(p, str) for p in pieces))
        text = "".join(pieces)
        self.assertEqual((text + "\n").encode("utf-8"), cli.decode("utf-8", "replace").encode("utf-8"))
        if whole:
            self.assertEqual(self.m.generate(prompt, tokenizer=R50K, stream=False, **kw), text)
        return pieces

    def test_same_text_as_cli(self):
        p = self.check("Once upon a time", True, max_tokens=24, seed=11, temperature=0.9, top_k=50, top_p=0.95)
        self.assertGreater(len(p), 1)  # streamed in pieces
        self.check("The", max_tokens=16, seed=2, temperature=0)
        self.check("Hello", max_tokens=20, seed=4, temperature=1.3, stop="e")

    def test_llama_context_limit(self):
        # a Transformer stops at max_position_embeddings, as the command does
        d = tiny_model("llama-gpt2", "llama-tiny", "--vocab", "50257", "--bos", "50256", "--eos", "50256",
                       "--max-position", "12")
        m = ttt.Model.load(d)
        args = ["generate", "--model", d, "--tokenizer", R50K, "--prompt", "One two three", "--quiet",
                "--max-tokens", "30", "--seed", "1"]
        cli = run(*args).stdout.decode("utf-8", "replace")
        text = m.generate("One two three", tokenizer=self.tok, max_tokens=30, seed=1, stream=False)
        self.assertEqual(text + "\n", cli)
        self.assertLessEqual(len(self.tok.encode(text)), 12 - 4 + 1)

    def test_model_directory_settings(self):
        # the directory's own tokenizer.json (ttt init --tokenizer) and generation_config.json
        # (sampling defaults, max_new_tokens, EOS ids): no settings given on either side
        d = os.path.join(TMP, "model-gencfg")
        run("init", "--preset", "ttt-linear-tiny", "--tokenizer", R50K, "--out", d, "--seed", "3")
        with open(os.path.join(d, "generation_config.json"), "w") as f:
            json.dump({"do_sample": True, "temperature": 0.7, "top_k": 20, "max_new_tokens": 12,
                       "eos_token_id": [13, 50256]}, f)
        m = ttt.Model.load(d)
        for prompt, kw in (("Hello there", {}), ("B", {"max_tokens": 5, "temperature": 0})):
            args = ["generate", "--model", d, "--prompt", prompt, "--quiet"]
            for k, v in kw.items():
                args += ["--" + k.replace("_", "-"), str(v)]
            cli = run(*args).stdout.decode("utf-8", "replace")
            self.assertEqual(m.generate(prompt, stream=False, **kw) + "\n", cli, (prompt, kw))

    def test_errors(self):
        with self.assertRaises(ttt.TTTError):
            list(self.m.generate("x", tokenizer=self.tok, top_p=0))
        with self.assertRaises(ttt.ArgumentError):
            list(self.m.generate("", tokenizer=self.tok))
        with self.assertRaises(ttt.TTTError):  # no tokenizer named by the model
            list(self.m.generate("x"))


if __name__ == "__main__":
    unittest.main()
