/* tokfile.c: the binary token-file format (docs/data.md), reader and atomic writer.
 *
 *   offset size  field (all little-endian)
 *        0    8  magic "TTTTOKEN"
 *        8    4  version (1, or 2: a per-token loss mask follows the document offsets)
 *       12    4  token width in bytes (2 or 4)
 *       16    8  n_tokens
 *       24    8  n_docs
 *       32    4  bos id (int32, -1 = none)
 *       36    4  eos id (int32, -1 = none)
 *       40    8  vocab_size (every id < vocab_size)
 *       48   32  tokenizer name, NUL-padded ("llama2", "r50k_base", ...)
 *       80    8  checksum: FNV-1a 64 over the bytes from offset 128 to the end
 *       88   40  reserved, zero
 *      128       n_tokens ids (uint16 or uint32), then n_docs uint64 document start offsets,
 *                then (version 2 only) the loss mask: M = ceil(n_tokens / 8) bytes, the flag of
 *                token i in bit (i mod 8) of byte floor(i / 8), unused high bits of the last byte 0
 * The file size must be exactly 128 + n_tokens * width + n_docs * 8 (+ M in version 2).
 * Mask flag 1: token i counts as a target (the prediction of token i from the tokens before
 * it enters the loss and the accuracy), 0: it does not. Files without a mask are written as
 * version 1, so the builds before version 2 still read them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "ttt_tokenizer.h"

#define OFF_VERSION 8
#define OFF_WIDTH 12
#define OFF_NTOK 16
#define OFF_NDOC 24
#define OFF_BOS 32
#define OFF_EOS 36
#define OFF_VOCAB 40
#define OFF_NAME 48
#define OFF_SUM 80
#define OFF_RESERVED 88

static uint64_t rd64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void wr32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * FNV_PRIME;
    return h;
}

void ttt_tokfile_free(ttt_tokfile *tf) {
    free(tf->ids);
    free(tf->doc_start);
    free(tf->mask);
    tf->ids = NULL;
    tf->doc_start = NULL;
    tf->mask = NULL;
}

/* bytes of the version-2 loss mask of n tokens */
static uint64_t mask_bytes(uint64_t n) { return n / 8 + (n % 8 != 0); }

/* check the header h against the whole file's size and fill out's header fields */
static ttt_status parse_header(const unsigned char *h, size_t have, uint64_t size, const char *origin,
                               ttt_tokfile *out) {
    memset(out, 0, sizeof *out);
    if (have < TTT_TOKFILE_HEADER_BYTES)
        return ttt_err(TTT_ERR_FORMAT, "%s: %llu bytes, shorter than the %d-byte token-file header (truncated?)",
                       origin, (unsigned long long)size, TTT_TOKFILE_HEADER_BYTES);
    if (memcmp(h, TTT_TOKFILE_MAGIC, 8) != 0)
        return ttt_err(TTT_ERR_FORMAT, "%s: not a token file (the first 8 bytes are not \"%s\")", origin,
                       TTT_TOKFILE_MAGIC);
    uint32_t version = rd32(h + OFF_VERSION), width = rd32(h + OFF_WIDTH);
    if (version != 1 && version != 2)
        return ttt_err(TTT_ERR_FORMAT, "%s: token-file version %u; this build reads versions 1 and %d", origin,
                       version, TTT_TOKFILE_VERSION);
    if (width != 2 && width != 4)
        return ttt_err(TTT_ERR_FORMAT, "%s: token width %u bytes; expected 2 or 4", origin, width);
    uint64_t n_tok = rd64(h + OFF_NTOK), n_doc = rd64(h + OFF_NDOC), vocab = rd64(h + OFF_VOCAB);
    int32_t bos = (int32_t)rd32(h + OFF_BOS), eos = (int32_t)rd32(h + OFF_EOS);
    uint64_t limit = width == 2 ? 65536 : (uint64_t)INT32_MAX + 1;
    if (vocab == 0 || vocab > limit)
        return ttt_err(TTT_ERR_FORMAT, "%s: vocabulary size %llu; expected 1..%llu for %u-byte tokens", origin,
                       (unsigned long long)vocab, (unsigned long long)limit, width);
    if (bos < -1 || (int64_t)bos >= (int64_t)vocab || eos < -1 || (int64_t)eos >= (int64_t)vocab)
        return ttt_err(TTT_ERR_FORMAT, "%s: BOS id %d / EOS id %d outside the vocabulary of %llu (or -1)", origin,
                       bos, eos, (unsigned long long)vocab);
    const unsigned char *name = h + OFF_NAME;
    if (!memchr(name, 0, TTT_TOKFILE_NAME_BYTES))
        return ttt_err(TTT_ERR_FORMAT, "%s: tokenizer name is not NUL-terminated", origin);
    for (int i = OFF_RESERVED; i < TTT_TOKFILE_HEADER_BYTES; i++)
        if (h[i])
            return ttt_err(TTT_ERR_FORMAT, "%s: reserved header byte %d is not zero", origin, i);
    /* exact size, computed without overflow: payload = n_tok·width + n_doc·8 (+ ceil(n_tok/8)) */
    uint64_t payload = size - TTT_TOKFILE_HEADER_BYTES;
    uint64_t mbytes = version == 2 ? mask_bytes(n_tok) : 0;
    if (n_tok > payload / width || mbytes > payload - n_tok * width ||
        n_doc > (payload - n_tok * width - mbytes) / 8 || n_tok * width + n_doc * 8 + mbytes != payload) {
        if (version == 2)
            return ttt_err(TTT_ERR_FORMAT, "%s: %llu bytes, but the header says %llu tokens of %u bytes, %llu "
                           "documents and a loss mask of %llu bytes (token-file version 2), i.e. %.0f bytes "
                           "(truncated or corrupt file)", origin, (unsigned long long)size,
                           (unsigned long long)n_tok, width, (unsigned long long)n_doc, (unsigned long long)mbytes,
                           TTT_TOKFILE_HEADER_BYTES + (double)n_tok * width + (double)n_doc * 8 + (double)mbytes);
        return ttt_err(TTT_ERR_FORMAT, "%s: %llu bytes, but the header says %llu tokens of %u bytes and %llu "
                       "documents, i.e. %.0f bytes (truncated or corrupt file)", origin, (unsigned long long)size,
                       (unsigned long long)n_tok, width, (unsigned long long)n_doc,
                       TTT_TOKFILE_HEADER_BYTES + (double)n_tok * width + (double)n_doc * 8);
    }
    if (n_tok > INT64_MAX / 8 || n_doc > INT64_MAX / 8)
        return ttt_err(TTT_ERR_FORMAT, "%s: counts too large", origin);
    if (n_doc > n_tok)
        return ttt_err(TTT_ERR_FORMAT, "%s: %llu documents but only %llu tokens", origin, (unsigned long long)n_doc,
                       (unsigned long long)n_tok);
    out->version = (int32_t)version;
    out->width = (int32_t)width;
    out->n_tokens = (int64_t)n_tok;
    out->n_docs = (int64_t)n_doc;
    out->bos_id = bos;
    out->eos_id = eos;
    out->vocab_size = (int64_t)vocab;
    memcpy(out->tokenizer, name, TTT_TOKFILE_NAME_BYTES);
    out->checksum = rd64(h + OFF_SUM);
    return TTT_OK;
}

ttt_status ttt_tokfile_parse(const void *data, size_t size, const char *origin, int header_only, ttt_tokfile *out) {
    const unsigned char *h = data;
    TRY(parse_header(h, size, size, origin, out));
    uint64_t n_tok = (uint64_t)out->n_tokens, n_doc = (uint64_t)out->n_docs, vocab = (uint64_t)out->vocab_size;
    uint32_t width = (uint32_t)out->width;
    size_t payload = size - TTT_TOKFILE_HEADER_BYTES;
    if (header_only) return TTT_OK;

    const unsigned char *body = h + TTT_TOKFILE_HEADER_BYTES;
    uint64_t sum = fnv1a(FNV_OFFSET, body, (size_t)payload);
    if (sum != out->checksum)
        return ttt_err(TTT_ERR_FORMAT, "%s: checksum mismatch (stored %016llx, computed %016llx): the file is "
                       "corrupt", origin, (unsigned long long)out->checksum, (unsigned long long)sum);
    out->ids = malloc((size_t)(n_tok ? n_tok : 1) * sizeof *out->ids);
    out->doc_start = malloc((size_t)(n_doc ? n_doc : 1) * sizeof *out->doc_start);
    if (out->version == 2) out->mask = malloc((size_t)(n_tok ? n_tok : 1));
    if (!out->ids || !out->doc_start || (out->version == 2 && !out->mask)) {
        ttt_tokfile_free(out);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory for %llu tokens", origin, (unsigned long long)n_tok);
    }
    for (uint64_t i = 0; i < n_tok; i++) {
        uint32_t v = width == 2 ? (uint32_t)(body[2 * i] | body[2 * i + 1] << 8) : rd32(body + 4 * i);
        if (v >= vocab) {
            ttt_tokfile_free(out);
            return ttt_err(TTT_ERR_FORMAT, "%s: token %llu is id %u, outside the vocabulary of %llu", origin,
                           (unsigned long long)i, v, (unsigned long long)vocab);
        }
        out->ids[i] = (int32_t)v;
    }
    const unsigned char *d = body + n_tok * width;
    for (uint64_t i = 0; i < n_doc; i++) {
        uint64_t v = rd64(d + 8 * i);
        uint64_t prev = i ? (uint64_t)out->doc_start[i - 1] : 0;
        if ((i == 0 && v != 0) || (i > 0 && v <= prev) || v >= n_tok) {
            ttt_tokfile_free(out);
            return ttt_err(TTT_ERR_FORMAT, "%s: document %llu starts at token %llu; starts must begin at 0, increase "
                           "and stay below %llu", origin, (unsigned long long)i, (unsigned long long)v,
                           (unsigned long long)n_tok);
        }
        out->doc_start[i] = (int64_t)v;
    }
    if (out->version == 2) {
        const unsigned char *mk = d + n_doc * 8;
        uint64_t mb = mask_bytes(n_tok);
        if (n_tok % 8 && mk[mb - 1] >> (n_tok % 8)) {
            ttt_tokfile_free(out);
            return ttt_err(TTT_ERR_FORMAT, "%s: the loss mask's last byte (0x%02x) has bits set past token %llu, the "
                           "last one (corrupt file)", origin, mk[mb - 1], (unsigned long long)(n_tok - 1));
        }
        for (uint64_t i = 0; i < n_tok; i++) out->mask[i] = (uint8_t)(mk[i / 8] >> (i % 8) & 1);
    }
    return TTT_OK;
}

ttt_status ttt_tokfile_read(const char *path, ttt_tokfile *out) {
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    TRY(ttt_read_file(path, (size_t)1 << 40, &buf, &len));
    ttt_status s = ttt_tokfile_parse(buf, len, path, 0, out);
    free(buf);
    return s;
}

ttt_status ttt_tokfile_read_header(const char *path, ttt_tokfile *out) {
    memset(out, 0, sizeof *out);
    FILE *fp;
    size_t size;
    TRY(ttt_fopen_regular(path, &fp, &size));
    unsigned char h[TTT_TOKFILE_HEADER_BYTES];
    size_t got = fread(h, 1, sizeof h, fp);
    int bad = ferror(fp);
    fclose(fp);
    if (bad) return ttt_err(TTT_ERR_IO, "%s: cannot read the header", path);
    return parse_header(h, got, (uint64_t)size, path, out);
}

ttt_status ttt_tokfile_check_model(const ttt_tokfile *tf, const ttt_config *cfg, const char *path) {
    if (tf->vocab_size > cfg->vocab_size)
        return ttt_err(TTT_ERR_ARG, "%s: token ids go up to %lld but the model's vocab_size is %lld", path,
                       (long long)tf->vocab_size, (long long)cfg->vocab_size);
    if (tf->tokenizer[0] && cfg->tokenizer[0] && strcmp(tf->tokenizer, cfg->tokenizer) != 0)
        return ttt_err(TTT_ERR_ARG,
                       "%s: made by tokenizer \"%s\", but the model was trained with \"%s\" (the ids "
                       "would mean other tokens; tokenize the text with the model's tokenizer)",
                       path, tf->tokenizer, cfg->tokenizer);
    return TTT_OK;
}

ttt_status ttt_tokfile_write(const char *path, const ttt_tokfile *tf) {
    int64_t V = tf->vocab_size;
    int width = tf->width ? tf->width : (V <= 65536 ? 2 : 4);
    if (width != 2 && width != 4) return ttt_err(TTT_ERR_ARG, "%s: token width must be 2 or 4, got %d", path, width);
    if (V <= 0 || (width == 2 && V > 65536) || V > (int64_t)INT32_MAX + 1)
        return ttt_err(TTT_ERR_ARG, "%s: vocabulary size %lld does not fit %d-byte tokens", path, (long long)V, width);
    if (tf->n_tokens < 0 || tf->n_docs < 0 || tf->n_docs > tf->n_tokens)
        return ttt_err(TTT_ERR_ARG, "%s: %lld documents for %lld tokens", path, (long long)tf->n_docs,
                       (long long)tf->n_tokens);
    if (strnlen(tf->tokenizer, TTT_TOKFILE_NAME_BYTES) >= TTT_TOKFILE_NAME_BYTES)
        return ttt_err(TTT_ERR_ARG, "%s: tokenizer name longer than %d bytes", path, TTT_TOKFILE_NAME_BYTES - 1);
    for (int64_t i = 0; i < tf->n_tokens; i++)
        if (tf->ids[i] < 0 || tf->ids[i] >= V)
            return ttt_err(TTT_ERR_ARG, "%s: token %lld is id %d, outside the vocabulary of %lld", path, (long long)i,
                           tf->ids[i], (long long)V);
    for (int64_t i = 0; i < tf->n_docs; i++)
        if ((i == 0 && tf->doc_start[0] != 0) || (i > 0 && tf->doc_start[i] <= tf->doc_start[i - 1]) ||
            tf->doc_start[i] >= tf->n_tokens)
            return ttt_err(TTT_ERR_ARG, "%s: document %lld starts at %lld (starts must begin at 0 and increase)", path,
                           (long long)i, (long long)tf->doc_start[i]);
    for (int64_t i = 0; tf->mask && i < tf->n_tokens; i++)
        if (tf->mask[i] > 1)
            return ttt_err(TTT_ERR_ARG, "%s: the loss mask of token %lld is %u; expected 0 or 1", path, (long long)i,
                           tf->mask[i]);

    const uint32_t version = tf->mask ? 2 : 1;
    size_t mbytes = tf->mask ? (size_t)mask_bytes((uint64_t)tf->n_tokens) : 0;
    size_t body_n = (size_t)tf->n_tokens * (size_t)width + (size_t)tf->n_docs * 8 + mbytes;
    unsigned char *body = malloc(body_n ? body_n : 1);
    if (!body) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    for (int64_t i = 0; i < tf->n_tokens; i++) {
        uint32_t v = (uint32_t)tf->ids[i];
        if (width == 2) {
            body[2 * i] = (unsigned char)v;
            body[2 * i + 1] = (unsigned char)(v >> 8);
        } else {
            wr32(body + 4 * i, v);
        }
    }
    unsigned char *d = body + (size_t)tf->n_tokens * (size_t)width;
    for (int64_t i = 0; i < tf->n_docs; i++) wr64(d + 8 * i, (uint64_t)tf->doc_start[i]);
    unsigned char *mk = d + (size_t)tf->n_docs * 8;
    if (mbytes) memset(mk, 0, mbytes);
    for (int64_t i = 0; tf->mask && i < tf->n_tokens; i++) mk[i / 8] |= (unsigned char)(tf->mask[i] << (i % 8));

    unsigned char h[TTT_TOKFILE_HEADER_BYTES] = {0};
    memcpy(h, TTT_TOKFILE_MAGIC, 8);
    wr32(h + OFF_VERSION, version);
    wr32(h + OFF_WIDTH, (uint32_t)width);
    wr64(h + OFF_NTOK, (uint64_t)tf->n_tokens);
    wr64(h + OFF_NDOC, (uint64_t)tf->n_docs);
    wr32(h + OFF_BOS, (uint32_t)tf->bos_id);
    wr32(h + OFF_EOS, (uint32_t)tf->eos_id);
    wr64(h + OFF_VOCAB, (uint64_t)V);
    memcpy(h + OFF_NAME, tf->tokenizer, strnlen(tf->tokenizer, TTT_TOKFILE_NAME_BYTES));
    wr64(h + OFF_SUM, fnv1a(FNV_OFFSET, body, body_n));

    ttt_atomic_file af;
    ttt_status s = ttt_atomic_open(&af, path);
    if (s == TTT_OK) {
        ttt_atomic_write(&af, h, sizeof h);
        ttt_atomic_write(&af, body, body_n);
        s = ttt_atomic_commit(&af);
    }
    free(body);
    return s;
}
