/* tokenizer.c: the ttt_tok interface (include/ttt_tokenizer.h): loading by path (a
 * tokenizer.json, a tiktoken rank file or a Llama-2 directory, each read into the one engine of
 * hf.h), the tokenizer's ids and texts, and encoding and decoding through that engine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"

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
    hf_free(t->hf);
    free(t);
}

ttt_tok_kind ttt_tok_kind_of(const ttt_tok *t) { return t->kind; }
const char *ttt_tok_name(const ttt_tok *t) { return t->name; }
int64_t ttt_tok_vocab_size(const ttt_tok *t) { return t->vocab_size; }
int32_t ttt_tok_bos(const ttt_tok *t) { return t->bos; }
int32_t ttt_tok_eos(const ttt_tok *t) { return t->eos; }

int32_t ttt_tok_special_id(const ttt_tok *t, const char *text) {
    int64_t v;
    return t->hf->added_by_text.slots && strmap_get(&t->hf->added_by_text, text, strlen(text), &v) ? t->hf->added[v].id
                                                                                                 : -1;
}

const char *ttt_tok_piece(const ttt_tok *t, int32_t id, size_t *len) {
    if (id < 0 || id >= t->vocab_size || t->hf->str_off[id] < 0) return NULL;
    if (len) *len = (size_t)t->hf->str_len[id];
    return t->hf->blob + t->hf->str_off[id];
}

ttt_status ttt_tok_encode_batch(const ttt_tok *t, const char *const *texts, const size_t *lens,
                                int64_t n_docs, int flags, int32_t **ids, int64_t *n_ids) {
    return hf_encode_batch(t, texts, lens, n_docs, flags, ids, n_ids);
}

ttt_status ttt_tok_encode(const ttt_tok *t, const char *text, size_t len, int flags, int32_t **ids, int64_t *n) {
    return ttt_tok_encode_batch(t, &text, &len, 1, flags, ids, n);
}

ttt_status ttt_tok_decode(const ttt_tok *t, const int32_t *ids, int64_t n, int flags, char **text, size_t *len) {
    return hf_decode(t, ids, n, flags, text, len);
}
