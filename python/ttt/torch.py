"""ttt.torch: libttt's fused TTT inner loop as a differentiable PyTorch operation, and the TTT
layers of the authors' ttt.py (test-time-training/ttt-lm-pytorch) built on it.

  TTTLinearFunction / TTTMLPFunction   torch.autograd.Function over ttt_inner_forward_f32/_f64
                                       and ttt_inner_backward_f32/_f64 (include/ttt_inner_loop.h)
  ttt_linear(...), ttt_mlp(...)        the same, as functions (with optional final state)
  TTTLinear / TTTMLP                   nn.Modules with the parameters and names of ttt.py's
                                       TTTLinear / TTTMLP, so a state dict moves between them

The cut (per sequence b, head h, with mini-batches of `mini_batch_size` tokens):

  XQ, XK, XV   [B, L, H, f]   queries/keys/values after the projections, convolutions and RoPE
  eta          [B, L, H]      per-token inner learning rate  η = base_lr·sigmoid(x θ_h + β_h)/f
  token_scale  [b]            τ_i = max(0, 1/(i+1) + λ_i)
  ln_weight, ln_bias [H, f]   the inner LayerNorm
  W1 [H, f, F], b1 [H, F] (or [H, 1, F] as in ttt.py), and for TTT-MLP W2 [H, F, f], b2 [H, f]
  -> Z [B, L, H, f]:  z_i = q_i + LN(f(q_i; W − τ_i Σ_{j<=i} η_j ∇ℓ_j(W))) within a mini-batch,
     ℓ_j(W) = ½‖LN(f(k_j; W)) − (v_j − k_j)‖², W carried across mini-batches.

CPU tensors of float32 (the fused kernels) or float64 (the library's float64 reference path,
used by torch.autograd.gradcheck); other dtypes and devices are refused with a TypeError /
ValueError naming the tensor. The library releases the GIL during its calls (ctypes) and uses
torch.get_num_threads() threads.
"""
import ctypes
import threading

import torch
import torch.nn.functional as F
from torch import nn

from ._lib import TTTError, check, lib

__all__ = ["TTTLinearFunction", "TTTMLPFunction", "ttt_linear", "ttt_mlp", "TTTLinear", "TTTMLP",
           "TTTError"]

# ------------------------------------------------------------------------------------------------
# the C API (include/ttt_inner_loop.h)

_P = ctypes.c_void_p


class _Shape(ctypes.Structure):
    _fields_ = [("batch", ctypes.c_int64), ("seq_len", ctypes.c_int64), ("heads", ctypes.c_int64),
                ("head_dim", ctypes.c_int64), ("mini_batch", ctypes.c_int64), ("mlp", ctypes.c_int),
                ("threads", ctypes.c_int)]


_IN_NAMES = ["xq", "xk", "xv", "eta", "token_scale", "ln_weight", "ln_bias", "W1", "b1", "W2", "b2"]


class _Inputs(ctypes.Structure):
    _fields_ = [(n, _P) for n in _IN_NAMES]


class _Grads(ctypes.Structure):
    _fields_ = [("d" + n, _P) for n in _IN_NAMES]


for _n in ("ttt_inner_state_elems", "ttt_inner_saved_elems"):
    getattr(lib, _n).argtypes = [ctypes.POINTER(_Shape)]
    getattr(lib, _n).restype = ctypes.c_int64
for _sfx in ("f32", "f64"):
    _f = getattr(lib, "ttt_inner_forward_" + _sfx)
    _f.argtypes = [ctypes.POINTER(_Shape), ctypes.POINTER(_Inputs), _P, _P, _P, _P, ctypes.c_int64]
    _f.restype = ctypes.c_int
    _f = getattr(lib, "ttt_inner_backward_" + _sfx)
    _f.argtypes = [ctypes.POINTER(_Shape), ctypes.POINTER(_Inputs), _P, _P, ctypes.c_int64,
                   ctypes.POINTER(_Grads)]
    _f.restype = ctypes.c_int

_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


def _ptr(t):
    return None if t is None else ctypes.c_void_p(t.data_ptr())


def _check_tensors(names, tensors):
    """One dtype (float32 or float64), CPU, for every tensor given."""
    dtype = None
    for n, t in zip(names, tensors):
        if t is None:
            continue
        if not isinstance(t, torch.Tensor):
            raise TypeError("ttt.torch: %s must be a torch.Tensor, got %s" % (n, type(t).__name__))
        if t.device.type != "cpu":
            raise ValueError("ttt.torch: %s is on %s; the libttt kernels run on the CPU (move it with .cpu())"
                             % (n, t.device))
        if t.dtype not in _SUFFIX:
            hint = (" (the fused kernels have no bfloat16 inner loop; use .float())"
                    if t.dtype == torch.bfloat16 else "")
            raise TypeError("ttt.torch: %s has dtype %s; expected torch.float32 or torch.float64%s"
                            % (n, t.dtype, hint))
        if dtype is None:
            dtype = t.dtype
        elif t.dtype != dtype:
            raise TypeError("ttt.torch: %s has dtype %s but XQ has %s; all inputs must share one dtype"
                            % (n, t.dtype, dtype))
    return dtype


def _expect(name, t, shape):
    if tuple(t.shape) != tuple(shape):
        raise ValueError("ttt.torch: %s has shape %s, expected %s" % (name, tuple(t.shape), tuple(shape)))


def _prepare(mlp, mini_batch_size, XQ, XK, XV, eta, token_scale, ln_weight, ln_bias, W1, b1, W2, b2):
    """Validate shapes (Python side, with clear messages), make every tensor contiguous and
    return (shape struct, tensors in C order, hidden width F)."""
    names = ["XQ", "XK", "XV", "eta", "token_scale", "ln_weight", "ln_bias", "W1", "b1"] + (["W2", "b2"] if mlp else [])
    ts = [XQ, XK, XV, eta, token_scale, ln_weight, ln_bias, W1, b1] + ([W2, b2] if mlp else [])
    _check_tensors(names, ts)
    if XQ.dim() != 4:
        raise ValueError("ttt.torch: XQ has shape %s, expected [batch, seq_len, heads, head_dim]" % (tuple(XQ.shape),))
    B, L, H, f = XQ.shape
    Fh = 4 * f if mlp else f
    b = int(mini_batch_size)
    if b < 1:
        raise ValueError("ttt.torch: mini_batch_size = %d, expected >= 1" % b)
    _expect("XK", XK, (B, L, H, f))
    _expect("XV", XV, (B, L, H, f))
    _expect("eta", eta, (B, L, H))
    _expect("token_scale", token_scale, (b,))
    _expect("ln_weight", ln_weight, (H, f))
    _expect("ln_bias", ln_bias, (H, f))
    _expect("W1", W1, (H, f, Fh))
    if tuple(b1.shape) not in ((H, Fh), (H, 1, Fh)):
        raise ValueError("ttt.torch: b1 has shape %s, expected %s or %s" % (tuple(b1.shape), (H, Fh), (H, 1, Fh)))
    if mlp:
        _expect("W2", W2, (H, Fh, f))
        if tuple(b2.shape) not in ((H, f), (H, 1, f)):
            raise ValueError("ttt.torch: b2 has shape %s, expected %s or %s" % (tuple(b2.shape), (H, f), (H, 1, f)))
    shape = _Shape(B, L, H, f, b, 1 if mlp else 0, max(1, torch.get_num_threads()))
    return shape, [t.contiguous() for t in ts]


class _SavedPool:
    """Buffers for the forward's saved intermediates, reused across steps: a fresh buffer of
    tens of MB costs its first touch on every call (page faults, about a third of a second for
    one 125M-width layer at L = 2048), so a buffer the backward is done with is kept (up to
    `cap_bytes` in all) and handed to the next forward of the same size and dtype."""

    def __init__(self, cap_bytes=1 << 30):
        self.cap, self.free, self.bytes = cap_bytes, {}, 0

    def take(self, n, dtype):
        lst = self.free.get((n, dtype))
        if lst:
            t = lst.pop()
            self.bytes -= t.numel() * t.element_size()
            return t
        return torch.empty((n,), dtype=dtype)

    def give(self, t):
        nb = t.numel() * t.element_size()
        if self.bytes + nb <= self.cap:
            self.free.setdefault((t.numel(), t.dtype), []).append(t)
            self.bytes += nb

    def clear(self):
        self.free, self.bytes = {}, 0


saved_pool = _SavedPool()


def _inputs_struct(ts):
    vals = [_ptr(t) for t in ts] + [None] * (11 - len(ts))
    return _Inputs(*vals)


def _forward(mlp, mini_batch_size, want_state, want_saved, *args):
    shape, ts = _prepare(mlp, mini_batch_size, *args)
    sfx = _SUFFIX[ts[0].dtype]
    B, L, H, f = (shape.batch, shape.seq_len, shape.heads, shape.head_dim)
    Z = torch.empty((B, L, H, f), dtype=ts[0].dtype)
    state = sums = saved = None
    if want_state:
        S = lib.ttt_inner_state_elems(ctypes.byref(shape))
        if S < 0:
            check(4, "ttt_inner_state_elems")
        state = torch.empty((B, H, S), dtype=ts[0].dtype)
        sums = torch.empty((B, H, S), dtype=ts[0].dtype)
    nsaved = 0
    if want_saved:
        nsaved = lib.ttt_inner_saved_elems(ctypes.byref(shape))
        if nsaved < 0:
            check(4, "ttt_inner_saved_elems")
        saved = saved_pool.take(nsaved, ts[0].dtype)
    ins = _inputs_struct(ts)
    check(getattr(lib, "ttt_inner_forward_" + sfx)(ctypes.byref(shape), ctypes.byref(ins), _ptr(Z), _ptr(state),
                                                     _ptr(sums), _ptr(saved), nsaved),
          "ttt_inner_forward_" + sfx)
    return shape, ts, Z, state, sums, saved


def _unpack_state(mlp, state, f):
    """[B, H, S] packed states -> (W1 [B,H,f,F], b1 [B,H,1,F][, W2 [B,H,F,f], b2 [B,H,1,f]]) views."""
    B, H, _ = state.shape
    Fh = 4 * f if mlp else f
    o, out = 0, []
    for shp in ([(f, Fh), (1, Fh), (Fh, f), (1, f)] if mlp else [(f, Fh), (1, Fh)]):
        n = shp[0] * shp[1]
        out.append(state[:, :, o:o + n].reshape(B, H, *shp))
        o += n
    return tuple(out)


_grad_mode = threading.local()


def _apply(fn, *args):
    _grad_mode.enabled = torch.is_grad_enabled()
    try:
        return fn.apply(*args)
    finally:
        _grad_mode.enabled = True


class _InnerFunction(torch.autograd.Function):
    """Shared forward/backward; subclasses fix `mlp`. Inputs after (mini_batch_size,
    return_state): XQ, XK, XV, eta, token_scale, ln_weight, ln_bias, W1, b1[, W2, b2]."""
    mlp = 0

    @staticmethod
    def _run_forward(ctx, mlp, mini_batch_size, return_state, *args):
        # ctx.needs_input_grad is set under torch.no_grad() too: the wrappers below record the
        # grad mode of the caller (inside forward it is always off), so inference keeps no cache
        need_grad = any(ctx.needs_input_grad[2:]) and getattr(_grad_mode, "enabled", True)
        shape, ts, Z, state, sums, saved = _forward(mlp, mini_batch_size, return_state, need_grad, *args)
        ctx.mlp, ctx.shape_ = mlp, shape
        ctx.in_shapes = [tuple(a.shape) for a in args if a is not None]
        ctx.saved_buf = saved
        if need_grad:
            ctx.save_for_backward(*ts)
        if not return_state:
            return Z
        ctx.mark_non_differentiable(state, sums)
        return (Z, state, sums)

    @staticmethod
    def _run_backward(ctx, dZ):
        ts = ctx.saved_tensors
        shape = ctx.shape_
        sfx = _SUFFIX[ts[0].dtype]
        dZ = dZ.to(ts[0].dtype).contiguous()
        need = ctx.needs_input_grad[2:]
        grads = [torch.empty(t.shape, dtype=t.dtype) if need[i] else None for i, t in enumerate(ts)]
        ins = _inputs_struct(ts)
        g = _Grads(*([_ptr(x) for x in grads] + [None] * (11 - len(grads))))
        saved = ctx.saved_buf
        nsaved = saved.numel() if saved is not None else 0
        check(getattr(lib, "ttt_inner_backward_" + sfx)(ctypes.byref(shape), ctypes.byref(ins), _ptr(dZ),
                                                          _ptr(saved), nsaved, ctypes.byref(g)),
              "ttt_inner_backward_" + sfx)
        ctx.saved_buf = None
        if saved is not None:
            saved_pool.give(saved)
        out = [None if x is None else x.reshape(s) for x, s in zip(grads, ctx.in_shapes)]
        return (None, None) + tuple(out)


class TTTLinearFunction(_InnerFunction):
    """TTTLinearFunction.apply(mini_batch_size, return_state, XQ, XK, XV, eta, token_scale,
    ln_weight, ln_bias, W1, b1) -> Z [B, L, H, f], or with return_state (Z, state, sums): the
    packed inner states [B, H, f·f + f] after the last complete mini-batch and the gradient
    sums of a trailing partial one (not differentiable). See the module docstring for shapes."""

    @staticmethod
    def forward(ctx, mini_batch_size, return_state, XQ, XK, XV, eta, token_scale, ln_weight, ln_bias, W1, b1):
        return _InnerFunction._run_forward(ctx, 0, mini_batch_size, return_state, XQ, XK, XV, eta, token_scale,
                                           ln_weight, ln_bias, W1, b1, None, None)

    @staticmethod
    def backward(ctx, dZ, *unused):
        return _InnerFunction._run_backward(ctx, dZ)


class TTTMLPFunction(_InnerFunction):
    """TTTMLPFunction.apply(mini_batch_size, return_state, XQ, XK, XV, eta, token_scale, ln_weight,
    ln_bias, W1, b1, W2, b2) -> Z (or (Z, state, sums)), as TTTLinearFunction with the inner
    model gelu_tanh(x W1 + b1) W2 + b2 (hidden width F = 4·head_dim)."""

    @staticmethod
    def forward(ctx, mini_batch_size, return_state, XQ, XK, XV, eta, token_scale, ln_weight, ln_bias, W1, b1,
                W2, b2):
        return _InnerFunction._run_forward(ctx, 1, mini_batch_size, return_state, XQ, XK, XV, eta, token_scale,
                                           ln_weight, ln_bias, W1, b1, W2, b2)

    @staticmethod
    def backward(ctx, dZ, *unused):
        return _InnerFunction._run_backward(ctx, dZ)


def ttt_linear(XQ, XK, XV, eta, token_scale, ln_weight, ln_bias, W1, b1, mini_batch_size=16, return_state=False):
    """Z = the TTT-Linear inner loop (differentiable). return_state: also the final inner state as
    a dict {"W1_states", "b1_states", "W1_grad", "b1_grad"} of [B, H, ...] tensors (ttt.py's names)."""
    r = _apply(TTTLinearFunction, int(mini_batch_size), bool(return_state), XQ, XK, XV, eta, token_scale,
                                ln_weight, ln_bias, W1, b1)
    return _with_state(0, r, XQ.shape[-1]) if return_state else r


def ttt_mlp(XQ, XK, XV, eta, token_scale, ln_weight, ln_bias, W1, b1, W2, b2, mini_batch_size=16,
            return_state=False):
    """Z = the TTT-MLP inner loop (differentiable); return_state as ttt_linear (W1, b1, W2, b2)."""
    r = _apply(TTTMLPFunction, int(mini_batch_size), bool(return_state), XQ, XK, XV, eta, token_scale,
                             ln_weight, ln_bias, W1, b1, W2, b2)
    return _with_state(1, r, XQ.shape[-1]) if return_state else r


def _with_state(mlp, r, f):
    Z, state, sums = r
    names = ["W1", "b1", "W2", "b2"] if mlp else ["W1", "b1"]
    d = {}
    for n, s, g in zip(names, _unpack_state(mlp, state, f), _unpack_state(mlp, sums, f)):
        d[n + "_states"] = s
        d[n + "_grad"] = g
    return Z, d


# ------------------------------------------------------------------------------------------------
# the layers (ttt.py's TTTBase.forward without a cache)

class _Cfg:
    """The configuration fields a TTT layer reads, from keywords or any object carrying ttt.py's
    TTTConfig attribute names (TTTConfig itself, a config.json read into a namespace, ...)."""
    FIELDS = {"hidden_size": None, "num_attention_heads": None, "mini_batch_size": 16, "ttt_base_lr": 1.0,
              "share_qk": False, "use_gate": False, "conv_kernel": 4, "rope_theta": 10000.0}

    def __init__(self, config=None, **kw):
        for k, dflt in self.FIELDS.items():
            if k in kw:
                v = kw.pop(k)
            elif config is not None and (isinstance(config, dict) and k in config):
                v = config[k]
            elif config is not None and not isinstance(config, dict) and hasattr(config, k):
                v = getattr(config, k)
            else:
                v = dflt
            if v is None:
                raise ValueError("ttt.torch: the TTT layer needs %s" % k)
            setattr(self, k, v)
        if kw:
            raise TypeError("ttt.torch: unknown option(s) %s; known: %s" % (", ".join(sorted(kw)),
                                                                             ", ".join(self.FIELDS)))
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("ttt.torch: hidden_size %d is not a multiple of num_attention_heads %d"
                             % (self.hidden_size, self.num_attention_heads))
        if (self.hidden_size // self.num_attention_heads) % 2:
            raise ValueError("ttt.torch: the head dim %d must be even (RoPE rotates pairs)"
                             % (self.hidden_size // self.num_attention_heads))


class _TTTBase(nn.Module):
    """The TTT layer of one block (ttt.py's seq_modeling_block): Q/K/V projections (with the
    Mamba backbone's shared Q/K projection and two causal depthwise convolutions when
    share_qk), RoPE at position p mod b, the learnable per-head lr gate and token scale, the
    inner loop in libttt, post_norm, the gelu gate (use_gate) and o_proj. Parameter names and
    shapes are those of ttt.py's TTTLinear / TTTMLP."""
    mlp = 0

    def __init__(self, config=None, layer_idx=None, **kw):
        super().__init__()
        c = _Cfg(config, **kw)
        self.config, self.layer_idx = c, layer_idx
        self.width = self.hidden_size = c.hidden_size
        self.num_heads = c.num_attention_heads
        self.head_dim = self.width // self.num_heads
        self.mini_batch_size = int(c.mini_batch_size)
        self.share_qk, self.use_gate, self.conv_kernel = bool(c.share_qk), bool(c.use_gate), int(c.conv_kernel)
        D, H, f, b = self.width, self.num_heads, self.head_dim, self.mini_batch_size
        # τ_i = max(0, 1/(i+1) + λ_i): the base (not saved) and the learnable offset λ
        self.register_buffer("token_idx", 1.0 / torch.arange(1, b + 1), persistent=False)
        self.learnable_token_idx = nn.Parameter(torch.zeros(b))
        self.q_proj = nn.Linear(D, D, bias=False)
        if not self.share_qk:
            self.k_proj = nn.Linear(D, D, bias=False)
        self.v_proj = nn.Linear(D, D, bias=False)
        self.o_proj = nn.Linear(D, D, bias=False)
        if self.share_qk:
            K = self.conv_kernel
            self.conv_q = nn.Conv1d(D, D, K, groups=D, bias=True, padding=K - 1)
            self.conv_k = nn.Conv1d(D, D, K, groups=D, bias=True, padding=K - 1)
        # RoPE frequencies θ^(−2i/f) (not saved)
        self.register_buffer("inv_freq", 1.0 / (float(c.rope_theta) ** (torch.arange(0, f, 2).float() / f)),
                             persistent=False)
        # the lr gate η_{t,h} = base_lr · sigmoid(x_t·θ_h + β_h) / f:  θ [H, 1, D], β [H, 1]
        self.learnable_ttt_lr_weight = nn.Parameter(torch.normal(0.0, 0.02, size=(H, 1, D)))
        self.learnable_ttt_lr_bias = nn.Parameter(torch.zeros(H, 1))
        # the inner LayerNorm, per head
        self.ttt_norm_weight = nn.Parameter(torch.ones(H, f))
        self.ttt_norm_bias = nn.Parameter(torch.zeros(H, f))
        if self.use_gate:
            self.g_proj = nn.Linear(D, D, bias=False)
        self.post_norm = nn.LayerNorm(D, eps=1e-6)
        Fh = 4 * f if self.mlp else f
        self.W1 = nn.Parameter(torch.normal(0.0, 0.02, size=(H, f, Fh)))
        self.b1 = nn.Parameter(torch.zeros(H, 1, Fh))
        if self.mlp:
            self.W2 = nn.Parameter(torch.normal(0.0, 0.02, size=(H, Fh, f)))
            self.b2 = nn.Parameter(torch.zeros(H, 1, f))

    def _rope(self, x, pos):
        """interleaved pairs (x_2i, x_2i+1) rotated by angle (p mod b)·θ^(−2i/f):
        x'_2i = x_2i cos − x_2i+1 sin,  x'_2i+1 = x_2i+1 cos + x_2i sin.  x [B, L, H, f]"""
        # in float32 whatever the dtype, as ttt.py and the C layer (float cos/sin tables) do
        ang = (pos % self.mini_batch_size).float()[..., None] * self.inv_freq.float()  # [B or 1, L, f/2]
        cos, sin = ang.cos().to(x.dtype)[:, :, None, :], ang.sin().to(x.dtype)[:, :, None, :]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x0 * cos - x1 * sin, x1 * cos + x0 * sin), dim=-1).flatten(-2)

    def qkv(self, x):
        """XQ, XK, XV [B, L, H, f] (after the convolutions, before RoPE)"""
        B, L, D = x.shape
        if self.share_qk:
            u = self.q_proj(x).transpose(1, 2)
            XQ = self.conv_q(u)[..., :L].transpose(1, 2)
            XK = self.conv_k(u)[..., :L].transpose(1, 2)
        else:
            XQ, XK = self.q_proj(x), self.k_proj(x)
        XV = self.v_proj(x)
        shp = (B, L, self.num_heads, self.head_dim)
        return XQ.reshape(shp), XK.reshape(shp), XV.reshape(shp)

    def inner_inputs(self, x, position_ids=None):
        """The inputs of the inner loop: XQ, XK (with RoPE), XV [B, L, H, f], eta [B, L, H],
        token_scale [b]."""
        B, L, D = x.shape
        XQ, XK, XV = self.qkv(x)
        pos = position_ids if position_ids is not None else torch.arange(L, device=x.device)[None]
        XQ, XK = self._rope(XQ, pos), self._rope(XK, pos)
        gate = F.linear(x, self.learnable_ttt_lr_weight.reshape(self.num_heads, D),
                        self.learnable_ttt_lr_bias.reshape(self.num_heads))
        eta = float(self.config.ttt_base_lr) * torch.sigmoid(gate) / self.head_dim
        tau = torch.clamp_min(self.token_idx.to(x.dtype) + self.learnable_token_idx, 0.0)
        return XQ, XK, XV, eta, tau

    def inner(self, XQ, XK, XV, eta, tau):
        H = self.num_heads
        if self.mlp:
            return ttt_mlp(XQ, XK, XV, eta, tau, self.ttt_norm_weight, self.ttt_norm_bias, self.W1,
                           self.b1.reshape(H, -1), self.W2, self.b2.reshape(H, -1), self.mini_batch_size)
        return ttt_linear(XQ, XK, XV, eta, tau, self.ttt_norm_weight, self.ttt_norm_bias, self.W1,
                          self.b1.reshape(H, -1), self.mini_batch_size)

    def forward(self, hidden_states, attention_mask=None, position_ids=None, cache_params=None):
        """out [B, L, D] for hidden_states [B, L, D] (a fresh sequence; position_ids default to
        0..L-1). attention_mask is ignored, as in ttt.py; cache_params (decoding) is not supported."""
        if cache_params is not None:
            raise NotImplementedError("ttt.torch: cached decoding is not supported by the module; "
                                      "use ttt_linear/ttt_mlp(..., return_state=True) or ttt.Cache")
        if hidden_states.dim() != 3 or hidden_states.shape[-1] != self.width:
            raise ValueError("ttt.torch: hidden_states has shape %s, expected [batch, seq_len, %d]"
                             % (tuple(hidden_states.shape), self.width))
        B, L, D = hidden_states.shape
        Z = self.inner(*self.inner_inputs(hidden_states, position_ids)).reshape(B, L, D)
        Y = self.post_norm(Z)
        if self.use_gate:
            Y = F.gelu(self.g_proj(hidden_states), approximate="tanh") * Y
        return self.o_proj(Y)


class TTTLinear(_TTTBase):
    """TTT-Linear layer: TTTLinear(config) with ttt.py's TTTConfig (or any object or dict with
    hidden_size, num_attention_heads, mini_batch_size, ttt_base_lr, share_qk, use_gate,
    conv_kernel, rope_theta), or TTTLinear(hidden_size=..., num_attention_heads=..., ...).
    Parameters: learnable_token_idx, q_proj/[k_proj]/v_proj/o_proj, [conv_q, conv_k],
    learnable_ttt_lr_weight/bias, ttt_norm_weight/bias, [g_proj], post_norm, W1 [H,f,f], b1 [H,1,f]."""
    mlp = 0


class TTTMLP(_TTTBase):
    """TTT-MLP layer: as TTTLinear with W1 [H,f,4f], b1 [H,1,4f], W2 [H,4f,f], b2 [H,1,f]."""
    mlp = 1
