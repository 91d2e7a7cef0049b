/* dataset.c: documents to one wrapped token stream, split lists, and the windows inside
 * documents (see dataset.h). */
#include "data/dataset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"

void data_free_list(char **paths, int64_t n) {
    if (!paths) return;
    for (int64_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
}

ttt_status data_read_list(const char *list_path, const char *base_dir, char ***paths, int64_t *n) {
    *paths = NULL;
    *n = 0;
    char *buf;
    size_t len;
    TRY(ttt_read_file(list_path, (size_t)64 << 20, &buf, &len));
    if (memchr(buf, 0, len)) {
        free(buf);
        return ttt_err(TTT_ERR_FORMAT, "%s: contains a NUL byte; expected one path per line", list_path);
    }
    int64_t cap = 0, k = 0;
    char **v = NULL;
    ttt_status s = TTT_OK;
    for (char *line = buf, *next; line && *line && s == TTT_OK; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        size_t m = strlen(line);
        if (m && line[m - 1] == '\r') line[--m] = 0;
        if (m == 0 || line[0] == '#') continue;
        if (k == cap) {
            cap = cap ? 2 * cap : 64;
            char **q = realloc(v, (size_t)cap * sizeof *q);
            if (!q) {
                s = ttt_err(TTT_ERR_NOMEM, "out of memory");
                break;
            }
            v = q;
        }
        v[k] = base_dir && line[0] != '/' ? ttt_path_join(base_dir, line) : strdup(line);
        if (!v[k]) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
        else k++;
    }
    free(buf);
    if (s == TTT_OK && k == 0) s = ttt_err(TTT_ERR_FORMAT, "%s: lists no documents", list_path);
    if (s != TTT_OK) {
        data_free_list(v, k);
        return s;
    }
    *paths = v;
    *n = k;
    return TTT_OK;
}

ttt_status data_tokenize(const ttt_tok *t, const char *const *texts, const size_t *lens, int64_t n_docs,
                         int wrap, int flags, ttt_tokfile *out) {
    memset(out, 0, sizeof *out);
    int32_t **ids = calloc((size_t)(n_docs ? n_docs : 1), sizeof *ids);
    int64_t *n_ids = calloc((size_t)(n_docs ? n_docs : 1), sizeof *n_ids);
    if (!ids || !n_ids) {
        free(ids);
        free(n_ids);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    ttt_status s = ttt_tok_encode_batch(t, texts, lens, n_docs, flags & (TTT_TOK_ALLOW_SPECIAL | TTT_TOK_ADD_SPECIAL), ids, n_ids);
    int32_t bos = ttt_tok_bos(t), eos = ttt_tok_eos(t);
    int shared = bos >= 0 && bos == eos; /* one separator between documents */
    int64_t total = 0;
    for (int64_t d = 0; d < n_docs; d++) total += n_ids[d] + (wrap ? 2 : 0);
    if (s == TTT_OK) {
        out->ids = malloc((size_t)(total ? total : 1) * sizeof *out->ids);
        out->doc_start = malloc((size_t)(n_docs ? n_docs : 1) * sizeof *out->doc_start);
        if (!out->ids || !out->doc_start) s = ttt_err(TTT_ERR_NOMEM, "out of memory for %lld tokens", (long long)total);
    }
    int64_t k = 0, nd = 0;
    for (int64_t d = 0; d < n_docs && s == TTT_OK; d++) {
        if (!wrap && n_ids[d] == 0) continue; /* an empty document has no tokens to start at */
        out->doc_start[nd++] = k;
        if (wrap && bos >= 0 && !(shared && d > 0)) out->ids[k++] = bos;
        if (n_ids[d]) memcpy(out->ids + k, ids[d], (size_t)n_ids[d] * sizeof *ids[d]);
        k += n_ids[d];
        if (wrap && eos >= 0) out->ids[k++] = eos;
    }
    /* with a shared separator, document d > 0 starts at the separator that precedes it */
    if (s == TTT_OK && wrap && shared)
        for (int64_t d = 1; d < nd; d++) out->doc_start[d] -= 1;
    for (int64_t d = 0; d < n_docs; d++) free(ids[d]);
    free(ids);
    free(n_ids);
    if (s != TTT_OK) {
        ttt_tokfile_free(out);
        return s;
    }
    out->version = TTT_TOKFILE_VERSION;
    out->n_tokens = k;
    out->n_docs = nd;
    out->bos_id = bos;
    out->eos_id = eos;
    out->vocab_size = ttt_tok_vocab_size(t);
    snprintf(out->tokenizer, sizeof out->tokenizer, "%s", ttt_tok_name(t));
    return TTT_OK;
}

ttt_status data_tokenize_files(const ttt_tok *t, char *const *paths, int64_t n_docs, int wrap, int flags,
                               ttt_tokfile *out, size_t *bytes) {
    memset(out, 0, sizeof *out);
    char **texts = calloc((size_t)(n_docs ? n_docs : 1), sizeof *texts);
    size_t *lens = calloc((size_t)(n_docs ? n_docs : 1), sizeof *lens);
    ttt_status s = texts && lens ? TTT_OK : ttt_err(TTT_ERR_NOMEM, "out of memory");
    size_t total = 0;
    for (int64_t d = 0; d < n_docs && s == TTT_OK; d++) {
        s = ttt_read_file(paths[d], (size_t)1 << 31, &texts[d], &lens[d]);
        total += lens[d];
    }
    if (s == TTT_OK) s = data_tokenize(t, (const char *const *)texts, lens, n_docs, wrap, flags, out);
    for (int64_t d = 0; texts && d < n_docs; d++) free(texts[d]);
    free(texts);
    free(lens);
    if (bytes) *bytes = total;
    return s;
}

ttt_status data_doc_windows(const ttt_tokfile *tf, int64_t L, int64_t **starts, int64_t *n, int64_t *longest) {
    *starts = NULL, *n = 0, *longest = 0;
    if (L < 1) return ttt_err(TTT_ERR_ARG, "windows of L+1 tokens need L >= 1, got %lld", (long long)L);
    if (tf->n_docs < 1 || !tf->doc_start)
        return ttt_err(TTT_ERR_ARG, "the token file has no document table: windows inside documents cannot be drawn");
    int64_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        int64_t k = 0;
        for (int64_t d = 0; d < tf->n_docs; d++) {
            int64_t s = tf->doc_start[d], e = d + 1 < tf->n_docs ? tf->doc_start[d + 1] : tf->n_tokens;
            if (pass == 0 && e - s > *longest) *longest = e - s;
            for (int64_t j = 0; j < (e - s) / (L + 1); j++, k++)
                if (pass == 1) (*starts)[k] = s + j * (L + 1);
        }
        if (pass == 0) {
            total = k;
            if (total == 0) return TTT_OK;
            if (!(*starts = malloc(sizeof(int64_t) * (size_t)total))) return ttt_err(TTT_ERR_NOMEM, "out of memory");
        }
    }
    *n = total;
    return TTT_OK;
}
