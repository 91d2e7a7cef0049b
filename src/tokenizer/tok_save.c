/* tok_save.c: any loaded tokenizer written as a Hugging Face tokenizer.json and
 * tokenizer_config.json into a directory (ttt_tok_save), so that a model directory carries its
 * tokenizer in the hub's format:
 *   - a tokenizer.json tokenizer: its files, copied byte for byte;
 *   - Llama-2: the SentencePiece-style layout (tokjson_write.h) with its pieces, its merges in
 *     rank order, <unk> <s> </s> and the <0xNN> byte pieces;
 *   - tiktoken: the byte-level layout with the encoding's split pattern, ignore_merges (a piece
 *     that is a token is that token, as tiktoken encodes), <|endoftext|> put before a text by
 *     TemplateProcessing (our documents start with it), and merges rebuilt from the ranks:
 *     token T of rank r is the merge (A, B) where A B is what byte-pair merging of T's bytes
 *     with the ranks below r leaves (the conversion the `tokenizers` library's own tiktoken
 *     import makes); a token that merging cannot build needs no merge (ignore_merges reaches it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "tokenizer/bpe.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"
#include "tokenizer/tokjson_write.h"

#define TOK_MAX_SPECIAL 16 /* the built-in formats have at most 5 */

#define OOM ttt_err(TTT_ERR_NOMEM, "out of memory while saving the tokenizer")

static ttt_status copy_file(const char *from, const char *dir, const char *name) {
    char *buf, *to = ttt_path_join(dir, name);
    size_t len;
    if (!to) return OOM;
    ttt_status s = ttt_read_file(from, (size_t)1 << 30, &buf, &len);
    if (s == TTT_OK) {
        s = ttt_atomic_write_file(to, buf, len);
        free(buf);
    }
    free(to);
    return s;
}

/* ---- tiktoken: merges from ranks ----------------------------------------------------------- */

typedef struct {
    const ttt_tok *t;
    const unsigned char *w;
    int64_t limit; /* only ranks below this merge */
} rank_ctx;

static int64_t limited_rank(const void *vctx, const bpe_sym *a, const bpe_sym *b, int32_t *merged) {
    const rank_ctx *c = vctx;
    int64_t r;
    if (!strmap_get(&c->t->hf->vocab, c->w + a->start, (size_t)(b->end - a->start), &r) || r >= c->limit) return BPE_NO_MERGE;
    *merged = (int32_t)r;
    return r;
}

static ttt_status tiktoken_merges(const ttt_tok *t, int32_t (**out)[2], int64_t *n_out) {
    const hf_tok *h = t->hf;
    int64_t V = t->vocab_size, n = 0;
    int32_t(*m)[2] = malloc((size_t)V * sizeof *m);
    bpe_work w;
    bpe_work_init(&w);
    int32_t ids[1 << 10];
    if (!m) return OOM;
    for (int64_t r = 0; r < V; r++) {
        if (h->str_off[r] < 0 || h->str_len[r] < 2 || h->is_special[r]) continue;
        const unsigned char *p = (const unsigned char *)h->blob + h->str_off[r];
        int64_t k = h->str_len[r];
        if (k > (int64_t)(sizeof ids / sizeof ids[0]) || bpe_work_reserve(&w, k)) continue; /* no token is that long */
        for (int64_t i = 0; i < k; i++) w.syms[i] = (bpe_sym){.id = h->byte_id[p[i]], .start = (int32_t)i, .end = (int32_t)i + 1};
        rank_ctx c = {t, p, r};
        int64_t parts = bpe_merge(&w, k, limited_rank, &c, ids);
        if (parts < 0) {
            bpe_work_free(&w);
            free(m);
            return OOM;
        }
        if (parts == 2) m[n][0] = ids[0], m[n][1] = ids[1], n++;
    }
    bpe_work_free(&w);
    *out = m;
    *n_out = n;
    return TTT_OK;
}

/* Llama-2: the merge table's entries in rank order */
static ttt_status llama_merges(const ttt_tok *t, int32_t (**out)[2], int64_t *n_out) {
    const strmap *pm = &t->hf->pairs;
    int64_t maxr = -1;
    for (uint64_t i = 0; i < pm->cap; i++)
        if (pm->slots[i].hash && pm->slots[i].value >> 32 > maxr) maxr = pm->slots[i].value >> 32;
    /* ranks are distinct: place each merge at its rank, then close the gaps */
    int32_t(*m)[2] = malloc((size_t)(maxr + 2) * sizeof *m);
    if (!m) return OOM;
    for (int64_t i = 0; i <= maxr; i++) m[i][0] = -1;
    for (uint64_t i = 0; i < pm->cap; i++) {
        if (!pm->slots[i].hash) continue;
        uint32_t ab[2];
        memcpy(ab, pm->blob + pm->slots[i].off, sizeof ab);
        int64_t r = pm->slots[i].value >> 32;
        m[r][0] = (int32_t)ab[0], m[r][1] = (int32_t)ab[1];
    }
    int64_t k = 0;
    for (int64_t i = 0; i <= maxr; i++)
        if (m[i][0] >= 0) m[k][0] = m[i][0], m[k][1] = m[i][1], k++;
    *out = m;
    *n_out = k;
    return TTT_OK;
}

/* ---- the spec of a built-in tokenizer ---------------------------------------------------------- */

static ttt_status builtin_spec(const ttt_tok *t, tokjson_spec *sp, const char **vocab, size_t *vlen,
                               tokjson_special *spc, int32_t (**merges)[2]) {
    const hf_tok *h = t->hf;
    int64_t V = t->vocab_size;
    memset(sp, 0, sizeof *sp);
    for (int64_t i = 0; i < V; i++) {
        vocab[i] = h->str_off[i] >= 0 ? h->blob + h->str_off[i] : NULL;
        vlen[i] = h->str_off[i] >= 0 ? (size_t)h->str_len[i] : 0;
    }
    int n_special = (int)(h->n_added < TOK_MAX_SPECIAL ? h->n_added : TOK_MAX_SPECIAL);
    for (int i = 0; i < n_special; i++) {
        spc[i] = (tokjson_special){h->added[i].content, h->added[i].len, h->added[i].id};
        if (t->kind == TTT_TOK_TIKTOKEN) vocab[h->added[i].id] = NULL; /* only an added token */
    }
    sp->n_ids = V;
    sp->vocab = vocab;
    sp->vocab_len = vlen;
    sp->special = spc;
    sp->n_special = n_special;
    int64_t n = 0;
    if (t->kind == TTT_TOK_LLAMA) {
        TRY(llama_merges(t, merges, &n));
        sp->merges = (const int32_t(*)[2]) * merges;
        sp->n_merges = n;
        sp->kind = TOKJSON_SP_BPE;
        sp->unk_token = "<unk>";
        sp->bos_token = "<s>", sp->eos_token = "</s>", sp->config_unk_token = "<unk>";
        sp->add_bos_token = 1;
        sp->ttt_name = t->name;
        return TTT_OK;
    }
    TRY(tiktoken_merges(t, merges, &n));
    sp->merges = (const int32_t(*)[2]) * merges;
    sp->n_merges = n;
    sp->kind = TOKJSON_BYTE_LEVEL;
    sp->vocab_raw_bytes = 1;
    sp->ignore_merges = 1;
    sp->pattern = tiktoken_encoding_pattern(t->name);
    sp->bos_token = sp->eos_token = sp->config_unk_token = "<|endoftext|>";
    /* our token files start every document with <|endoftext|> (ttt_tok_bos), so the model
     * expects it first: the file's template puts it there (the hub's GPT-2 file does not) */
    sp->add_bos_token = 1;
    sp->ttt_name = t->name;
    return TTT_OK;
}

ttt_status ttt_tok_save(const ttt_tok *t, const char *dir) {
    if (t->kind == TTT_TOK_HF) {
        TRY(copy_file(t->hf->json_path, dir, "tokenizer.json"));
        return t->hf->config_path ? copy_file(t->hf->config_path, dir, "tokenizer_config.json") : TTT_OK;
    }
    int64_t V = t->vocab_size;
    if (t->hf->n_added > TOK_MAX_SPECIAL) return ttt_err(TTT_ERR_ARG, "saving the tokenizer: more than %d special tokens", TOK_MAX_SPECIAL);
    const char **vocab = malloc((size_t)V * sizeof *vocab);
    size_t *vlen = malloc((size_t)V * sizeof *vlen);
    tokjson_special spc[TOK_MAX_SPECIAL];
    int32_t(*merges)[2] = NULL;
    tokjson_spec sp;
    ttt_status s = vocab && vlen ? builtin_spec(t, &sp, vocab, vlen, spc, &merges) : OOM;
    char *json = ttt_path_join(dir, "tokenizer.json"), *cfg = ttt_path_join(dir, "tokenizer_config.json");
    if (s == TTT_OK && (!json || !cfg)) s = OOM;
    if (s == TTT_OK) s = tokjson_write(json, &sp);
    if (s == TTT_OK) s = tokjson_write_config(cfg, &sp);
    free(json);
    free(cfg);
    free(vocab);
    free(vlen);
    free(merges);
    return s;
}
