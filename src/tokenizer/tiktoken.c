/* tiktoken.c: byte-level BPE of the tiktoken encodings (r50k_base = GPT-2, p50k_base,
 * cl100k_base, o200k_base): the rank-file loader, the table of split patterns and special
 * tokens, and the encoder of one text segment (pre-tokenize with PCRE2, then merge the bytes of
 * each piece by rank, where a token's rank is also its id). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "tokenizer/tok_impl.h"
#include "tokenizer/tok_state.h"

/* Split patterns as published with the encodings (the forms in gpt-tokenizer@4.0.0's
 * src/encodingParams/constants.ts); special tokens and vocabulary sizes as in tiktoken. */
#define CONTRACTION "'(?:[sS]|[dD]|[mM]|[tT]|[lL][lL]|[vV][eE]|[rR][eE])"
static const char R50K_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char CL100K_PATTERN[] =
    CONTRACTION "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s+$"
                "|\\s*[\\r\\n]|\\s+(?!\\S)|\\s";
static const char O200K_PATTERN[] =
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
    "(?:" CONTRACTION ")?"
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
    "(?:" CONTRACTION ")?"
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

typedef struct {
    const char *name;
    const char *pattern;
    int64_t n_vocab;
    int64_t n_ranks; /* lines of the rank file */
    int n_special;
    struct {
        const char *text;
        int32_t id;
    } special[5];
} encoding;

static const encoding ENCODINGS[] = {
    {"r50k_base", R50K_PATTERN, 50257, 50256, 1, {{"<|endoftext|>", 50256}}},
    {"p50k_base", R50K_PATTERN, 50281, 50280, 1, {{"<|endoftext|>", 50256}}},
    {"cl100k_base",
     CL100K_PATTERN,
     100277,
     100256,
     5,
     {{"<|endoftext|>", 100257},
      {"<|fim_prefix|>", 100258},
      {"<|fim_middle|>", 100259},
      {"<|fim_suffix|>", 100260},
      {"<|endofprompt|>", 100276}}},
    {"o200k_base", O200K_PATTERN, 200019, 199998, 2, {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}}},
};
#define N_ENCODINGS (int)(sizeof ENCODINGS / sizeof ENCODINGS[0])

const char *tiktoken_encoding_name(int i) { return i >= 0 && i < N_ENCODINGS ? ENCODINGS[i].name : NULL; }

const char *tiktoken_encoding_pattern(const char *name) {
    for (int i = 0; i < N_ENCODINGS; i++)
        if (strcmp(ENCODINGS[i].name, name) == 0) return ENCODINGS[i].pattern;
    return NULL;
}

static const encoding *find_encoding(const char *name) {
    for (int i = 0; i < N_ENCODINGS; i++)
        if (strcmp(ENCODINGS[i].name, name) == 0) return &ENCODINGS[i];
    return NULL;
}

int64_t tiktoken_encoding_vocab(const char *name) {
    const encoding *e = find_encoding(name);
    return e ? e->n_vocab : -1;
}


/* the encoding whose name starts the file's base name ("r50k_base.tiktoken") */
static const encoding *encoding_from_path(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (int i = 0; i < N_ENCODINGS; i++) {
        size_t n = strlen(ENCODINGS[i].name);
        if (strncmp(base, ENCODINGS[i].name, n) == 0 && (base[n] == '.' || base[n] == 0))
            return &ENCODINGS[i];
    }
    return NULL;
}

static int b64_value(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* standard base64 with '=' padding; returns the decoded length or -1 if malformed */
static int64_t b64_decode(const char *s, size_t n, unsigned char *out) {
    if (n == 0 || n % 4) return -1;
    int64_t k = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)s[i + j];
            if (c == '=' && i + 4 == n && j >= 2) {
                v[j] = 0, pad++;
            } else {
                if (pad) return -1; /* data after padding */
                v[j] = b64_value(c);
                if (v[j] < 0) return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[k++] = (unsigned char)(w >> 16);
        if (pad < 2) out[k++] = (unsigned char)(w >> 8);
        if (pad < 1) out[k++] = (unsigned char)w;
    }
    return k;
}

ttt_status tiktoken_load(ttt_tok *t, const char *path, const char *encoding_name) {
    const encoding *enc;
    if (encoding_name) {
        enc = find_encoding(encoding_name);
        if (!enc)
            return ttt_err(TTT_ERR_ARG,
                           "unknown tiktoken encoding '%s' (expected r50k_base, p50k_base, "
                           "cl100k_base or o200k_base)",
                           encoding_name);
    } else {
        enc = encoding_from_path(path);
        if (!enc)
            return ttt_err(TTT_ERR_ARG,
                           "%s: cannot tell the encoding from the file name (expected "
                           "r50k_base.tiktoken, p50k_base.tiktoken, cl100k_base.tiktoken or "
                           "o200k_base.tiktoken); name it with --encoding",
                           path);
    }
    t->kind = TTT_TOK_TIKTOKEN;
    snprintf(t->name, sizeof t->name, "%s", enc->name);
    t->vocab_size = enc->n_vocab;
    t->bos = t->eos = enc->special[0].id; /* <|endoftext|> */
    t->n_special = enc->n_special;
    for (int i = 0; i < enc->n_special; i++) {
        snprintf(t->special[i].text, sizeof t->special[i].text, "%s", enc->special[i].text);
        t->special[i].id = enc->special[i].id;
    }

    char *buf;
    size_t len;
    TRY(ttt_read_file(path, (size_t)64 << 20, &buf, &len));
    ttt_status s = TTT_OK;
    int64_t V = t->vocab_size;
    /* every token is at most as long as its base64 text, so len bytes hold all of them */
    t->blob = malloc(len + (size_t)enc->n_special * 32 + 1);
    t->piece_off = malloc((size_t)V * sizeof *t->piece_off);
    t->piece_len = malloc((size_t)V * sizeof *t->piece_len);
    if (!t->blob || !t->piece_off || !t->piece_len || strmap_init(&t->ranks, V)) {
        free(buf);
        return ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int64_t i = 0; i < V; i++) t->piece_off[i] = -1, t->piece_len[i] = 0;
    size_t blob_n = 0;
    int64_t line = 0, n_ranks = 0;
    size_t p = 0;
    if (len == 0) s = ttt_err(TTT_ERR_FORMAT, "%s: empty file (expected lines 'BASE64 RANK')", path);
    while (s == TTT_OK && p < len) {
        line++;
        size_t e = p;
        while (e < len && buf[e] != '\n') e++;
        if (e == len)
            s = ttt_err(TTT_ERR_FORMAT, "%s:%lld: last line has no newline (truncated file?)", path,
                        (long long)line);
        size_t sp = p;
        while (s == TTT_OK && sp < e && buf[sp] != ' ') sp++;
        if (s == TTT_OK && (sp == e || sp == p))
            s = ttt_err(TTT_ERR_FORMAT, "%s:%lld: expected 'BASE64 RANK'", path, (long long)line);
        int64_t k = 0;
        if (s == TTT_OK) {
            k = b64_decode(buf + p, sp - p, t->blob + blob_n);
            if (k <= 0)
                s = ttt_err(TTT_ERR_FORMAT, "%s:%lld: invalid base64 token '%.*s'", path, (long long)line,
                            (int)(sp - p > 60 ? 60 : sp - p), buf + p);
        }
        int64_t rank = -1;
        if (s == TTT_OK) {
            char *end;
            errno = 0;
            long long r = strtoll(buf + sp + 1, &end, 10);
            if (errno || end != buf + e || sp + 1 == e || buf[sp + 1] == '-' || buf[sp + 1] == '+' ||
                buf[sp + 1] == ' ')
                s = ttt_err(TTT_ERR_FORMAT, "%s:%lld: rank must be a non-negative decimal integer, got '%.*s'",
                            path, (long long)line, (int)(e - sp - 1 > 30 ? 30 : e - sp - 1), buf + sp + 1);
            else
                rank = r;
        }
        if (s == TTT_OK && rank >= V)
            s = ttt_err(TTT_ERR_FORMAT, "%s:%lld: rank %lld is outside %s's vocabulary of %lld ids (wrong file or --encoding?)",
                        path, (long long)line, (long long)rank, t->name, (long long)V);
        for (int i = 0; s == TTT_OK && i < t->n_special; i++)
            if (rank == t->special[i].id)
                s = ttt_err(TTT_ERR_FORMAT, "%s:%lld: rank %lld is the id of %s's special token %s (wrong file or --encoding?)",
                            path, (long long)line, (long long)rank, t->name, t->special[i].text);
        if (s == TTT_OK && t->piece_off[rank] >= 0)
            s = ttt_err(TTT_ERR_FORMAT, "%s:%lld: rank %lld appears twice", path, (long long)line, (long long)rank);
        int64_t dummy;
        if (s == TTT_OK && strmap_get(&t->ranks, t->blob + blob_n, (size_t)k, &dummy))
            s = ttt_err(TTT_ERR_FORMAT, "%s:%lld: token '%.*s' appears twice (ranks %lld and %lld)", path,
                        (long long)line, (int)(sp - p > 60 ? 60 : sp - p), buf + p, (long long)dummy,
                        (long long)rank);
        if (s == TTT_OK) {
            if (strmap_put(&t->ranks, t->blob + blob_n, (size_t)k, rank)) s = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
            t->piece_off[rank] = (int64_t)blob_n;
            t->piece_len[rank] = (int32_t)k;
            blob_n += (size_t)k;
            n_ranks++;
        }
        p = e + 1;
    }
    free(buf);
    if (s == TTT_OK && n_ranks != enc->n_ranks)
        s = ttt_err(TTT_ERR_FORMAT, "%s: %lld ranks, but %s has %lld (truncated file, or wrong --encoding?)",
                    path, (long long)n_ranks, t->name, (long long)enc->n_ranks);
    for (int b = 0; s == TTT_OK && b < 256; b++) {
        unsigned char c = (unsigned char)b;
        int64_t r;
        if (!strmap_get(&t->ranks, &c, 1, &r))
            s = ttt_err(TTT_ERR_FORMAT, "%s: no token for the single byte 0x%02X (a byte-level BPE rank file "
                        "needs all 256; truncated file?)", path, b);
        else
            t->byte_rank[b] = (int32_t)r;
    }
    /* special tokens decode to their text */
    for (int i = 0; s == TTT_OK && i < t->n_special; i++) {
        size_t n = strlen(t->special[i].text);
        memcpy(t->blob + blob_n, t->special[i].text, n);
        t->piece_off[t->special[i].id] = (int64_t)blob_n;
        t->piece_len[t->special[i].id] = (int32_t)n;
        blob_n += n;
    }
    if (s == TTT_OK) s = pretok_compile(&t->pre, enc->pattern, t->name);
    return s;
}

/* the rank of the bytes spanned by a and b, which is also the id they merge into */
static int64_t pair_rank(const void *ctx, const bpe_sym *a, const bpe_sym *b, int32_t *merged) {
    const tok_state *st = ctx;
    int64_t r;
    if (!strmap_get(&st->tok->ranks, st->word + a->start, (size_t)(b->end - a->start), &r)) return BPE_NO_MERGE;
    *merged = (int32_t)r;
    return r;
}

typedef struct {
    tok_state *st;
    const unsigned char *text;
} piece_ctx;

static int encode_chunk(void *vctx, size_t b, size_t e);

/* a piece longer than TOK_MAX_PIECE is merged in chunks cut before a UTF-8 lead byte */
static int encode_piece(void *vctx, size_t b, size_t e) {
    const unsigned char *text = ((piece_ctx *)vctx)->text;
    while (e - b > TOK_MAX_PIECE) {
        size_t cut = b + TOK_MAX_PIECE;
        for (int k = 0; k < 3 && (text[cut] & 0xC0) == 0x80; k++) cut--;
        if (encode_chunk(vctx, b, cut)) return -1;
        b = cut;
    }
    return encode_chunk(vctx, b, e);
}

static int encode_chunk(void *vctx, size_t b, size_t e) {
    piece_ctx *c = vctx;
    tok_state *st = c->st;
    const ttt_tok *t = st->tok;
    const unsigned char *w = c->text + b;
    size_t n = e - b;
    int64_t r;
    if (strmap_get(&t->ranks, w, n, &r)) { /* most pieces are a token of their own */
        int32_t id = (int32_t)r;
        return tok_out_push(st, &id, 1);
    }
    if (n > INT32_MAX / 2 || bpe_work_reserve(&st->bpe, (int64_t)n)) return -1;
    for (size_t i = 0; i < n; i++) {
        bpe_sym *s = &st->bpe.syms[i];
        s->id = t->byte_rank[w[i]];
        s->start = (int32_t)i;
        s->end = (int32_t)i + 1;
    }
    st->word = w;
    return tok_merge_cached(st, w, n, (int64_t)n, pair_rank);
}

ttt_status tiktoken_encode_segment(tok_state *st, const char *text, size_t len, size_t begin, size_t end,
                                   size_t *stop) {
    piece_ctx c = {st, (const unsigned char *)text};
    return pretok_split(&st->tok->pre, &st->pst, text, len, begin, end, encode_piece, &c, stop);
}

/* A line that starts with an ASCII letter or digit nearly always starts a new piece (no
 * alternative of the four patterns matches a newline followed by one; but a lookahead such as
 * \s+(?!\S) still sees it, so the encoder checks that the previous segment ended there). */
int tiktoken_boundary(const char *text, size_t i) {
    unsigned char c = (unsigned char)text[i];
    return text[i - 1] == '\n' && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
}
