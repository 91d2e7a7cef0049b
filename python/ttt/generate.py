"""generate.py: text generation as `ttt generate` does it (src/cli/cmd_generate.c), for one
sequence: the model directory's tokenizer, BOS, generation_config.json / config.json settings
and EOS ids (ttt_generate_settings), one prefill, then sampling (ttt_sample, the same seeded
stream) and decoding token by token, the text streamed on UTF-8 boundaries through the same
ttt_text_stream. With the same settings and seed it gives the bytes `ttt generate` prints
(without the final newline)."""
import codecs
import ctypes as C
import os

import numpy as np

from ._lib import ArgumentError, DTypeError, TTTError, check, lib
from . import _structs as S
from .tokenizer import Tokenizer, _to_bytes


def find_tokenizer(model_dir, name):
    """The tokenizer `ttt generate` uses for a model directory: DIR/tokenizer, DIR/NAME.tiktoken,
    DIR/NAME (NAME: config.json's "ttt_tokenizer"), DIR's own tokenizer.json, then
    data/tok/NAME.tiktoken and data/tok/NAME (relative to the current directory)."""
    own = model_dir is not None and os.path.lexists(os.path.join(model_dir, "tokenizer.json"))
    if not name and not own:
        raise TTTError("%s: config.json names no tokenizer (\"ttt_tokenizer\") and the directory holds no "
                       "tokenizer.json; give tokenizer=PATH" % (model_dir or "this model"), 4)
    cand = []
    if name and model_dir:
        cand += [os.path.join(model_dir, "tokenizer"), os.path.join(model_dir, name + ".tiktoken"),
                 os.path.join(model_dir, name)]
    if own:
        cand.append(model_dir)
    if name:
        cand += ["data/tok/%s.tiktoken" % name, "data/tok/%s" % name]
    for c in cand:
        if os.path.exists(c):
            return Tokenizer.load(c)
    raise TTTError("tokenizer \"%s\" of %s not found (looked in %s/ and data/tok/); give tokenizer=PATH" % (
        name, model_dir, model_dir), 4)


def generate(model, prompt, max_tokens=None, temperature=None, top_k=None, top_p=None, seed=0, stop=None,
             tokenizer=None, add_bos=True):
    """Generator of text pieces (str); see Model.generate."""
    from .model import _int_arg
    cfg = model._cfg_ptr.contents
    # the tokenizer
    if tokenizer is None:
        tok = find_tokenizer(model.directory, cfg.tokenizer.decode())
    elif isinstance(tokenizer, Tokenizer):
        tok = tokenizer
    else:
        tok = Tokenizer.load(tokenizer)
    if tok.vocab_size > cfg.vocab_size:
        raise TTTError("the tokenizer %s has %d tokens but the model only %d (vocab_size)" % (
            tok.name, tok.vocab_size, cfg.vocab_size), 4)
    sp = S.new(S.Sampling, 0.8, 0, 1.0)
    maxt = C.c_int64(128)
    given = 0
    if temperature is not None:
        sp.temperature = float(temperature)
        given |= 1
    if top_k is not None:
        sp.top_k = _int_arg(top_k, "top_k", 0, 1 << 40)
        given |= 2
    if top_p is not None:
        sp.top_p = float(top_p)
        given |= 4
    if max_tokens is not None:
        maxt.value = _int_arg(max_tokens, "max_tokens", 0, 1 << 30)
        given |= 8
    seed = _int_arg(seed, "seed", 0, 2**63 - 1)
    check(lib.ttt_sampling_check(C.byref(sp)))
    if stop is not None:
        stop = _to_bytes(stop, "stop")
        if not stop:
            raise ArgumentError("stop is empty (it would stop before the first token; leave it out for no stop string)")
    pb = _to_bytes(prompt, "prompt")
    if not pb:
        raise ArgumentError("the prompt is empty (give some text to continue)")
    addbos = bool(add_bos) and tok.bos_id >= 0
    pids = tok.encode(pb, add_bos=addbos)
    P = len(pids)
    if P <= (1 if addbos else 0):
        raise ArgumentError("the prompt encodes to no tokens")
    eos = (C.c_int32 * 33)()
    neos = C.c_int()
    check(lib.ttt_generate_settings(model.directory.encode() if model.directory else None, model._cfg_ptr, tok._h, P,
                                    given, C.byref(sp), C.byref(maxt), eos, C.byref(neos), None, 0))
    maxt = maxt.value
    limit = int(lib.ttt_config_max_context(model._cfg_ptr))
    if limit > 0:
        if P > limit:
            raise ArgumentError("the prompt has %d tokens, more than the model's limit of %d (max_position_embeddings)"
                                % (P, limit))
        maxt = min(maxt, limit - P)
    eos_ids = set(eos[i] for i in range(neos.value))
    return _run(model, tok, pids, maxt, sp, seed, stop, eos_ids)


def _run(model, tok, pids, maxt, sp, seed, stop, eos_ids):
    from .model import Cache
    V = int(model._cfg_ptr.contents.vocab_size)
    smp = C.c_void_p()
    check(lib.ttt_sampler_create(V, C.c_uint64(seed), C.byref(smp)))
    ts = S.new(S.TextStream)
    stop_buf = C.create_string_buffer(stop) if stop is not None else None
    # the stream keeps the pointer: stop_buf lives as long as this generator
    lib.ttt_text_stream_init(C.byref(ts), C.cast(stop_buf, C.c_void_p) if stop_buf is not None else None)
    dec = codecs.getincrementaldecoder("utf-8")("replace")
    try:
        cache = Cache(model, 1)
        logits = cache.prefill(pids.reshape(1, -1), last_only=True)
        last = int(pids[-1])
        base = tok.decode_bytes([last])
        gen = []
        frm = C.c_size_t()
        for t in range(maxt):
            row = logits[0, :V]
            if not np.all(np.isfinite(row)):
                bad = int(np.argmax(~np.isfinite(row)))
                raise TTTError("the logits of step %d are not finite (token %d: %g): the model's activations "
                               "overflow (check the weights)" % (t, bad, float(row[bad])), 6)
            row = np.ascontiguousarray(row)
            y = int(lib.ttt_sample(smp, row.ctypes.data_as(C.POINTER(C.c_float)), V, C.byref(sp)))
            if y in eos_ids:
                break
            gen.append(y)
            # text of [last prompt token, generated...] minus the text of the last prompt token
            txt = tok.decode_bytes([last] + gen)
            off = min(len(base), len(txt))
            cont = txt[off:]  # the whole continuation so far (the stream replaces its text)
            n = lib.ttt_text_stream_update(C.byref(ts), cont, len(cont), 0, C.byref(frm))
            if n:
                s = dec.decode(C.string_at(ts.text + frm.value, n))
                if s:
                    yield s
            if ts.stopped:
                break
            if t + 1 == maxt:
                break
            logits = cache.decode_step(np.array([y], np.int32))
        n = lib.ttt_text_stream_update(C.byref(ts), ts.text, ts.len, 1, C.byref(frm))
        s = dec.decode(C.string_at(ts.text + frm.value, n) if n else b"", final=True)
        if s:
            yield s
    finally:
        lib.ttt_text_stream_free(C.byref(ts))
        lib.ttt_sampler_free(smp)
