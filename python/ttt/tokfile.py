"""tokfile.py: token files (".tok", docs/data.md): ttt.tokfile.read(path) and
ttt.tokfile.write(path, ids, ...), through the library's reader (magic, version, exact size,
checksum, ids < vocab_size, document offsets all checked) and its atomic writer (temp file +
rename; the FNV-1a checksum is computed there).

Layout: a 128-byte little-endian header (magic "TTTTOKEN", version, token width 2 or 4, token
and document counts, BOS/EOS ids, vocabulary size, tokenizer name, checksum), the ids (width
bytes each), then the start offset (int64) of every document."""
import ctypes as C
import os
from dataclasses import dataclass, field

import numpy as np

from ._lib import ArgumentError, DTypeError, check, lib
from . import _structs as S


@dataclass
class TokenFile:
    ids: np.ndarray                 # int32 [n_tokens]
    doc_start: np.ndarray           # int64 [n_docs], strictly increasing, first 0
    vocab_size: int
    bos_id: int = -1
    eos_id: int = -1
    tokenizer: str = ""
    width: int = 0                  # bytes per token on disk (2 or 4)
    checksum: int = 0
    version: int = 1

    def documents(self):
        """The documents as a list of id arrays (views into ids)."""
        ends = list(self.doc_start[1:]) + [len(self.ids)]
        return [self.ids[s:e] for s, e in zip(self.doc_start, ends)]


def read(path, header_only=False):
    """Read and validate a token file; returns a TokenFile (ids empty with header_only)."""
    tf = S.new(S.Tokfile)
    fn = lib.ttt_tokfile_read_header if header_only else lib.ttt_tokfile_read
    check(fn(os.fspath(path).encode(), C.byref(tf)))
    try:
        if header_only or tf.n_tokens == 0:
            ids = np.zeros(0, np.int32)
        else:
            ids = np.ctypeslib.as_array(tf.ids, shape=(tf.n_tokens,)).copy()
        if header_only or tf.n_docs == 0:
            ds = np.zeros(0, np.int64)
        else:
            ds = np.ctypeslib.as_array(tf.doc_start, shape=(tf.n_docs,)).copy()
        return TokenFile(ids=ids, doc_start=ds, vocab_size=int(tf.vocab_size), bos_id=int(tf.bos_id),
                         eos_id=int(tf.eos_id), tokenizer=tf.tokenizer.decode("utf-8", "replace"),
                         width=int(tf.width), checksum=int(tf.checksum), version=int(tf.version))
    finally:
        lib.ttt_tokfile_free(C.byref(tf))


def write(path, ids, vocab_size, doc_start=None, bos_id=-1, eos_id=-1, tokenizer="", width=0):
    """Write a token file atomically. ids: a 1-D integer array (or a list of 1-D arrays, one per
    document, which also gives doc_start); doc_start: document offsets (default: one document
    at 0); width 0 picks 2 bytes per token when vocab_size <= 65536, else 4."""
    from .model import as_ids
    if isinstance(ids, (list, tuple)) and ids and not np.isscalar(ids[0]):
        if doc_start is not None:
            raise ArgumentError("tokfile.write: give either a list of documents or doc_start, not both")
        docs = [as_ids(d, "ids[%d]" % i, ndim=(1,)) for i, d in enumerate(ids)]
        doc_start = np.cumsum([0] + [len(d) for d in docs[:-1]], dtype=np.int64)
        a = np.concatenate(docs).astype(np.int32)
    else:
        a = as_ids(ids, "ids", ndim=(1,))
    if doc_start is None:
        ds = np.zeros(1, np.int64)
    else:
        ds = np.asarray(doc_start)
        if ds.dtype.kind not in "iu" or ds.ndim != 1:
            raise DTypeError("doc_start: a 1-D integer array is needed, got dtype %s shape %s" % (ds.dtype, ds.shape))
        ds = np.ascontiguousarray(ds, dtype=np.int64)
    name = str(tokenizer).encode()
    if len(name) >= 32:
        raise ArgumentError("tokenizer name %r: at most 31 bytes" % (tokenizer,))
    tf = S.new(S.Tokfile)
    tf.version = 1
    tf.width = int(width)
    tf.n_tokens = a.shape[0]
    tf.n_docs = ds.shape[0]
    tf.bos_id = int(bos_id)
    tf.eos_id = int(eos_id)
    tf.vocab_size = int(vocab_size)
    tf.tokenizer = name
    tf.ids = a.ctypes.data_as(C.POINTER(C.c_int32))
    tf.doc_start = ds.ctypes.data_as(C.POINTER(C.c_int64))
    check(lib.ttt_tokfile_write(os.fspath(path).encode(), C.byref(tf)))
