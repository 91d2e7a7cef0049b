"""_structs.py: ctypes mirrors of the public structs of include/ttt*.h and the prototypes of the
C functions the package calls.

Each mirror is checked against the loaded library at import (ttt_abi_sizeof, ttt_abi_offsetof
of every field): a library whose struct is smaller than the mirror, or has a field elsewhere, is
refused with a clear ImportError. A newer library
may have appended fields at the end of a struct (the C API only grows structs at their end);
new(cls) therefore allocates max(the library's size, the mirror's) zeroed bytes, so that the
library never writes or reads past the buffer, and the fields the mirror does not know keep
the library's defaults (ttt_options_default, ttt_train_opts_default) or zero."""
import ctypes as C

from ._lib import lib

i32, i64, u64, dbl, sz = C.c_int32, C.c_int64, C.c_uint64, C.c_double, C.c_size_t
cint, cstr, vp = C.c_int, C.c_char_p, C.c_void_p
P = C.POINTER


class RopeScaling(C.Structure):
    _fields_ = [("type", cint), ("factor", dbl), ("low_freq_factor", dbl), ("high_freq_factor", dbl),
                ("original_max_position_embeddings", i64)]


class Config(C.Structure):
    _fields_ = [
        ("arch", cint), ("vocab_size", i64), ("hidden_size", i64), ("intermediate_size", i64),
        ("num_hidden_layers", i64), ("num_attention_heads", i64), ("rms_norm_eps", dbl),
        ("rope_theta", dbl), ("tie_word_embeddings", cint), ("max_position_embeddings", i64),
        ("bos_token_id", i64), ("eos_token_id", i64), ("pad_token_id", i64),
        ("initializer_range", dbl), ("tokenizer", C.c_char * 64),
        ("ttt_layer_type", cint), ("ttt_base_lr", dbl), ("mini_batch_size", i64),
        ("pre_conv", cint), ("share_qk", cint), ("use_gate", cint), ("conv_kernel", i64),
        ("scan_checkpoint_group_size", i64), ("ttt_fixed_lr_gate", cint), ("ttt_unit_token_scale", cint),
        ("num_key_value_heads", i64), ("head_dim", i64), ("attention_bias", cint), ("mlp_bias", cint),
        ("rope_scaling", RopeScaling),
        ("state_size", i64), ("expand", i64), ("time_step_rank", i64), ("use_bias", cint),
        ("use_conv_bias", cint), ("time_step_min", dbl), ("time_step_max", dbl), ("time_step_floor", dbl),
        ("mamba_ssm_format", cint), ("pad_vocab_size_multiple", i64),
    ]


class Options(C.Structure):
    _fields_ = [("precision", cint), ("threads", cint), ("remat_group", cint), ("reference_kernels", cint),
                ("bf16_weights", cint), ("bf16_train", cint)]


class TrainOpts(C.Structure):
    _fields_ = [
        ("seq_len", i64), ("batch", i64), ("micro_batch", i64), ("steps", i64), ("lr", dbl), ("lr_end", dbl),
        ("warmup", i64), ("schedule", cint), ("beta1", dbl), ("beta2", dbl), ("eps", dbl),
        ("weight_decay", dbl), ("clip", dbl), ("ttt_mlp_lr_warmup", cint), ("seed", u64),
        ("ckpt_every", i64), ("keep_ckpts", i64), ("log_every", i64), ("val_every", i64),
        ("val_windows", i64), ("stop_after", i64), ("mask_bos", cint), ("no_shuffle", cint),
        ("doc_windows", cint), ("quiet", cint), ("tokenizer", vp), ("generation_config", cstr),
    ]


class TrainProgress(C.Structure):
    _fields_ = [("step", i64), ("steps", i64), ("loss", dbl), ("lr", dbl), ("grad_norm", dbl),
                ("tokens_per_s", dbl), ("elapsed_s", dbl), ("val_loss", dbl), ("start_step", i64)]


class EvalResult(C.Structure):
    _fields_ = [("nll_sum", dbl), ("count", i64), ("windows", i64), ("ppl", dbl)]


class EvalResultAcc(C.Structure):
    """ttt_eval_result of libraries that also count argmax-correct targets (used only when the
    library's struct has exactly this size)."""
    _fields_ = EvalResult._fields_ + [("correct", i64), ("accuracy", dbl)]


class Sampling(C.Structure):
    _fields_ = [("temperature", dbl), ("top_k", i64), ("top_p", dbl)]


class Tokfile(C.Structure):
    _fields_ = [("version", i32), ("width", i32), ("n_tokens", i64), ("n_docs", i64), ("bos_id", i32),
                ("eos_id", i32), ("vocab_size", i64), ("tokenizer", C.c_char * 32), ("checksum", u64),
                ("ids", P(i32)), ("doc_start", P(i64))]


class TextStream(C.Structure):
    _fields_ = [("text", vp), ("len", sz), ("cap", sz), ("emitted", sz), ("stop", cstr), ("stopped", cint)]


PROGRESS_FN = C.CFUNCTYPE(None, P(TrainProgress), vp)

# --------------------------------------------------------------------------------------------
# prototypes: (name, restype, argtypes)
_PROTOS = [
    ("ttt_abi_sizeof", sz, [cstr]),
    ("ttt_abi_offsetof", i64, [cstr, cstr]),
    ("ttt_config_load", cint, [cstr, P(Config)]),
    ("ttt_config_validate", cint, [P(Config), cstr]),
    ("ttt_config_preset", cint, [cstr, P(Config)]),
    ("ttt_preset_name", cstr, [cint, P(cstr)]),
    ("ttt_config_vocab_rows", i64, [P(Config)]),
    ("ttt_config_max_context", i64, [P(Config)]),
    ("ttt_options_default", None, [P(Options)]),
    ("ttt_model_load", cint, [cstr, P(Options), P(vp)]),
    ("ttt_model_create", cint, [P(Config), u64, P(Options), P(vp)]),
    ("ttt_model_save", cint, [vp, cstr, cint]),
    ("ttt_model_free", None, [vp]),
    ("ttt_model_config", P(Config), [vp]),
    ("ttt_model_set_options", cint, [vp, P(Options)]),
    ("ttt_model_get_options", None, [vp, P(Options)]),
    ("ttt_param_count", i64, [vp]),
    ("ttt_param_numel_total", i64, [vp]),
    ("ttt_param_name", cstr, [vp, i64]),
    ("ttt_param_shape", cint, [vp, i64, P(i64)]),
    ("ttt_param_find", i64, [vp, cstr]),
    ("ttt_param_get", None, [vp, i64, P(C.c_float)]),
    ("ttt_param_set", None, [vp, i64, P(C.c_float)]),
    ("ttt_grad_get", None, [vp, i64, P(C.c_float)]),
    ("ttt_param_data", vp, [vp, i64, cint, P(cint)]),
    ("ttt_forward", cint, [vp, P(i32), i64, i64, P(C.c_float), P(dbl)]),
    ("ttt_zero_grad", cint, [vp]),
    ("ttt_hidden_state", cint, [vp, i64, P(C.c_float)]),
    ("ttt_keep_hidden_states", None, [vp, cint]),
    ("ttt_forward_backward", cint, [vp, P(i32), P(i32), i64, i64, cint, dbl, P(dbl)]),
    ("ttt_cache_create", cint, [vp, i64, P(vp)]),
    ("ttt_cache_reset", None, [vp]),
    ("ttt_cache_free", None, [vp]),
    ("ttt_cache_position", i64, [vp]),
    ("ttt_cache_bytes", sz, [vp]),
    ("ttt_prefill", cint, [vp, vp, P(i32), i64, P(C.c_float)]),
    ("ttt_prefill_last", cint, [vp, vp, P(i32), i64, P(C.c_float)]),
    ("ttt_decode_step", cint, [vp, vp, P(i32), P(C.c_float)]),
    # ttt_generate.h
    ("ttt_sampling_check", cint, [P(Sampling)]),
    ("ttt_sampler_create", cint, [i64, u64, P(vp)]),
    ("ttt_sampler_free", None, [vp]),
    ("ttt_sample", i32, [vp, P(C.c_float), i64, P(Sampling)]),
    ("ttt_text_stream_init", None, [P(TextStream), vp]),
    ("ttt_text_stream_update", sz, [P(TextStream), vp, sz, cint, P(sz)]),
    ("ttt_text_stream_free", None, [P(TextStream)]),
    ("ttt_generate_settings", cint, [cstr, P(Config), vp, i64, cint, P(Sampling), P(i64), P(i32), P(cint),
                                     C.c_char_p, sz]),
    # ttt_tokenizer.h
    ("ttt_tok_load", cint, [cstr, cstr, P(vp)]),
    ("ttt_tok_free", None, [vp]),
    ("ttt_tok_kind_of", cint, [vp]),
    ("ttt_tok_name", cstr, [vp]),
    ("ttt_tok_vocab_size", i64, [vp]),
    ("ttt_tok_bos", i32, [vp]),
    ("ttt_tok_eos", i32, [vp]),
    ("ttt_tok_special_id", i32, [vp, cstr]),
    ("ttt_tok_encode", cint, [vp, vp, sz, cint, P(P(i32)), P(i64)]),
    ("ttt_tok_encode_batch", cint, [vp, P(vp), P(sz), i64, cint, P(P(i32)), P(i64)]),
    ("ttt_tok_decode", cint, [vp, P(i32), i64, cint, P(vp), P(sz)]),
    ("ttt_tok_piece", vp, [vp, i32, P(sz)]),
    ("ttt_tok_save", cint, [vp, cstr]),
    ("ttt_tokfile_read", cint, [cstr, P(Tokfile)]),
    ("ttt_tokfile_read_header", cint, [cstr, P(Tokfile)]),
    ("ttt_tokfile_write", cint, [cstr, P(Tokfile)]),
    ("ttt_tokfile_free", None, [P(Tokfile)]),
    # ttt_train.h
    ("ttt_train_opts_default", None, [P(TrainOpts)]),
    ("ttt_train", cint, [vp, P(TrainOpts), cstr, cstr, cstr, cint, PROGRESS_FN, vp]),
    ("ttt_train_request_stop", None, []),
    ("ttt_run_latest_checkpoint", vp, [cstr]),
    ("ttt_forward_nll", cint, [vp, P(i32), P(i32), i64, i64, P(dbl)]),
    ("ttt_evaluate", cint, [vp, cstr, i64, i64, i64, cint, P(dbl), P(i64), P(EvalResult)]),
]


_LIB_SIZE = {}


def new(cls, *values):
    """A zeroed instance of mirror `cls` in a buffer as large as the library's struct."""
    n = max(_LIB_SIZE.get(cls, 0), C.sizeof(cls))
    buf = (C.c_char * n)()
    obj = cls.from_buffer(buf)
    obj._buf = buf
    for (name, _), v in zip(cls._fields_, values):
        setattr(obj, name, v)
    return obj


def copy(obj):
    """A copy of a struct made by new() (the library's trailing fields included)."""
    cls = type(obj)
    out = new(cls)
    C.memmove(C.addressof(out), C.addressof(obj), len(out._buf))
    return out


def check_layout(cname, cls):
    """The library's size of struct `cname` after checking that mirror `cls` fits it: not larger,
    and every field at the library's offset (ImportError otherwise)."""
    n = lib.ttt_abi_sizeof(cname.encode())
    if n < C.sizeof(cls):
        raise ImportError("ttt: struct %s has %d bytes in the loaded libttt.so but %d in the package's "
                          "mirror (python/ttt/_structs.py): the library is older than the package "
                          "(rebuild it)" % (cname, n, C.sizeof(cls)))
    for fname, _ in cls._fields_:
        want = getattr(cls, fname).offset
        got = lib.ttt_abi_offsetof(cname.encode(), fname.encode())
        if got != want:
            raise ImportError("ttt: field %s.%s is at offset %d in the loaded libttt.so but %d in the "
                              "package's mirror (python/ttt/_structs.py): the library and the package come "
                              "from different versions" % (cname, fname, got, want))
    return n


def _declare():
    missing = []
    for name, res, args in _PROTOS:
        try:
            f = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        f.restype = res
        f.argtypes = args
    if missing:
        raise ImportError("ttt: the loaded libttt.so lacks %s (it is older than this package: rebuild it "
                          "with `make lib`)" % ", ".join(missing))
    for cname, cls in [("ttt_config", Config), ("ttt_options", Options), ("ttt_train_opts", TrainOpts),
                       ("ttt_train_progress", TrainProgress), ("ttt_eval_result", EvalResult),
                       ("ttt_sampling", Sampling), ("ttt_tokfile", Tokfile), ("ttt_text_stream", TextStream),
                       ("ttt_rope_scaling", RopeScaling)]:
        _LIB_SIZE[cls] = check_layout(cname, cls)


_declare()

# libc free() for the malloc'd results of ttt_tok_encode / ttt_tok_decode / ttt_run_latest_checkpoint
_libc = C.CDLL(None)
free = _libc.free
free.argtypes = [vp]
free.restype = None
