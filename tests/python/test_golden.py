"""test_golden.py: the golden cases of tests/fixtures/golden (made by the authors' ttt.py, the
vendored mamba_ssm and Hugging Face Llama, in float64) through the Python API: logits, loss,
gradients and token-by-token decode logits, with the golden README's float32 tolerances
(logits, decode_logits max|d| <= 5e-5 max|expected|; loss |d| <= 1e-5; gradients per tensor
max|d| <= 1e-4 max|expected| (Mamba: 2e-4)); the float64 case in float64 at 1e-6 relative."""
import os
import unittest

import numpy as np

from helpers import REPO, st_read, ttt

GOLD = os.path.join(REPO, "tests", "fixtures", "golden")
CASES = ["linear_mamba", "mlp_mamba", "linear_tfbackbone", "mlp_tfbackbone", "llama_lm", "mamba_lm",
         "linear_mamba_f64"]


def rel_worst(a, ref):
    d = np.abs(a.astype(np.float64) - ref.astype(np.float64))
    i = np.unravel_index(int(np.argmax(d)), d.shape) if d.ndim else ()
    return float(d.max()) / max(float(np.abs(ref).max()), 1e-30), i, a[i], ref[i]


class TestGolden(unittest.TestCase):
    def check_case(self, name):
        d = os.path.join(GOLD, name)
        if not os.path.exists(os.path.join(d, "expected.safetensors")):
            self.skipTest("%s absent" % d)
        f64 = name.endswith("_f64")
        scale = 1e-6 / 5e-5 if f64 else 1.0
        m = ttt.Model.load(d, precision="f64" if f64 else "f32")
        e = st_read(os.path.join(d, "expected.safetensors"))
        ids = e["input_ids"]  # int64 [B, L]: any integer dtype is taken
        lg = m.forward(ids)
        r = rel_worst(lg, e["logits"])
        self.assertLessEqual(r[0], 5e-5 * scale, "%s logits: %s" % (name, r))
        loss, grads = m.forward_backward(ids)
        # float64: 1e-6 relative (the expected loss is stored as float32)
        ltol = 1e-6 * abs(float(e["loss"])) if f64 else 1e-5
        self.assertLessEqual(abs(loss - float(e["loss"])), ltol, (name, loss, float(e["loss"])))
        gtol = (2e-4 if "mamba_lm" in name else 1e-4) * (1e-6 / 1e-4 if f64 else 1.0)
        n = 0
        for k, ref in e.items():
            if k.startswith("grad."):
                g = grads[k[5:]]
                r = rel_worst(g, ref)
                self.assertLessEqual(r[0], gtol, "%s %s: %s" % (name, k, r))
                n += 1
        self.assertGreater(n, 5)
        if "decode_logits" in e:
            c = ttt.Cache(m, ids.shape[0])
            dec = np.stack([c.decode_step(ids[:, t]) for t in range(ids.shape[1])], axis=1)
            r = rel_worst(dec, e["decode_logits"])
            self.assertLessEqual(r[0], 5e-5 * scale, "%s decode_logits: %s" % (name, r))


for _c in CASES:
    setattr(TestGolden, "test_" + _c, (lambda c: lambda self: self.check_case(c))(_c))

if __name__ == "__main__":
    unittest.main()
