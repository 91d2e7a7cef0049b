"""model.py: ttt.Model (load, create, save, forward, loss, forward_backward, parameters,
generate) and ttt.Cache (recurrent decoding) over the C API of include/ttt.h.

Every C call goes through ctypes, which releases the GIL while the call runs; arrays passed to
the library are C-contiguous int32 / float32 buffers checked here first (a wrong dtype or shape
is refused, never reinterpreted)."""
import ctypes as C
import functools
import os
import threading

import numpy as np

from ._lib import ArgumentError, DTypeError, TTTError, check, lib
from . import _structs as S

_ARCH = {0: "ttt", 1: "llama", 2: "mamba"}
_INNER = {0: "linear", 1: "mlp"}
_ROPE = {0: "none", 1: "linear", 2: "dynamic", 3: "llama3"}
_DTYPES = {"f32": 0, "float32": 0, "f16": 1, "float16": 1, "bf16": 2, "bfloat16": 2, "f64": 3, "float64": 3}


def _config_dict(c):
    """The fields of a ttt_config as a plain dict (enums as their names)."""
    d = {}
    for name, _ in S.Config._fields_:
        v = getattr(c, name)
        if name == "tokenizer":
            v = v.decode("utf-8", "replace")
        elif name == "rope_scaling":
            v = {"type": _ROPE.get(v.type, v.type), "factor": v.factor, "low_freq_factor": v.low_freq_factor,
                 "high_freq_factor": v.high_freq_factor,
                 "original_max_position_embeddings": v.original_max_position_embeddings}
        elif name == "arch":
            v = _ARCH.get(v, v)
        elif name == "ttt_layer_type":
            v = _INNER.get(v, v)
        d[name] = v
    return d


def _inverse(table, value, field):
    for k, v in table.items():
        if v == value:
            return k
    if isinstance(value, int):
        return value
    raise ArgumentError("config field %s: unknown value %r (expected one of %s)" % (field, value, sorted(table.values())))


def _config_from_dict(d, base):
    """Apply the fields of dict d onto the ttt_config `base` (in place); unknown names raise."""
    names = {n for n, _ in S.Config._fields_}
    for k, v in d.items():
        if k not in names:
            raise TypeError("unknown config field %r (fields: %s)" % (k, ", ".join(sorted(names))))
        if k == "tokenizer":
            b = str(v).encode()
            if len(b) >= 64:
                raise ArgumentError("config field tokenizer: at most 63 bytes")
            base.tokenizer = b
        elif k == "rope_scaling":
            rs = base.rope_scaling
            for kk, vv in dict(v).items():
                if kk == "type":
                    vv = _inverse(_ROPE, vv, "rope_scaling.type")
                setattr(rs, kk, vv)
        elif k == "arch":
            base.arch = _inverse(_ARCH, v, k)
        elif k == "ttt_layer_type":
            base.ttt_layer_type = _inverse(_INNER, v, k)
        else:
            setattr(base, k, v)
    return base


def _options(precision="f32", threads=0, remat_group=0, reference_kernels=False, bf16=False, bf16_train=False):
    o = S.new(S.Options)
    lib.ttt_options_default(C.byref(o))
    if precision not in ("f32", "f64"):
        raise ArgumentError("precision must be 'f32' or 'f64', got %r" % (precision,))
    o.precision = 1 if precision == "f64" else 0
    o.threads = _int_arg(threads, "threads", 0, 4096)
    o.remat_group = _int_arg(remat_group, "remat_group", 0, 1 << 20)
    o.reference_kernels = int(bool(reference_kernels))
    o.bf16_weights = int(bool(bf16))
    o.bf16_train = int(bool(bf16_train))
    return o


def _int_arg(v, name, lo, hi):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise DTypeError("%s must be an integer, got %r" % (name, v))
    v = int(v)
    if v < lo or v > hi:
        raise ArgumentError("%s must be in [%d, %d], got %d" % (name, lo, hi, v))
    return v


def as_ids(ids, name="ids", ndim=(1, 2)):
    """Check a token-id array (any integer dtype, or a list of ints) and return it as a
    C-contiguous int32 numpy array (a copy only when the dtype or layout differs). Floats, bools
    and objects are refused (DTypeError); so are ranks other than `ndim`, empty sequences and
    values outside int32. The range [0, vocab) is checked by the library itself (its message,
    naming the batch and position, comes back in the TTTError)."""
    if isinstance(ids, np.ndarray):
        a = ids
    else:
        try:
            a = np.asarray(ids)
        except (ValueError, TypeError) as e:
            raise DTypeError("%s: not an array of token ids (%s)" % (name, e))
    if a.dtype.kind not in "iu":
        raise DTypeError("%s: token ids must be an integer array, got dtype %s (a float or bool array is not "
                         "converted)" % (name, a.dtype))
    if a.ndim not in ndim:
        raise ArgumentError("%s: expected a %s array, got shape %s" % (
            name, " or ".join("%d-D" % n for n in ndim), a.shape))
    if a.size == 0:
        raise ArgumentError("%s: empty (shape %s): give at least one token" % (name, a.shape))
    mn, mx = int(a.min()), int(a.max())
    for v, f in ((mn, np.argmin), (mx, np.argmax)):
        if v < -0x80000000 or v > 0x7FFFFFFF:
            i = np.unravel_index(int(f(a)), a.shape)
            raise ArgumentError("%s: id %d at index %s does not fit int32 (token ids are int32)" % (
                name, v, tuple(int(x) for x in i)))
    return np.ascontiguousarray(a, dtype=np.int32)


def _locked(method):
    """Run a method under its model's lock: a model (its workspace, gradients, caches) serves
    one call at a time; calls from several threads wait for each other instead of sharing the
    buffers. Re-entrant, so a training callback may call the model on the training thread."""
    @functools.wraps(method)
    def wrapper(self, *a, **kw):
        m = self if isinstance(self, Model) else self.model
        with m._lock:
            return method(self, *a, **kw)
    return wrapper


def _ptr(a, ctype):
    return a.ctypes.data_as(C.POINTER(ctype))


class Model:
    """A libttt model (TTT, Llama or Mamba family) held in C memory.

    Model.load(dir) reads config.json + model.safetensors; Model.create(preset or config) makes
    freshly initialised weights. The model is freed when the object is garbage collected (views
    from parameters() keep it alive)."""

    def __init__(self, handle, directory=None):
        self._h = C.c_void_p(handle)
        self.directory = directory
        self._cfg_ptr = lib.ttt_model_config(self._h)
        self._lock = threading.RLock()

    # ---- construction -----------------------------------------------------------------------
    @classmethod
    def load(cls, directory, precision="f32", threads=0, reference_kernels=False, bf16=False):
        """Load a model directory (config.json + model.safetensors). precision 'f64' computes in
        double precision; bf16 multiplies by bfloat16 copies of the weights at inference."""
        directory = os.fspath(directory)
        o = _options(precision, threads, 0, reference_kernels, bf16)
        h = C.c_void_p()
        check(lib.ttt_model_load(directory.encode(), C.byref(o), C.byref(h)))
        return cls(h.value, directory)

    @classmethod
    def create(cls, preset=None, config=None, seed=0, precision="f32", threads=0, **overrides):
        """A freshly initialised model (docs/design.md 3.4) from a preset name (`ttt init`'s
        presets, e.g. 'ttt-linear-tiny') and/or a config dict (Model.config's fields), plus field
        overrides as keywords (vocab_size=..., num_hidden_layers=...)."""
        c = S.new(S.Config)
        if preset is not None:
            check(lib.ttt_config_preset(str(preset).encode(), C.byref(c)))
        elif config is None:
            raise ArgumentError("Model.create: give a preset name or a config dict")
        if config is not None:
            _config_from_dict(config, c)
        _config_from_dict(overrides, c)
        check(lib.ttt_config_validate(C.byref(c), b"Model.create"))
        o = _options(precision, threads)
        h = C.c_void_p()
        check(lib.ttt_model_create(C.byref(c), C.c_uint64(_int_arg(seed, "seed", 0, 2**63 - 1)), C.byref(o),
                                   C.byref(h)))
        return cls(h.value, None)

    @staticmethod
    def presets():
        """{name: description} of the built-in presets."""
        out, i = {}, 0
        while True:
            d = C.c_char_p()
            n = lib.ttt_preset_name(i, C.byref(d))
            if not n:
                return out
            out[n.decode()] = (d.value or b"").decode()
            i += 1

    def __del__(self, _free=lib.ttt_model_free):  # bound now: module globals may be gone at exit
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            _free(h)
            self._h = None

    @_locked
    def save(self, directory, dtype="f32"):
        """Write config.json + model.safetensors into `directory` (created if missing; each file
        atomically). dtype: 'f32', 'f16', 'bf16' or 'f64'."""
        if dtype not in _DTYPES:
            raise ArgumentError("dtype must be one of f32, f16, bf16, f64; got %r" % (dtype,))
        check(lib.ttt_model_save(self._h, os.fspath(directory).encode(), _DTYPES[dtype]))

    # ---- configuration ----------------------------------------------------------------------
    @property
    def config(self):
        """The model's configuration as a dict (ttt_config's fields; arch, ttt_layer_type and
        rope_scaling.type as names). A copy: changing it changes nothing."""
        return _config_dict(self._cfg_ptr.contents)

    @property
    def vocab_size(self):
        return int(self._cfg_ptr.contents.vocab_size)

    @property
    def vocab_rows(self):
        """Width of the logits (vocab_size, or padded for mamba_ssm models)."""
        return int(lib.ttt_config_vocab_rows(self._cfg_ptr))

    @property
    def precision(self):
        o = S.new(S.Options)
        lib.ttt_model_get_options(self._h, C.byref(o))
        return "f64" if o.precision == 1 else "f32"

    @_locked
    def set_options(self, threads=None, remat_group=None, reference_kernels=None, bf16=None, bf16_train=None):
        """Change threads, recomputation group, kernels or bf16 settings (not the precision)."""
        o = S.new(S.Options)
        lib.ttt_model_get_options(self._h, C.byref(o))
        if threads is not None:
            o.threads = _int_arg(threads, "threads", 0, 4096)
        if remat_group is not None:
            o.remat_group = _int_arg(remat_group, "remat_group", 0, 1 << 20)
        if reference_kernels is not None:
            o.reference_kernels = int(bool(reference_kernels))
        if bf16 is not None:
            o.bf16_weights = int(bool(bf16))
        if bf16_train is not None:
            o.bf16_train = int(bool(bf16_train))
        check(lib.ttt_model_set_options(self._h, C.byref(o)))

    def _options(self):
        o = S.new(S.Options)
        lib.ttt_model_get_options(self._h, C.byref(o))
        return o

    # ---- ids ---------------------------------------------------------------------------------
    def _ids2d(self, ids, name="ids"):
        a = as_ids(ids, name)
        one = a.ndim == 1
        if one:
            a = a.reshape(1, -1)
        return a, one

    # ---- computation -------------------------------------------------------------------------
    @_locked
    def forward(self, ids, out=None):
        """Full-sequence forward (dual form). ids: [B, L] or [L] integer array; returns the
        logits, float32 [B, L, V] (or [L, V] for 1-D ids), written by the library directly into
        the returned array (or into `out`, a C-contiguous float32 array of that shape)."""
        a, one = self._ids2d(ids)
        B, L = a.shape
        shape = (B, L, self.vocab_rows)
        if out is None:
            out = np.empty(shape, dtype=np.float32)
        else:
            if not isinstance(out, np.ndarray) or out.dtype != np.float32:
                raise DTypeError("out: must be a float32 numpy array")
            if out.shape not in (shape, shape[1:] if one else shape) or not out.flags.c_contiguous or \
                    not out.flags.writeable:
                raise ArgumentError("out: must be a writeable C-contiguous array of shape %s" % (shape,))
        check(lib.ttt_forward(self._h, _ptr(a, C.c_int32), B, L, _ptr(out, C.c_float), None))
        return out.reshape(shape[1:]) if one else out

    @_locked
    def hidden_states(self, ids):
        """The residual stream after each block of a forward pass: a list of num_hidden_layers+1
        float32 arrays [B, L, D] (or [L, D] for 1-D ids); [0] is the embedding output."""
        a, one = self._ids2d(ids)
        B, L = a.shape
        D = int(self._cfg_ptr.contents.hidden_size)
        lib.ttt_keep_hidden_states(self._h, 1)
        try:
            check(lib.ttt_forward(self._h, _ptr(a, C.c_int32), B, L, None, None))
            out = []
            for i in range(int(self._cfg_ptr.contents.num_hidden_layers) + 1):
                h = np.empty((B, L, D), dtype=np.float32)
                check(lib.ttt_hidden_state(self._h, i, _ptr(h, C.c_float)))
                out.append(h[0] if one else h)
            return out
        finally:
            lib.ttt_keep_hidden_states(self._h, 0)

    @_locked
    def loss(self, ids, targets=None, per_sequence_mean=False):
        """Mean next-token cross-entropy (float). targets None: ids shifted by one, over all
        B*(L-1) positions (ttt_forward's loss). targets [B, L] (or [L]): the token each position
        should predict, -1 to leave a position out; the mean over the counted targets (or, with
        per_sequence_mean, the mean over sequences of each one's mean)."""
        a, one = self._ids2d(ids)
        B, L = a.shape
        if targets is None and not per_sequence_mean:
            loss = C.c_double()
            check(lib.ttt_forward(self._h, _ptr(a, C.c_int32), B, L, None, C.byref(loss)))
            return loss.value
        t = self._targets(targets, a, one)
        nll = np.empty((B, L), dtype=np.float64)
        check(lib.ttt_forward_nll(self._h, _ptr(a, C.c_int32), _ptr(t, C.c_int32), B, L, _ptr(nll, C.c_double)))
        mask = t >= 0
        if per_sequence_mean:
            cnt = mask.sum(axis=1)
            per = np.where(cnt > 0, nll.sum(axis=1) / np.maximum(cnt, 1), 0.0)
            return float(per.mean())
        n = int(mask.sum())
        return float(nll.sum() / n) if n else 0.0

    def _targets(self, targets, a, one):
        B, L = a.shape
        if targets is None:
            t = np.full((B, L), -1, dtype=np.int32)
            t[:, :-1] = a[:, 1:]
            return t
        t = as_ids(targets, "targets")
        if one and t.ndim == 1:
            t = t.reshape(1, -1)
        if t.shape != (B, L):
            raise ArgumentError("targets: shape %s does not match ids %s" % (t.shape, (B, L) if not one else (L,)))
        return t

    @_locked
    def forward_backward(self, ids, targets=None, per_sequence_mean=False, grad_scale=1.0):
        """Forward + exact backward: returns (loss, grads) with grads a dict {parameter name:
        float32 numpy array of its shape} of grad_scale * d loss / d parameter (copies; the
        library's gradient buffers are reused by the next call). targets as in loss(); None
        means ids shifted by one."""
        a, one = self._ids2d(ids)
        B, L = a.shape
        t = None if targets is None else self._targets(targets, a, one)
        loss = C.c_double()
        check(lib.ttt_zero_grad(self._h))
        check(lib.ttt_forward_backward(self._h, _ptr(a, C.c_int32), None if t is None else _ptr(t, C.c_int32), B, L,
                                       int(bool(per_sequence_mean)), float(grad_scale), C.byref(loss)))
        grads = {}
        for i, name, shape in self._param_table():
            g = np.empty(shape, dtype=np.float32)
            lib.ttt_grad_get(self._h, i, _ptr(g, C.c_float))
            grads[name] = g
        return loss.value, grads

    # ---- parameters --------------------------------------------------------------------------
    def _param_table(self):
        n = lib.ttt_param_count(self._h)
        shp = (C.c_int64 * 8)()
        for i in range(n):
            nd = lib.ttt_param_shape(self._h, i, shp)
            yield i, lib.ttt_param_name(self._h, i).decode(), tuple(int(shp[k]) for k in range(nd))

    def parameter_names(self):
        return [name for _, name, _ in self._param_table()]

    @_locked
    def parameters(self, copy=False):
        """{name: numpy array} of every tensor of the model, in file-key order. By default
        read-only zero-copy views of the library's own storage (float32, or float64 for a model
        loaded with precision='f64'): they follow training in place and keep the model alive.
        copy=True gives float32 copies instead. Write with set_parameter()."""
        out = {}
        for i, name, shape in self._param_table():
            if copy:
                a = np.empty(shape, dtype=np.float32)
                lib.ttt_param_get(self._h, i, _ptr(a, C.c_float))
            else:
                eb = C.c_int()
                p = lib.ttt_param_data(self._h, i, 0, C.byref(eb))
                if not p:
                    raise TTTError("parameter %s: no storage" % name)
                ct = C.c_float if eb.value == 4 else C.c_double
                n = int(np.prod(shape)) if shape else 1
                buf = (ct * n).from_address(p)
                buf._owner = self  # the view (through buf) keeps the model alive
                a = np.frombuffer(buf, dtype=np.float32 if eb.value == 4 else np.float64).reshape(shape)
                a.flags.writeable = False
            out[name] = a
        return out

    @_locked
    def set_parameter(self, name, value):
        """Set one parameter from an array of its shape (converted to float32)."""
        i = lib.ttt_param_find(self._h, str(name).encode())
        if i < 0:
            raise ArgumentError("no parameter named %r" % (name,))
        shp = (C.c_int64 * 8)()
        nd = lib.ttt_param_shape(self._h, i, shp)
        shape = tuple(int(shp[k]) for k in range(nd))
        v = np.asarray(value)
        if v.dtype.kind not in "fiu":
            raise DTypeError("parameter %s: a numeric array is needed, got dtype %s" % (name, v.dtype))
        if v.shape != shape:
            raise ArgumentError("parameter %s: shape %s, expected %s" % (name, v.shape, shape))
        v = np.ascontiguousarray(v, dtype=np.float32)
        lib.ttt_param_set(self._h, i, _ptr(v, C.c_float))

    def num_parameters(self):
        return int(lib.ttt_param_numel_total(self._h))

    # ---- generation --------------------------------------------------------------------------
    def generate(self, prompt, max_tokens=None, temperature=None, top_k=None, top_p=None, seed=0, stream=True,
                 stop=None, tokenizer=None, add_bos=True):
        """Continue `prompt` (str or bytes) as `ttt generate` does: prefill in one pass, then
        decode token by token through a cache, sampling each token. Settings left None take
        generation_config.json's values (when the model directory has one), else ttt's
        defaults (max_tokens 128, temperature 0.8, top_k 0 = off, top_p 1 = off). stream=True
        returns an iterator of text pieces (whole UTF-8 characters); stream=False the whole
        text. Stops at EOS, at `stop`, or after max_tokens tokens."""
        from .generate import generate as _gen
        it = _gen(self, prompt, max_tokens, temperature, top_k, top_p, seed, stop, tokenizer, add_bos)
        return it if stream else "".join(it)

    def cache(self, batch=1):
        return Cache(self, batch)


class Cache:
    """The recurrent decoding state of `batch` sequences (ttt_cache): per layer the inner
    weights and running sums (TTT), keys/values (Llama) or scan state (Mamba)."""

    def __init__(self, model, batch=1):
        if not isinstance(model, Model):
            raise DTypeError("Cache: model must be a ttt.Model")
        self.model = model
        self.batch = _int_arg(batch, "batch", 1, 1 << 20)
        h = C.c_void_p()
        check(lib.ttt_cache_create(model._h, self.batch, C.byref(h)))
        self._h = h

    def __del__(self, _free=lib.ttt_cache_free):  # bound now: module globals may be gone at exit
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            _free(h)
            self._h = None

    @property
    def position(self):
        """Tokens processed so far (per sequence)."""
        return int(lib.ttt_cache_position(self._h))

    @property
    def nbytes(self):
        return int(lib.ttt_cache_bytes(self._h))

    @_locked
    def reset(self):
        lib.ttt_cache_reset(self._h)

    def _ids(self, ids):
        a = as_ids(ids, "ids")
        if a.ndim == 1:
            if self.batch != 1:
                raise ArgumentError("ids: 1-D ids fit a cache of batch 1; this cache has batch %d: give [%d, L]" % (
                    self.batch, self.batch))
            a = a.reshape(1, -1)
        if a.shape[0] != self.batch:
            raise ArgumentError("ids: %d sequences but the cache holds %d" % (a.shape[0], self.batch))
        return a

    @_locked
    def prefill(self, ids, last_only=False):
        """Feed L tokens per sequence (ids [B, L], or [L] for batch 1). Returns the logits,
        float32 [B, L, V], or with last_only=True only at the last position, [B, V]."""
        a = self._ids(ids)
        B, L = a.shape
        V = self.model.vocab_rows
        if last_only:
            out = np.empty((B, V), dtype=np.float32)
            check(lib.ttt_prefill_last(self.model._h, self._h, _ptr(a, C.c_int32), L, _ptr(out, C.c_float)))
        else:
            out = np.empty((B, L, V), dtype=np.float32)
            check(lib.ttt_prefill(self.model._h, self._h, _ptr(a, C.c_int32), L, _ptr(out, C.c_float)))
        return out

    @_locked
    def decode_step(self, ids):
        """One token per sequence (an int for batch 1, or ids [B]); returns logits [B, V]."""
        if isinstance(ids, (int, np.integer)) and not isinstance(ids, bool):
            ids = [ids]
        a = as_ids(ids, "ids", ndim=(1,))
        if a.shape[0] != self.batch:
            raise ArgumentError("ids: %d tokens but the cache holds %d sequences" % (a.shape[0], self.batch))
        out = np.empty((self.batch, self.model.vocab_rows), dtype=np.float32)
        check(lib.ttt_decode_step(self.model._h, self._h, _ptr(a, C.c_int32), _ptr(out, C.c_float)))
        return out
