"""tokenizer.py: ttt.Tokenizer over the tokenizers of include/ttt_tokenizer.h (tiktoken rank
files, the Llama-2 directory, Hugging Face tokenizer.json)."""
import ctypes as C
import os

import numpy as np

from ._lib import ArgumentError, DTypeError, check, lib
from . import _structs as S

_KINDS = {0: "tiktoken", 1: "llama", 2: "hf"}


def _to_bytes(text, name="text"):
    if isinstance(text, str):
        return text.encode("utf-8", "surrogateescape")
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    raise DTypeError("%s: expected str or bytes, got %s" % (name, type(text).__name__))


class Tokenizer:
    """A tokenizer loaded by the library. encode(text) -> int32 numpy ids; decode(ids) -> str
    (decode_bytes for the raw bytes); encode_batch(texts) -> list of id arrays (parallel over
    documents in C)."""

    def __init__(self, handle, path=None):
        self._h = C.c_void_p(handle)
        self.path = path

    @classmethod
    def load(cls, path, encoding=None):
        """path: a .tiktoken rank file, a tokenizer.json (or a directory holding one) or a
        Llama-2 tokenizer directory; encoding names the tiktoken encoding when the file name
        does not (r50k_base, p50k_base, cl100k_base, o200k_base)."""
        path = os.fspath(path)
        h = C.c_void_p()
        check(lib.ttt_tok_load(path.encode(), encoding.encode() if encoding else None, C.byref(h)))
        return cls(h.value, path)

    def __del__(self, _free=lib.ttt_tok_free):  # bound now: module globals may be gone at exit
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            _free(h)
            self._h = None

    @property
    def name(self):
        return lib.ttt_tok_name(self._h).decode()

    @property
    def kind(self):
        return _KINDS.get(lib.ttt_tok_kind_of(self._h), "?")

    @property
    def vocab_size(self):
        return int(lib.ttt_tok_vocab_size(self._h))

    @property
    def bos_id(self):
        return int(lib.ttt_tok_bos(self._h))

    @property
    def eos_id(self):
        return int(lib.ttt_tok_eos(self._h))

    def special_id(self, text):
        return int(lib.ttt_tok_special_id(self._h, _to_bytes(text)))

    @staticmethod
    def _flags(add_bos, add_eos, allow_special, add_special):
        return (1 if add_bos else 0) | (2 if add_eos else 0) | (4 if allow_special else 0) | (8 if add_special else 0)

    def encode(self, text, add_bos=False, add_eos=False, allow_special=False, add_special=False):
        """Token ids of text (str, encoded as UTF-8, or bytes) as an int32 numpy array."""
        b = _to_bytes(text)
        ids = C.POINTER(C.c_int32)()
        n = C.c_int64()
        check(lib.ttt_tok_encode(self._h, b, len(b), self._flags(add_bos, add_eos, allow_special, add_special),
                                 C.byref(ids), C.byref(n)))
        try:
            return np.ctypeslib.as_array(ids, shape=(n.value,)).copy() if n.value else np.zeros(0, np.int32)
        finally:
            S.free(ids)

    def encode_batch(self, texts, add_bos=False, add_eos=False, allow_special=False, add_special=False):
        """encode() of every text at once (the library parallelises over documents)."""
        bs = [_to_bytes(t, "texts[%d]" % i) for i, t in enumerate(texts)]
        n = len(bs)
        if n == 0:
            return []
        ptrs = (C.c_void_p * n)(*[C.cast(C.c_char_p(b), C.c_void_p) for b in bs])
        lens = (C.c_size_t * n)(*[len(b) for b in bs])
        outs = (C.POINTER(C.c_int32) * n)()
        nids = (C.c_int64 * n)()
        check(lib.ttt_tok_encode_batch(self._h, ptrs, lens, n, self._flags(add_bos, add_eos, allow_special,
                                                                            add_special), outs, nids))
        res = []
        for i in range(n):
            res.append(np.ctypeslib.as_array(outs[i], shape=(nids[i],)).copy() if nids[i] else np.zeros(0, np.int32))
        for i in range(n):
            S.free(outs[i])
        return res

    def decode_bytes(self, ids, special=False):
        from .model import as_ids
        a = as_ids(ids, "ids", ndim=(1,)) if len(ids) else np.zeros(0, np.int32)
        txt = C.c_void_p()
        n = C.c_size_t()
        check(lib.ttt_tok_decode(self._h, a.ctypes.data_as(C.POINTER(C.c_int32)), a.shape[0],
                                 1 if special else 0, C.byref(txt), C.byref(n)))
        try:
            return C.string_at(txt, n.value) if n.value else b""
        finally:
            S.free(txt)

    def decode(self, ids, special=False, errors="replace"):
        """Text of ids (invalid UTF-8 bytes replaced unless errors says otherwise);
        special=True writes special tokens as their text."""
        return self.decode_bytes(ids, special).decode("utf-8", errors)

    def save(self, directory):
        """Write tokenizer.json + tokenizer_config.json into directory (atomically)."""
        check(lib.ttt_tok_save(self._h, os.fspath(directory).encode()))
