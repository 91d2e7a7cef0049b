"""test_torch.py: ttt.torch (run by tests/test_python.c, TEST test_torch; skipped when PyTorch is not installed).

  * torch.autograd.gradcheck of TTTLinearFunction / TTTMLPFunction in float64 (the library's
    float64 path), with a trailing partial mini-batch, and for TTT-Linear with a mini-batch
    wider than the fused kernels take (the wide GEMM kernels);
  * float32 (the fused kernels) against a pure-PyTorch reference written here in float64: the
    PRIMAL form with explicit per-token weights W_i = W − τ_i Σ_{j<=i} η_j ∇ℓ_j(W), the inner
    gradients taken by torch.autograd (no closed forms shared with the C code); Z, the final
    state and all gradients, with written tolerances, the worst element printed on failure;
  * shape/dtype errors and the C side's validation (TTTError with ttt_last_error());
  * the nn.Modules: with TTT_PY=/path/to/ttt.py (test-time-training/ttt-lm-pytorch, commit
    cd831db; the `transformers` names it imports come from bench/official/stubs), state dicts
    load both ways (strict) between ours and the authors' TTTLinear / TTTMLP, and both give the
    same outputs and parameter gradients (float64 and float32). Without TTT_PY those tests skip.
"""
import ctypes
import importlib.util
import math
import os
import sys
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the C wrapper skips before this; direct runs say why
    raise unittest.SkipTest("PyTorch is not installed (Debian: apt-get install python3-torch)")

import ttt  # noqa: E402
import ttt.torch as tt  # noqa: E402

torch.set_num_threads(min(2, os.cpu_count() or 1))


def worst(name, got, ref, tol):
    """assert max|got − ref| <= tol · max(1, max|ref|); the message names the worst element"""
    got, ref = got.detach().double(), ref.detach().double()
    assert got.shape == ref.shape, "%s: shape %s vs %s" % (name, tuple(got.shape), tuple(ref.shape))
    err = (got - ref).abs()
    scale = max(1.0, ref.abs().max().item())
    idx = int(err.argmax())
    pos = tuple(int(i) for i in np.unravel_index(idx, tuple(err.shape)))
    msg = "%s: worst |got − ref| = %.3g at %s (got %.9g, ref %.9g), allowed %.3g (tol %.1g × %.3g)" % (
        name, err.max().item(), pos, got.flatten()[idx].item(), ref.flatten()[idx].item(), tol * scale, tol, scale)
    if err.max().item() > tol * scale:
        raise AssertionError(msg)
    return err.max().item() / scale


# ------------------------------------------------------------------------------------------------
# the reference: primal form, per-token weights, autograd inner gradients (float64)

def ref_ln(z, g, b, eps=1e-6):
    mu = z.mean(-1, keepdim=True)
    var = ((z - mu) ** 2).mean(-1, keepdim=True)
    return (z - mu) / torch.sqrt(var + eps) * g + b


def ref_inner(mb, XQ, XK, XV, eta, tau, lw, lb, W1, b1, W2=None, b2=None):
    """Z [B, L, H, f] and the final (state, sums) per (sequence, head), from the definitions:
    per mini-batch from weights W, ℓ_j(W) = ½‖LN(f(k_j; W)) − (v_j − k_j)‖²,
    z_i = q_i + LN(f(q_i; W − τ_i Σ_{j<=i} η_j ∇ℓ_j(W))), and the next mini-batch starts at the
    last row's weights. f(x) = x W1 + b1, or gelu_tanh(x W1 + b1) W2 + b2."""
    mlp = W2 is not None
    B, L, H, f = XQ.shape
    Q, K, V = (t.permute(0, 2, 1, 3) for t in (XQ, XK, XV))  # [B, H, L, f]
    lr = eta.permute(0, 2, 1)  # [B, H, L]
    g, bt = lw[None, :, None, :], lb[None, :, None, :]
    ws = [W1.expand(B, *W1.shape), b1.reshape(H, 1, -1).expand(B, H, 1, b1.shape[-1])]
    if mlp:
        ws += [W2.expand(B, *W2.shape), b2.reshape(H, 1, -1).expand(B, H, 1, f)]
    outs, sums = [], None
    for t0 in range(0, L, mb):
        n = min(mb, L - t0)
        q, k, v, e = Q[:, :, t0:t0 + n], K[:, :, t0:t0 + n], V[:, :, t0:t0 + n], lr[:, :, t0:t0 + n]
        # the per-token gradients of ℓ at the mini-batch's start weights (autograd, kept
        # differentiable): for a layer y = x W + b, ∇_W ℓ_j = x_jᵀ ∂ℓ/∂y_j, ∇_b ℓ_j = ∂ℓ/∂y_j
        with torch.enable_grad():
            k_ = k if k.requires_grad else k.detach().requires_grad_()
            if mlp:
                z1 = k_ @ ws[0] + ws[1]
                x2 = F.gelu(z1, approximate="tanh")
                z2 = x2 @ ws[2] + ws[3]
                loss = 0.5 * ((ref_ln(z2, g, bt) - (v - k_)) ** 2).sum()
                G1, G2 = torch.autograd.grad(loss, (z1, z2), create_graph=True)
                acts = [(k, G1), (x2, G2)]
            else:
                z1 = k_ @ ws[0] + ws[1]
                loss = 0.5 * ((ref_ln(z1, g, bt) - (v - k_)) ** 2).sum()
                (G1,) = torch.autograd.grad(loss, (z1,), create_graph=True)
                acts = [(k, G1)]
        tri = torch.tril(torch.ones(n, n, dtype=q.dtype))
        # per-token weights: W_i = W − τ_i Σ_{j<=i} η_j x_jᵀ G_j   [B, H, n, ., .]
        per = []
        for li, (x, G) in enumerate(acts):
            gW = torch.einsum("bhj,bhja,bhjc->bhjac", e, x, G)  # η_j x_jᵀ G_j
            gb = e[..., None] * G
            cW = torch.einsum("ij,bhjac->bhiac", tri, gW)
            cb = torch.einsum("ij,bhjc->bhic", tri, gb)
            tt_ = tau[:n]
            Wi = ws[2 * li][:, :, None] - tt_[None, None, :, None, None] * cW
            bi = ws[2 * li + 1] - tt_[None, None, :, None] * cb
            per.append((Wi, bi, cW[:, :, -1], cb[:, :, -1:]))
        h = torch.einsum("bhia,bhiac->bhic", q, per[0][0]) + per[0][1]
        if mlp:
            h = torch.einsum("bhia,bhiac->bhic", F.gelu(h, approximate="tanh"), per[1][0]) + per[1][1]
        outs.append(q + ref_ln(h, g, bt))
        if n == mb:  # a complete mini-batch commits the last row's weights
            new = []
            for Wi, bi, _, _ in per:
                new += [Wi[:, :, -1], bi[:, :, -1:]]
            ws = new
        else:  # a trailing partial one leaves its gradient sums Σ_j η_j ∇ℓ_j
            sums = []
            for _, _, sW, sb in per:
                sums += [sW, sb]
    Z = torch.cat(outs, dim=2).permute(0, 2, 1, 3)
    return Z, ws, sums


def make_inputs(B, L, H, f, mb, mlp, dtype, seed=0, grad=True):
    gen = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0, shift=0.0):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale + shift).to(dtype)
    Fh = 4 * f if mlp else f
    ts = [r(B, L, H, f), r(B, L, H, f), r(B, L, H, f),
          (torch.rand(B, L, H, generator=gen, dtype=torch.float64) * 0.8 / f ** 0.5 + 0.05).to(dtype),
          (1.0 / torch.arange(1, mb + 1, dtype=torch.float64) + 0.05 * torch.randn(mb, generator=gen,
                                                                                  dtype=torch.float64)).to(dtype),
          r(H, f, scale=0.2, shift=1.0), r(H, f, scale=0.2),
          r(H, f, Fh, scale=0.5 / f ** 0.5), r(H, Fh, scale=0.1)]
    if mlp:
        ts += [r(H, Fh, f, scale=0.5 / Fh ** 0.5), r(H, f, scale=0.1)]
    if grad:
        ts = [t.requires_grad_() for t in ts]
    return ts


def run_c(mb, ts, return_state=False):
    fn = tt.ttt_mlp if len(ts) == 11 else tt.ttt_linear
    return fn(*ts, mini_batch_size=mb, return_state=return_state)


class TestGradcheck(unittest.TestCase):
    """gradcheck in float64: the analytic backward of the library against finite differences"""

    def check(self, mlp, B, L, H, f, mb):
        ts = make_inputs(B, L, H, f, mb, mlp, torch.float64, seed=1)
        fn = (lambda *a: tt.TTTMLPFunction.apply(mb, False, *a)) if mlp else \
            (lambda *a: tt.TTTLinearFunction.apply(mb, False, *a))
        self.assertTrue(torch.autograd.gradcheck(fn, ts, eps=1e-6, atol=1e-7, rtol=1e-5))

    def test_linear(self):  # 3 mini-batches, the last one partial
        self.check(False, 2, 10, 2, 4, 4)

    def test_mlp(self):
        self.check(True, 2, 7, 2, 4, 3)

    def test_linear_wide(self):  # mini-batch 20 > 16: the wide kernels
        self.check(False, 1, 23, 1, 4, 20)


class TestReference(unittest.TestCase):
    """float32 through the fused kernels against the float64 primal-form reference"""

    # worst |C − ref| / max(1, max|ref|) measured on these cases: Z, state 3.3e-7, gradients
    # 6.3e-7 (float32 rounding); allowed about 15×
    TOL_Z, TOL_STATE, TOL_GRAD = 5e-6, 5e-6, 1e-5

    def check(self, mlp, B, L, H, f, mb):
        ts32 = make_inputs(B, L, H, f, mb, mlp, torch.float32, seed=2)
        ts64 = [t.detach().double().requires_grad_() for t in ts32]
        Z, st = run_c(mb, ts32, return_state=True)
        Zr, wsr, sumsr = ref_inner(mb, *ts64)
        worst("Z", Z, Zr, self.TOL_Z)
        names = ["W1", "b1", "W2", "b2"] if mlp else ["W1", "b1"]
        for i, n in enumerate(names):
            worst(n + "_states", st[n + "_states"], wsr[i].reshape(st[n + "_states"].shape), self.TOL_STATE)
            if sumsr is not None:
                worst(n + "_grad", st[n + "_grad"], sumsr[i].reshape(st[n + "_grad"].shape), self.TOL_STATE)
            else:
                self.assertEqual(st[n + "_grad"].abs().max().item(), 0.0)
        dZ = torch.randn(Z.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
        (Z * dZ.float()).sum().backward()
        (Zr * dZ).sum().backward()
        in_names = ["XQ", "XK", "XV", "eta", "token_scale", "ln_weight", "ln_bias"] + names
        for n, a, r in zip(in_names, ts32, ts64):
            worst("d" + n, a.grad, r.grad, self.TOL_GRAD)

    def test_linear(self):  # b = 16 (the papers' models), 3 mini-batches, the last partial
        self.check(False, 2, 37, 3, 16, 16)

    def test_linear_b8(self):  # whole mini-batches only
        self.check(False, 1, 32, 2, 8, 8)

    def test_mlp(self):
        self.check(True, 2, 21, 2, 8, 8)


class TestErrors(unittest.TestCase):
    def test_dtype_device_shape(self):
        ts = make_inputs(1, 4, 1, 4, 4, False, torch.float32, grad=False)
        with self.assertRaisesRegex(TypeError, "bfloat16"):
            run_c(4, [t.bfloat16() for t in ts])
        with self.assertRaisesRegex(TypeError, "XK has dtype torch.float64 but XQ has torch.float32"):
            run_c(4, [ts[0], ts[1].double()] + ts[2:])
        with self.assertRaisesRegex(ValueError, r"eta has shape \(1, 4\), expected \(1, 4, 1\)"):
            run_c(4, ts[:3] + [ts[3][..., 0]] + ts[4:])
        with self.assertRaisesRegex(ValueError, r"token_scale has shape \(4,\), expected \(8,\)"):
            run_c(8, ts)

    def test_c_validation(self):
        """the C API refuses bad shapes itself (TTTError with ttt_last_error())"""
        lib = ttt.lib
        s = tt._Shape(1, 4, 1, 0, 4, 0, 1)
        ins = tt._Inputs()
        st = lib.ttt_inner_forward_f32(ctypes.byref(s), ctypes.byref(ins), None, None, None, None, 0)
        with self.assertRaisesRegex(ttt.TTTError, r"head_dim = 0, expected 1\.\.4096"):
            ttt.check(st)
        s = tt._Shape(1 << 40, 1 << 40, 1, 4, 4, 0, 1)
        self.assertEqual(lib.ttt_inner_saved_elems(ctypes.byref(s)), -1)
        with self.assertRaisesRegex(ttt.TTTError, "too large"):
            ttt.check(4)
        s = tt._Shape(1, 4, 1, 4, 4, 0, 1)
        st = lib.ttt_inner_forward_f32(ctypes.byref(s), ctypes.byref(ins), None, None, None, None, 0)
        with self.assertRaisesRegex(ttt.TTTError, "input xq is NULL"):
            ttt.check(st)
        ts = make_inputs(1, 4, 1, 4, 4, False, torch.float32, grad=False)
        ins = tt._inputs_struct(ts)
        z = torch.empty(1, 4, 1, 4)
        st = lib.ttt_inner_forward_f32(ctypes.byref(s), ctypes.byref(ins), ctypes.c_void_p(z.data_ptr()), None, None,
                                       ctypes.c_void_p(z.data_ptr()), 3)
        with self.assertRaisesRegex(ttt.TTTError, "saved has 3 elements, expected"):
            ttt.check(st)
        s.mlp = 1
        st = lib.ttt_inner_forward_f32(ctypes.byref(s), ctypes.byref(ins), ctypes.c_void_p(z.data_ptr()), None, None,
                                       None, 0)
        with self.assertRaisesRegex(ttt.TTTError, "TTT-MLP needs W2"):
            ttt.check(st)


# ------------------------------------------------------------------------------------------------
# the modules against the authors' ttt.py

def load_authors():
    path = os.environ.get("TTT_PY")
    if not path:
        raise unittest.SkipTest("set TTT_PY=/path/to/ttt.py (git clone test-time-training/ttt-lm-pytorch; "
                                "checkout cd831db) to compare with the authors' TTTLinear/TTTMLP")
    if not os.path.isfile(path):
        raise unittest.SkipTest("TTT_PY=%s: no such file" % path)
    sys.path.insert(0, os.path.join(REPO, "bench", "official", "stubs"))
    import warnings
    warnings.filterwarnings("ignore")
    spec = importlib.util.spec_from_file_location("ttt_authors", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


CFG = dict(hidden_size=32, num_attention_heads=4, mini_batch_size=4, ttt_base_lr=1.0, share_qk=True,
           use_gate=True, conv_kernel=4, rope_theta=10000.0)


class TestModules(unittest.TestCase):
    def test_state_dict_names(self):
        """ours on its own: the Mamba-backbone parameter names and shapes of ttt.py's layer"""
        m = tt.TTTLinear(**CFG)
        sd = m.state_dict()
        want = {"learnable_token_idx": (4,), "q_proj.weight": (32, 32), "v_proj.weight": (32, 32),
                "o_proj.weight": (32, 32), "conv_q.weight": (32, 1, 4), "conv_q.bias": (32,),
                "conv_k.weight": (32, 1, 4), "conv_k.bias": (32,), "learnable_ttt_lr_weight": (4, 1, 32),
                "learnable_ttt_lr_bias": (4, 1), "ttt_norm_weight": (4, 8), "ttt_norm_bias": (4, 8),
                "g_proj.weight": (32, 32), "post_norm.weight": (32,), "post_norm.bias": (32,),
                "W1": (4, 8, 8), "b1": (4, 1, 8)}
        self.assertEqual({k: tuple(v.shape) for k, v in sd.items()}, want)
        m2 = tt.TTTMLP(**dict(CFG, share_qk=False, use_gate=False))
        sd2 = {k: tuple(v.shape) for k, v in m2.state_dict().items()}
        self.assertEqual(sd2["W1"], (4, 8, 32))
        self.assertEqual(sd2["W2"], (4, 32, 8))
        self.assertIn("k_proj.weight", sd2)
        self.assertNotIn("conv_q.weight", sd2)
        self.assertNotIn("g_proj.weight", sd2)

    def compare(self, kind, dtype, tol_out, tol_grad, **over):
        mod = load_authors()
        cfgd = dict(CFG, **over)
        cfg = mod.TTTConfig(ttt_layer_type=kind, num_hidden_layers=1, vocab_size=16, intermediate_size=64, **cfgd)
        theirs = (mod.TTTMLP if kind == "mlp" else mod.TTTLinear)(cfg, layer_idx=0)
        ours = (tt.TTTMLP if kind == "mlp" else tt.TTTLinear)(cfg)
        # non-trivial values for the parameters initialised to constants
        with torch.no_grad():
            g = torch.Generator().manual_seed(4)
            for n, p in theirs.named_parameters():
                if n in ("b1", "b2", "learnable_ttt_lr_bias", "ttt_norm_bias", "post_norm.bias", "learnable_token_idx"):
                    p.copy_(0.05 * torch.randn(p.shape, generator=g))
                elif n in ("ttt_norm_weight", "post_norm.weight"):
                    p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
        ours.load_state_dict(theirs.state_dict(), strict=True)      # theirs -> ours
        theirs2 = (mod.TTTMLP if kind == "mlp" else mod.TTTLinear)(cfg, layer_idx=0)
        theirs2.load_state_dict(ours.state_dict(), strict=True)     # ours -> theirs
        for (n1, a), (n2, b) in zip(theirs.state_dict().items(), theirs2.state_dict().items()):
            self.assertTrue(torch.equal(a, b), n1)
        theirs, ours = theirs.to(dtype), ours.to(dtype)
        B, L = 2, 11  # two mini-batches of 4 and a remainder of 3
        x = torch.randn(B, L, cfgd["hidden_size"], generator=torch.Generator().manual_seed(5), dtype=dtype)
        pos = torch.arange(L)[None].expand(B, L)
        y_t = theirs(x, position_ids=pos)
        y_o = ours(x, position_ids=pos)
        worst("%s %s output" % (kind, dtype), y_o, y_t, tol_out)
        w = torch.randn(y_t.shape, generator=torch.Generator().manual_seed(6), dtype=dtype)
        (y_t * w).sum().backward()
        (y_o * w).sum().backward()
        gt = dict(theirs.named_parameters())
        for n, p in ours.named_parameters():
            worst("%s %s d%s" % (kind, dtype, n), p.grad, gt[n].grad, tol_grad)

    def test_linear_f64(self):
        self.compare("linear", torch.float64, 1e-11, 1e-9)

    def test_linear_f32(self):
        self.compare("linear", torch.float32, 2e-5, 2e-4)

    def test_mlp_f64(self):  # the inner gelu' is ttt.py's rounded constants in both: same to 1e-9
        self.compare("mlp", torch.float64, 1e-9, 1e-7)

    def test_linear_no_share_qk_f64(self):
        self.compare("linear", torch.float64, 1e-11, 1e-9, share_qk=False, use_gate=False)


# ------------------------------------------------------------------------------------------------
# the golden TTT cases through a language model assembled in PyTorch around our layers

GOLD = os.path.join(REPO, "tests", "fixtures", "golden")


def st_read(path):
    """{name: numpy array} of a safetensors file (written here: 8-byte header length, JSON, data)"""
    import json
    import struct
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    hdr = json.loads(raw[8:8 + n])
    dt = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}
    out = {}
    for k, v in hdr.items():
        if k != "__metadata__":
            a, b = v["data_offsets"]
            out[k] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt[v["dtype"]]).reshape(v["shape"])
    return out


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight, self.eps = torch.nn.Parameter(torch.ones(d)), eps

    def forward(self, x):  # w · x / sqrt(mean(x²) + eps)
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


class PreConv(torch.nn.Module):  # RMSNorm then a causal depthwise convolution over time
    def __init__(self, c):
        super().__init__()
        d, k = c["hidden_size"], c["conv_kernel"]
        self.norm = RMSNorm(d, c["rms_norm_eps"])
        self.conv = torch.nn.Conv1d(d, d, k, groups=d, padding=k - 1, bias=True)

    def forward(self, x):
        return self.conv(self.norm(x).transpose(1, 2))[..., :x.shape[1]].transpose(1, 2)


class SwiGLU(torch.nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.gate_proj = torch.nn.Linear(d, h, bias=False)
        self.up_proj = torch.nn.Linear(d, h, bias=False)
        self.down_proj = torch.nn.Linear(h, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.pre_conv = bool(c["pre_conv"])
        if self.pre_conv:
            self.conv = PreConv(c)
        self.seq_norm = RMSNorm(d, c["rms_norm_eps"])
        self.seq_modeling_block = (tt.TTTMLP if c["ttt_layer_type"] == "mlp" else tt.TTTLinear)(c)
        self.ffn_norm = RMSNorm(d, c["rms_norm_eps"])
        self.mlp = SwiGLU(d, c["intermediate_size"])

    def forward(self, x):
        if self.pre_conv:
            x = x + self.conv(x)
        x = x + self.seq_modeling_block(self.seq_norm(x))
        return x + self.mlp(self.ffn_norm(x))


class TinyLM(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = torch.nn.Module()
        self.model.embed_tokens = torch.nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.model.layers = torch.nn.ModuleList([Block(c) for _ in range(c["num_hidden_layers"])])
        self.model.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.tied = bool(c.get("tie_word_embeddings", True))
        if not self.tied:
            self.lm_head = torch.nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def forward(self, ids):
        h = self.model.embed_tokens(ids)
        for blk in self.model.layers:
            h = blk(h)
        h = self.model.norm(h)
        return h @ self.model.embed_tokens.weight.t() if self.tied else self.lm_head(h)


class TestGoldenModel(unittest.TestCase):
    """a TinyLM of our TTTLinear/TTTMLP modules (everything else plain PyTorch, written here)
    loads a golden case's model.safetensors by name and gives its logits, loss and every
    parameter gradient at the golden README's tolerances (float32: logits 5e-5, gradients 1e-4
    of the tensor's largest element, loss 1e-5; the float64 case 1e-6 relative throughout)"""

    def check(self, name):
        import json
        d = os.path.join(GOLD, name)
        if not os.path.exists(os.path.join(d, "expected.safetensors")):
            self.skipTest("%s absent" % d)
        with open(os.path.join(d, "config.json")) as f:
            c = json.load(f)
        f64 = name.endswith("_f64")
        dtype = torch.float64 if f64 else torch.float32
        m = TinyLM(c)
        sd = {k: torch.from_numpy(v.copy()) for k, v in st_read(os.path.join(d, "model.safetensors")).items()}
        m.load_state_dict(sd, strict=True)
        m = m.to(dtype)
        e = st_read(os.path.join(d, "expected.safetensors"))
        ids = torch.from_numpy(e["input_ids"].astype(np.int64))
        logits = m(ids)
        tl, tg, tls = (1e-6, 1e-6, 1e-6 * abs(float(e["loss"]))) if f64 else (5e-5, 1e-4, 1e-5)
        ref = torch.from_numpy(e["logits"].copy())
        rel = (logits.detach().double() - ref.double()).abs().max().item() / ref.abs().max().item()
        self.assertLessEqual(rel, tl, "%s logits: max rel diff %.3g" % (name, rel))
        V = logits.shape[-1]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V).double(), ids[:, 1:].reshape(-1))
        self.assertLessEqual(abs(loss.item() - float(e["loss"])), tls, (name, loss.item(), float(e["loss"])))
        loss.backward()
        n = 0
        for k, p in m.named_parameters():
            ref = torch.from_numpy(e["grad." + k].copy()).double()
            r = (p.grad.double() - ref).abs().max().item() / max(ref.abs().max().item(), 1e-30)
            self.assertLessEqual(r, tg, "%s grad.%s: max rel diff %.3g" % (name, k, r))
            n += 1
        self.assertEqual(n, len([k for k in e if k.startswith("grad.")]))

    def test_linear_mamba(self):
        self.check("linear_mamba")

    def test_mlp_mamba(self):
        self.check("mlp_mamba")

    def test_linear_tfbackbone(self):
        self.check("linear_tfbackbone")

    def test_mlp_tfbackbone(self):
        self.check("mlp_tfbackbone")

    def test_linear_mamba_f64(self):
        self.check("linear_mamba_f64")


class TestExample(unittest.TestCase):
    def test_torch_ttt_layer_example(self):
        """examples/python/torch_ttt_layer.py runs (3 optimizer steps) with finite losses"""
        spec = importlib.util.spec_from_file_location("torch_ttt_layer", os.path.join(REPO, "examples", "python",
                                                                                     "torch_ttt_layer.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        first, last = mod.main(["--steps", "3", "--threads", "1"])
        self.assertTrue(math.isfinite(first) and math.isfinite(last))
        self.assertLess(abs(first - math.log(16)), 1.0)  # starts near chance


if __name__ == "__main__":
    unittest.main()
