"""train.py: ttt.train and ttt.evaluate, with the options of `ttt train` and `ttt eval`
(src/cli/cmd_train.c, cmd_eval.c; a flag --foo-bar is the keyword foo_bar) over ttt_train and
ttt_evaluate (include/ttt_train.h).

The progress callback runs on the training thread between optimizer steps; an exception it
raises asks the library to stop after that step (ttt_train_request_stop) and is re-raised by
ttt.train once ttt_train has returned cleanly (the run directory keeps its latest complete
checkpoint)."""
import ctypes as C
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass

import numpy as np

from ._lib import ArgumentError, DTypeError, TTTError, check, lib
from . import _structs as S
from .model import Model, _int_arg
from .tokenizer import Tokenizer

BIG = 1 << 40

# `ttt train` flags (the model-configuration flags of a fresh --preset model excepted: build the
# model with ttt.Model.create) -> (field of ttt_train_opts or special, kind, lower bound)
_TRAIN_INT = {"steps": ("steps", 1), "seq_len": ("seq_len", 1), "batch": ("batch", 1),
              "micro_batch": ("micro_batch", 0), "warmup": ("warmup", -1), "ckpt_every": ("ckpt_every", 0),
              "keep": ("keep_ckpts", 1), "log_every": ("log_every", 0), "val_every": ("val_every", 0),
              "val_windows": ("val_windows", 1), "stop_after": ("stop_after", 0), "seed": ("seed", 0)}
_TRAIN_FLOAT = {"lr": "lr", "lr_end": "lr_end", "beta1": "beta1", "beta2": "beta2", "eps": "eps",
                "weight_decay": "weight_decay", "clip": "clip"}
_TRAIN_OTHER = {"val", "run", "resume", "batch_tokens", "schedule", "no_ttt_lr_warmup", "threads", "remat_group",
                "no_bos_mask", "quiet", "precision", "bf16", "tokenizer", "no_shuffle", "doc_windows"}
TRAIN_OPTIONS = sorted(set(_TRAIN_INT) | set(_TRAIN_FLOAT) | _TRAIN_OTHER)
EVAL_OPTIONS = sorted({"context", "windows", "batch", "no_bos_mask", "threads", "precision", "by_position",
                       "buckets"})


@dataclass
class Progress:
    """One optimizer step's numbers (ttt_train_progress)."""
    step: int
    steps: int
    loss: float
    lr: float
    grad_norm: float
    tokens_per_s: float
    elapsed_s: float
    val_loss: float    # NaN when no validation ran at this step
    start_step: int


@dataclass
class TrainResult:
    steps: int               # steps run by this call
    losses: list             # training loss of each step of this call
    checkpoint: str          # the latest complete checkpoint (a model directory), None for a temporary run
    run: str                 # the run directory (None when it was temporary and removed)
    val_loss: float = math.nan


def _unknown(opts, allowed, what):
    bad = sorted(set(opts) - set(allowed))
    if bad:
        raise TypeError("%s() got an unexpected keyword argument %r (the options are those of `ttt %s`, "
                        "with - written _: %s)" % (what, bad[0], what.replace("evaluate", "eval"), ", ".join(allowed)))


def _data_path(data, model, tmpdir, name):
    """A token-file path for data: a path is used as it is; an integer array (or list of
    documents) is written to a temporary token file with the model's vocabulary."""
    if isinstance(data, (str, bytes, os.PathLike)):
        return os.fsdecode(data)
    from . import tokfile
    p = os.path.join(tmpdir, name + ".tok")
    cfg = model.config
    tokfile.write(p, data, vocab_size=cfg["vocab_size"], bos_id=cfg["bos_token_id"] if cfg["bos_token_id"] >= 0 else -1,
                  eos_id=cfg["eos_token_id"] if cfg["eos_token_id"] >= 0 else -1)
    return p


def train(model, data, callback=None, **opts):
    if not isinstance(model, Model):
        raise DTypeError("train: model must be a ttt.Model")
    with model._lock:  # one call at a time on a model (see model._locked)
        return _train(model, data, callback, **opts)


def _train(model, data, callback=None, **opts):
    """Train `model` in place on `data` (a token file path, or ids: a 1-D integer array or a
    list of documents, written to a temporary token file) with the options of `ttt train`:
    steps, seq_len, batch, micro_batch, batch_tokens, lr, lr_end, warmup, schedule
    ('cosine'|'constant'), beta1, beta2, eps, weight_decay, clip, no_ttt_lr_warmup, seed,
    ckpt_every, keep, log_every, val (a validation token file or ids), val_every, val_windows,
    stop_after, run (run directory; default: a temporary one removed afterwards), resume,
    threads, remat_group, no_bos_mask, quiet, bf16, tokenizer (a path or ttt.Tokenizer),
    precision (must be the model's). Defaults are the command's.

    callback(progress) is called after every step with a ttt.train.Progress (step, steps,
    loss, lr, grad_norm, tokens_per_s, elapsed_s, val_loss); an exception it raises stops the
    training after that step and propagates. Without a callback and unless quiet, a line per
    log_every steps goes to stderr. Returns a TrainResult."""
    _unknown(opts, TRAIN_OPTIONS, "train")
    if not isinstance(model, Model):
        raise DTypeError("train: model must be a ttt.Model")
    if callback is not None and not callable(callback):
        raise DTypeError("train: callback must be callable")
    o = S.new(S.TrainOpts)
    lib.ttt_train_opts_default(C.byref(o))
    for k, (field, lo) in _TRAIN_INT.items():
        if k in opts:
            setattr(o, field, _int_arg(opts[k], k, lo, BIG))
    for k, field in _TRAIN_FLOAT.items():
        if k in opts:
            v = opts[k]
            if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
                raise DTypeError("%s must be a number, got %r" % (k, v))
            setattr(o, field, float(v))
    bt = _int_arg(opts.get("batch_tokens", 0), "batch_tokens", 0, BIG)
    if bt > 0:
        if bt % o.seq_len != 0 or bt < o.seq_len:
            raise ArgumentError("batch_tokens %d is not a multiple of seq_len %d" % (bt, o.seq_len))
        o.batch = bt // o.seq_len
    sch = opts.get("schedule", "cosine")
    if sch not in ("cosine", "constant"):
        raise ArgumentError("schedule must be cosine or constant, got %r" % (sch,))
    o.schedule = 1 if sch == "constant" else 0
    o.ttt_mlp_lr_warmup = 0 if opts.get("no_ttt_lr_warmup") else 1
    o.mask_bos = 0 if opts.get("no_bos_mask") else 1
    o.no_shuffle = 1 if opts.get("no_shuffle") else 0
    o.doc_windows = 1 if opts.get("doc_windows") else 0
    quiet = bool(opts.get("quiet"))
    o.quiet = 0  # the library prints nothing itself; progress goes to the callback
    prec = opts.get("precision")
    if prec is not None and prec != model.precision:
        raise ArgumentError("precision %r: the model was loaded with precision %r (load it with "
                            "Model.load(dir, precision=...))" % (prec, model.precision))
    tok = opts.get("tokenizer")
    if tok is not None and not isinstance(tok, Tokenizer):
        tok = Tokenizer.load(tok)
    o.tokenizer = tok._h.value if tok is not None else None
    if model.directory:
        g = os.path.join(model.directory, "generation_config.json")
        gen = g.encode() if os.path.lexists(g) else None
        o.generation_config = gen

    old = model._options()
    new = S.copy(old)
    new.threads = _int_arg(opts.get("threads", old.threads), "threads", 0, 4096)
    new.remat_group = _int_arg(opts.get("remat_group", 4), "remat_group", 0, 1 << 20)
    new.bf16_train = 1 if opts.get("bf16") else 0
    if new.bf16_train and new.precision != 0:
        raise ArgumentError("bf16 needs a float32 model")

    tmp = tempfile.mkdtemp(prefix="ttt-train-")
    run = opts.get("run")
    temp_run = run is None
    run = os.path.join(tmp, "run") if temp_run else os.fspath(run)
    parent = os.path.dirname(os.path.abspath(run))
    if not temp_run and not os.path.isdir(parent):
        os.makedirs(parent, exist_ok=True)  # the library creates the run directory, not its parents
    losses = []
    state = {"exc": None, "val": math.nan}
    log_every = o.log_every

    def on_progress(p, _ctx):
        if state["exc"] is not None:
            return
        try:
            q = p.contents
            pr = Progress(int(q.step), int(q.steps), q.loss, q.lr, q.grad_norm, q.tokens_per_s, q.elapsed_s,
                          q.val_loss, int(q.start_step))
            losses.append(pr.loss)
            if not math.isnan(pr.val_loss):
                state["val"] = pr.val_loss
            if callback is not None:
                callback(pr)
            elif not quiet and (pr.step == 1 or pr.step == pr.steps or (log_every > 0 and pr.step % log_every == 0)):
                print("step %d/%d loss %.4f lr %.2e grad_norm %.3f tokens/s %.0f" % (
                    pr.step, pr.steps, pr.loss, pr.lr, pr.grad_norm, pr.tokens_per_s), file=sys.stderr, flush=True)
        except BaseException as e:  # noqa: B902 (KeyboardInterrupt too: stop cleanly, re-raise below)
            state["exc"] = e
            lib.ttt_train_request_stop()

    cb = S.PROGRESS_FN(on_progress)
    try:
        train_path = _data_path(data, model, tmp, "train")
        val = opts.get("val")
        val_path = _data_path(val, model, tmp, "val") if val is not None else None
        check(lib.ttt_model_set_options(model._h, C.byref(new)))
        try:
            st = lib.ttt_train(model._h, C.byref(o), train_path.encode(), val_path.encode() if val_path else None,
                               run.encode(), 1 if opts.get("resume") else 0, cb, None)
        finally:
            lib.ttt_model_set_options(model._h, C.byref(old))
        if state["exc"] is not None:
            raise state["exc"]
        check(st, "train")
        ck = None if temp_run else latest_checkpoint(run)
        step = len(losses)
        return TrainResult(steps=step, losses=losses, checkpoint=ck, run=None if temp_run else run,
                           val_loss=state["val"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def latest_checkpoint(run):
    """The latest complete checkpoint (a model directory) of a run directory; TTTError if none.
    To continue a run exactly: ttt.train(ttt.Model.load(ttt.latest_checkpoint(run)), data,
    run=run, resume=True, <the same options>)."""
    p = lib.ttt_run_latest_checkpoint(os.fspath(run).encode())
    if not p:
        from ._lib import last_error
        raise TTTError("latest_checkpoint: %s" % (last_error() or "%s holds no complete checkpoint" % run), 1)
    try:
        return C.string_at(p).decode()
    finally:
        S.free(p)


@dataclass
class EvalResult:
    ppl: float
    loss: float        # mean NLL over the counted targets
    nll_sum: float
    count: int
    windows: int
    accuracy: float = None  # share of counted targets that are the argmax (libraries that count it)
    by_position: np.ndarray = None   # [context] mean NLL at each position (by_position=True)
    counts: np.ndarray = None        # [context] targets at each position


def evaluate(model, data, **opts):
    if not isinstance(model, Model):
        raise DTypeError("evaluate: model must be a ttt.Model")
    with model._lock:
        return _evaluate(model, data, **opts)


def _evaluate(model, data, **opts):
    """Perplexity of `model` over non-overlapping windows of context+1 tokens of `data` (a
    token file path or ids), with the options of `ttt eval`: context (required), windows (0:
    all), batch, no_bos_mask, threads, precision (must be the model's); by_position=True also
    returns the mean loss at each position. Returns an EvalResult."""
    _unknown(opts, EVAL_OPTIONS, "evaluate")
    if not isinstance(model, Model):
        raise DTypeError("evaluate: model must be a ttt.Model")
    if "context" not in opts:
        raise TypeError("evaluate() missing the required option 'context' (ttt eval --context L)")
    L = _int_arg(opts["context"], "context", 1, 1 << 24)
    W = _int_arg(opts.get("windows", 0), "windows", 0, BIG)
    B = _int_arg(opts.get("batch", 1), "batch", 1, 4096)
    mask = 0 if opts.get("no_bos_mask") else 1
    prec = opts.get("precision")
    if prec is not None and prec != model.precision:
        raise ArgumentError("precision %r: the model was loaded with precision %r" % (prec, model.precision))
    if "buckets" in opts:
        raise ArgumentError("buckets: the Python API returns the loss at every position (by_position=True); "
                            "bucket it with numpy")
    byp = np.zeros(L, np.float64)
    cnt = np.zeros(L, np.int64)
    acc = S._LIB_SIZE.get(S.EvalResult) == C.sizeof(S.EvalResultAcc)
    r = S.new(S.EvalResultAcc if acc else S.EvalResult)
    old = model._options()
    if "threads" in opts:
        new = S.copy(old)
        new.threads = _int_arg(opts["threads"], "threads", 0, 4096)
        check(lib.ttt_model_set_options(model._h, C.byref(new)))
    tmp = tempfile.mkdtemp(prefix="ttt-eval-")
    try:
        path = _data_path(data, model, tmp, "eval")
        check(lib.ttt_evaluate(model._h, path.encode(), L, W, B, mask, byp.ctypes.data_as(C.POINTER(C.c_double)),
                               cnt.ctypes.data_as(C.POINTER(C.c_int64)),
                               C.cast(C.addressof(r), C.POINTER(S.EvalResult))), "eval")
    finally:
        if "threads" in opts:
            lib.ttt_model_set_options(model._h, C.byref(old))
        shutil.rmtree(tmp, ignore_errors=True)
    res = EvalResult(ppl=r.ppl, loss=r.nll_sum / r.count if r.count else math.nan, nll_sum=r.nll_sum,
                     count=int(r.count), windows=int(r.windows), accuracy=r.accuracy if acc else None)
    if opts.get("by_position"):
        res.by_position, res.counts = byp, cnt
    return res


train.__doc__ = _train.__doc__
evaluate.__doc__ = _evaluate.__doc__
