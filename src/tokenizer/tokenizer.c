/* tokenizer.c: the ttt_tok interface (include/ttt_tokenizer.h): loading by path, special
 * tokens, decoding, and parallel encoding. Each document is cut into segments at line starts
 * (tiktoken_boundary, llama_boundary); the segments of all documents are encoded on the OpenMP
 * threads, each thread with its own scratch space and word cache (a tok_state, tok_state.h),
 * and joined in order. For tiktoken a segment's last piece may run past the segment's end (a
 * lookahead saw the next line); the next segment is then encoded again, serially, from where
 * that piece ended. So the result is exactly that of one serial pass, whatever the number of
 * threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"
#include "tokenizer/tok_state.h"

size_t tok_segment_bytes = 64 * 1024; /* segments are about this long where possible */

/* ---- loading ---------------------------------------------------------------------------- */

ttt_status ttt_tok_load(const char *path, const char *encoding, ttt_tok **out) {
    *out = NULL;
    struct stat sb;
    if (!path || stat(path, &sb) != 0)
        return ttt_err(TTT_ERR_IO, "%s: no such file or directory (expected a .tiktoken rank file, a "
                       "tokenizer.json or a directory holding one, or a Llama-2 directory with vocab.txt and "
                       "merges.u16le)", path ? path : "(null)");
    ttt_tok *t = calloc(1, sizeof *t);
    if (!t) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    ttt_status s;
    size_t n = strlen(path);
    char *json = S_ISDIR(sb.st_mode) ? ttt_path_join(path, "tokenizer.json") : NULL;
    struct stat jb;
    if (S_ISDIR(sb.st_mode) && !json) {
        s = ttt_err(TTT_ERR_NOMEM, "out of memory");
    } else if (json && stat(json, &jb) == 0) {
        s = hf_load(t, json);
    } else if (S_ISDIR(sb.st_mode)) {
        s = llama_load(t, path);
    } else if (n >= 5 && strcmp(path + n - 5, ".json") == 0) {
        s = hf_load(t, path);
    } else {
        s = tiktoken_load(t, path, encoding);
    }
    free(json);
    if (s != TTT_OK) {
        ttt_tok_free(t);
        return s;
    }
    *out = t;
    return TTT_OK;
}

void ttt_tok_free(ttt_tok *t) {
    if (!t) return;
    free(t->blob);
    free(t->piece_off);
    free(t->piece_len);
    strmap_free(&t->ranks);
    strmap_free(&t->pieces);
    pretok_free(&t->pre);
    free(t->pairs);
    hf_free(t->hf);
    free(t);
}

ttt_tok_kind ttt_tok_kind_of(const ttt_tok *t) { return t->kind; }
const char *ttt_tok_name(const ttt_tok *t) { return t->name; }
int64_t ttt_tok_vocab_size(const ttt_tok *t) { return t->vocab_size; }
int32_t ttt_tok_bos(const ttt_tok *t) { return t->bos; }
int32_t ttt_tok_eos(const ttt_tok *t) { return t->eos; }

int32_t ttt_tok_special_id(const ttt_tok *t, const char *text) {
    if (t->kind == TTT_TOK_HF) {
        int64_t v;
        return strmap_get(&t->hf->added_by_text, text, strlen(text), &v) ? t->hf->added[v].id : -1;
    }
    for (int i = 0; i < t->n_special; i++)
        if (strcmp(t->special[i].text, text) == 0) return t->special[i].id;
    return -1;
}

static int is_special(const ttt_tok *t, int32_t id) {
    for (int i = 0; i < t->n_special; i++)
        if (t->special[i].id == id) return 1;
    return 0;
}

const char *ttt_tok_piece(const ttt_tok *t, int32_t id, size_t *len) {
    if (t->kind == TTT_TOK_HF) {
        if (id < 0 || id >= t->vocab_size || t->hf->str_off[id] < 0) return NULL;
        if (len) *len = (size_t)t->hf->str_len[id];
        return t->hf->blob + t->hf->str_off[id];
    }
    if (id < 0 || id >= t->vocab_size || t->piece_off[id] < 0) return NULL;
    if (len) *len = (size_t)t->piece_len[id];
    return (const char *)t->blob + t->piece_off[id];
}

/* ---- encoding ----------------------------------------------------------------------------- */

typedef struct {
    int64_t doc;
    size_t part_begin, part_end; /* the run of ordinary text (between special tokens) */
    size_t begin, end;           /* this segment of it */
    size_t stop;                 /* tiktoken: where the segment's last piece ended */
    int32_t special;   /* >= 0: this item is that special token, not text */
    int dummy_prefix;  /* Llama: the first segment of a document */
    int32_t *ids;
    int64_t n;
} work_item;

typedef struct {
    work_item *v;
    int64_t n, cap;
} work_list;

static int work_add(work_list *w, work_item it) {
    if (w->n == w->cap) {
        int64_t c = w->cap ? w->cap * 2 : 64;
        work_item *q = realloc(w->v, (size_t)c * sizeof *q);
        if (!q) return -1;
        w->v = q;
        w->cap = c;
    }
    w->v[w->n++] = it;
    return 0;
}

/* cut text[begin, end) into segments of about tok_segment_bytes at safe boundaries */
static int add_segments(const ttt_tok *t, work_list *w, int64_t doc, const char *text, size_t begin,
                        size_t end, int dummy_prefix) {
    int (*boundary)(const char *, size_t) = t->kind == TTT_TOK_LLAMA ? llama_boundary : tiktoken_boundary;
    size_t b = begin;
    while (b < end) {
        size_t e = end;
        if (end - b > 2 * tok_segment_bytes) {
            size_t i = b + tok_segment_bytes;
            while (i < end && !boundary(text, i)) i++;
            e = end - i < tok_segment_bytes / 2 ? end : i;
        }
        if (work_add(w, (work_item){doc, begin, end, b, e, e, -1, dummy_prefix && b == begin, NULL, 0})) return -1;
        b = e;
    }
    return 0;
}

/* the earliest special-token text in s[b, e) (all of them start with '<'), or -1 */
static int find_special(const ttt_tok *t, const char *s, size_t b, size_t e, size_t *at) {
    for (const char *p = s + b; (p = memchr(p, '<', (size_t)(s + e - p))) != NULL; p++) {
        size_t room = (size_t)(s + e - p);
        for (int i = 0; i < t->n_special; i++) {
            size_t n = strlen(t->special[i].text);
            if (n <= room && memcmp(p, t->special[i].text, n) == 0) {
                *at = (size_t)(p - s);
                return i;
            }
        }
    }
    return -1;
}

/* encode one work item from byte `from` (its begin, or later after an overrun) into it->ids */
static ttt_status encode_item(const ttt_tok *t, tok_state *st, const char *const *texts, work_item *it, size_t from) {
    ttt_status s;
    st->out_n = 0;
    if (it->special >= 0) {
        s = tok_out_push(st, &it->special, 1) ? ttt_err(TTT_ERR_NOMEM, "out of memory") : TTT_OK;
    } else if (t->kind == TTT_TOK_LLAMA) {
        s = llama_encode_segment(st, texts[it->doc] + from, it->end - from, it->dummy_prefix);
    } else {
        const char *part = texts[it->doc] + it->part_begin;
        size_t stop;
        s = tiktoken_encode_segment(st, part, it->part_end - it->part_begin, from - it->part_begin,
                                    it->end - it->part_begin, &stop);
        it->stop = it->part_begin + stop;
    }
    if (s == TTT_OK && st->out_n > 0) {
        it->ids = malloc((size_t)st->out_n * sizeof *it->ids);
        if (!it->ids) return ttt_err(TTT_ERR_NOMEM, "out of memory");
        memcpy(it->ids, st->out, (size_t)st->out_n * sizeof *it->ids);
        it->n = st->out_n;
    }
    return s;
}

ttt_status ttt_tok_encode_batch(const ttt_tok *t, const char *const *texts, const size_t *lens,
                                int64_t n_docs, int flags, int32_t **ids, int64_t *n_ids) {
    if (t->kind == TTT_TOK_HF) return hf_encode_batch(t, texts, lens, n_docs, flags, ids, n_ids);
    for (int64_t d = 0; d < n_docs; d++) ids[d] = NULL, n_ids[d] = 0;
    work_list w = {0};
    size_t total = 0;
    int oom = 0;
    for (int64_t d = 0; d < n_docs && !oom; d++) {
        const char *s = texts[d];
        size_t len = lens[d], b = 0;
        total += len;
        if ((flags & TTT_TOK_ALLOW_SPECIAL) && t->kind == TTT_TOK_TIKTOKEN) {
            size_t at;
            int k;
            while (!oom && (k = find_special(t, s, b, len, &at)) >= 0) {
                oom |= add_segments(t, &w, d, s, b, at, 0);
                oom |= work_add(&w, (work_item){d, at, at, at, at, at, t->special[k].id, 0, NULL, 0});
                b = at + strlen(t->special[k].text);
            }
        }
        if (!oom) oom |= add_segments(t, &w, d, s, b, len, t->kind == TTT_TOK_LLAMA);
    }
    if (oom) {
        free(w.v);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }

    ttt_status status = TTT_OK;
    char msg[512] = "";
    tok_state main_st;
    int has_main = 0;
    int parallel = total >= 2 * tok_segment_bytes && w.n > 1;
#pragma omp parallel if (parallel)
    {
        tok_state st;
        ttt_status s = tok_state_init(&st, t);
#pragma omp for schedule(dynamic, 1)
        for (int64_t i = 0; i < w.n; i++) {
            work_item *it = &w.v[i];
            if (s != TTT_OK) continue;
            s = encode_item(t, &st, texts, it, it->begin);
        }
        if (s != TTT_OK) {
#pragma omp critical(ttt_tok_encode_error)
            if (status == TTT_OK) {
                status = s;
                snprintf(msg, sizeof msg, "%s", ttt_last_error());
            }
        }
        tok_state_free(&st);
    }

    /* tiktoken: where a segment's last piece ran past its end, encode the next one again from there */
    for (int64_t i = 1; i < w.n && status == TTT_OK; i++) {
        work_item *prev = &w.v[i - 1], *it = &w.v[i];
        if (t->kind != TTT_TOK_TIKTOKEN || it->special >= 0 || prev->special >= 0 || prev->doc != it->doc ||
            prev->part_begin != it->part_begin || prev->stop == it->begin)
            continue;
        if (!has_main) {
            status = tok_state_init(&main_st, t);
            if (status != TTT_OK) break;
            has_main = 1;
        }
        free(it->ids);
        it->ids = NULL;
        it->n = 0;
        if (prev->stop >= it->end) {
            it->stop = prev->stop; /* the piece covers this segment too */
            continue;
        }
        status = encode_item(t, &main_st, texts, it, prev->stop);
    }
    if (has_main) tok_state_free(&main_st);

    /* join the segments of each document, with BOS/EOS as asked */
    tok_part *parts = malloc((size_t)(w.n ? w.n : 1) * sizeof *parts);
    if (!parts) {
        for (int64_t i = 0; i < w.n; i++) free(w.v[i].ids);
        free(w.v);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < w.n; i++) parts[i] = (tok_part){w.v[i].doc, w.v[i].ids, w.v[i].n};
    int64_t nw = w.n;
    free(w.v);
    int bos = (flags & TTT_TOK_ADD_BOS) && t->bos >= 0, eos = (flags & TTT_TOK_ADD_EOS) && t->eos >= 0;
    return tok_join(parts, nw, n_docs, &t->bos, bos, &t->eos, eos, status, msg, ids, n_ids);
}

ttt_status ttt_tok_encode(const ttt_tok *t, const char *text, size_t len, int flags, int32_t **ids, int64_t *n) {
    return ttt_tok_encode_batch(t, &text, &len, 1, flags, ids, n);
}

/* ---- decoding ----------------------------------------------------------------------------- */

typedef struct {
    char *p;
    size_t n, cap;
} bytes;

static int put(bytes *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) c *= 2;
        char *q = realloc(b->p, c);
        if (!q) return -1;
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}

ttt_status ttt_tok_decode(const ttt_tok *t, const int32_t *ids, int64_t n, int flags, char **text, size_t *len) {
    if (t->kind == TTT_TOK_HF) return hf_decode(t, ids, n, flags, text, len);
    *text = NULL;
    if (len) *len = 0;
    bytes b = {0};
    int fail = put(&b, "", 0);
    int strip = 1; /* Llama: drop the dummy-prefix space at the start and after each BOS */
    for (int64_t i = 0; i < n && !fail; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->vocab_size || t->piece_off[id] < 0) {
            free(b.p);
            return ttt_err(TTT_ERR_ARG, "token %lld is id %d, which %s does not have (ids are 0..%lld%s)",
                           (long long)i, id, t->name, (long long)t->vocab_size - 1,
                           id >= 0 && id < t->vocab_size ? ", and this one is unassigned" : "");
        }
        const unsigned char *p = t->blob + t->piece_off[id];
        size_t m = (size_t)t->piece_len[id];
        if (is_special(t, id)) {
            if (flags & TTT_TOK_DECODE_SPECIAL) fail |= put(&b, p, m);
            if (t->kind == TTT_TOK_LLAMA && id == t->bos) strip = 1;
            continue;
        }
        if (t->kind == TTT_TOK_TIKTOKEN) {
            fail |= put(&b, p, m);
            continue;
        }
        if (id < 3 + 256) { /* <0xNN> */
            unsigned char c = (unsigned char)(id - 3);
            fail |= put(&b, &c, 1);
            strip = 0;
            continue;
        }
        for (size_t k = 0; k < m && !fail;) {
            if (k + 3 <= m && p[k] == 0xE2 && p[k + 1] == 0x96 && p[k + 2] == 0x81) {
                if (!strip) fail |= put(&b, " ", 1);
                k += 3;
            } else {
                fail |= put(&b, p + k, 1);
                k++;
            }
            strip = 0;
        }
    }
    if (fail) {
        free(b.p);
        return ttt_err(TTT_ERR_NOMEM, "out of memory while decoding");
    }
    b.p[b.n] = 0;
    *text = b.p;
    if (len) *len = b.n;
    return TTT_OK;
}
