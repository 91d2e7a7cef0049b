/* tiktoken.c: the tiktoken encodings (r50k_base = GPT-2, p50k_base, cl100k_base, o200k_base):
 * the table of their split patterns and special tokens, and a thin loader of their rank files
 * into a configuration of the tokenizer.json engine (hf.h):
 *   pre-tokenizer  Split by the encoding's pattern (PCRE2), Isolated
 *   model          byte-level BPE over raw bytes: a piece that is a token is that token
 *                  (ignore_merges); otherwise adjacent symbols merge when the bytes they span
 *                  are a token, the lowest rank first, where a token's rank is its id
 *                  (rank_by_bytes: tiktoken's rule, no merge table)
 *   added          the special tokens (ordinary text unless TTT_TOK_ALLOW_SPECIAL)
 *   decoder        Fuse: the tokens' bytes, concatenated */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"

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
    int64_t V = enc->n_vocab;
    t->vocab_size = V;
    t->bos = t->eos = enc->special[0].id; /* <|endoftext|> */

    char *buf;
    size_t len;
    TRY(ttt_read_file(path, (size_t)64 << 20, &buf, &len));
    hf_tok *h = NULL;
    ttt_status s = hf_new(t, &h);
    if (s == TTT_OK) s = hf_set_size(h, V, V);
    /* every token is at most as long as its base64 text, so len bytes hold all of them */
    unsigned char *tok = s == TTT_OK ? malloc(len + 1) : NULL;
    hf_buf blob = {0};
    if (s == TTT_OK && !tok) s = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
    int64_t line = 0, n_ranks = 0;
    size_t p = 0;
    if (s == TTT_OK && len == 0) s = ttt_err(TTT_ERR_FORMAT, "%s: empty file (expected lines 'BASE64 RANK')", path);
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
            k = b64_decode(buf + p, sp - p, tok);
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
        for (int i = 0; s == TTT_OK && i < enc->n_special; i++)
            if (rank == enc->special[i].id)
                s = ttt_err(TTT_ERR_FORMAT, "%s:%lld: rank %lld is the id of %s's special token %s (wrong file or --encoding?)",
                            path, (long long)line, (long long)rank, t->name, enc->special[i].text);
        if (s == TTT_OK && h->str_off[rank] >= 0)
            s = ttt_err(TTT_ERR_FORMAT, "%s:%lld: rank %lld appears twice", path, (long long)line, (long long)rank);
        int64_t dummy;
        if (s == TTT_OK && strmap_get(&h->vocab, tok, (size_t)k, &dummy))
            s = ttt_err(TTT_ERR_FORMAT, "%s:%lld: token '%.*s' appears twice (ranks %lld and %lld)", path,
                        (long long)line, (int)(sp - p > 60 ? 60 : sp - p), buf + p, (long long)dummy,
                        (long long)rank);
        if (s == TTT_OK) {
            if (strmap_put(&h->vocab, tok, (size_t)k, rank) ||
                hf_set_text(h, &blob, (int32_t)rank, (const char *)tok, (size_t)k) != TTT_OK)
                s = ttt_err(TTT_ERR_NOMEM, "%s: out of memory", path);
            n_ranks++;
        }
        p = e + 1;
    }
    free(buf);
    free(tok);
    if (s == TTT_OK && n_ranks != enc->n_ranks)
        s = ttt_err(TTT_ERR_FORMAT, "%s: %lld ranks, but %s has %lld (truncated file, or wrong --encoding?)",
                    path, (long long)n_ranks, t->name, (long long)enc->n_ranks);
    if (s == TTT_OK) {
        h->byte_level = 1;
        h->rank_by_bytes = 1;
        h->ignore_merges = 1;
        h->prefix = calloc(1, 1);
        h->suffix = calloc(1, 1);
        if (!h->prefix || !h->suffix || strmap_init(&h->pairs, 1)) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    if (s == TTT_OK) s = hf_model_finish(h);
    for (int b = 0; s == TTT_OK && b < 256; b++)
        if (h->byte_id[b] < 0)
            s = ttt_err(TTT_ERR_FORMAT, "%s: no token for the single byte 0x%02X (a byte-level BPE rank file "
                        "needs all 256; truncated file?)", path, b);
    /* the pipeline: the split pattern, the special tokens (they decode to their text), Fuse */
    hf_pre pre = {.type = HFP_SPLIT, .pat.re = -1, .behavior = HFB_ISOLATED};
    if (s == TTT_OK) s = hf_add_regex(h, enc->pattern, t->name, &pre.pat.re);
    if (s == TTT_OK) s = hf_push_pre(h, pre);
    for (int i = 0; s == TTT_OK && i < enc->n_special; i++) {
        hf_added_tok a = {.content = (char *)enc->special[i].text, .len = strlen(enc->special[i].text),
                          .id = enc->special[i].id, .special = 1};
        s = hf_add_token(h, &blob, &a, path);
    }
    if (s == TTT_OK) s = hf_added_finish(h);
    if (h) h->special_on_request = 1;
    if (s == TTT_OK) {
        hf_dec fuse = {.type = HFD_FUSE, .pat.re = -1, .s = calloc(1, 1)};
        s = fuse.s ? hf_push_dec(h, fuse) : ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    if (h) h->blob = blob.p;
    else free(blob.p);
    return s;
}

