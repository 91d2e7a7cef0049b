/* eval.c: evaluation (design.md 6.1): perplexity = exp(Σ NLL / count) over non-overlapping
 * windows of L+1 tokens (targets equal to BOS left out; a token file with a loss mask counts
 * exactly the targets its mask flags), the mean loss at each token position, and the
 * exact-match accuracy on the same targets:
 *   accuracy = #{counted t : argmax_v logits[t, v] = target t} / count   (ties: the lowest id)
 * The head's logits are made in chunks of rows, so memory stays bounded at long context
 * (L = 32k) for every model type. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"
#include "ttt_tokenizer.h"
#include "ttt_train.h"

#define HEAD_CHUNK 256

ttt_status ttt_forward_nll(ttt_model *m, const int32_t *ids, const int32_t *targets, int64_t B,
                           int64_t L, double *nll) {
    if (B <= 0 || L <= 0) return ttt_err(TTT_ERR_ARG, "forward_nll: empty input");
    for (int64_t i = 0; i < B * L; i++) {
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
            return ttt_err(TTT_ERR_ARG, "forward_nll: token id %d at %lld is outside [0, %lld)", ids[i],
                           (long long)i, (long long)m->cfg.vocab_size);
        if (targets && (targets[i] < -1 || targets[i] >= m->cfg.vocab_size))
            return ttt_err(TTT_ERR_ARG, "forward_nll: target %d at %lld is outside [-1, %lld)", targets[i],
                           (long long)i, (long long)m->cfg.vocab_size);
    }
    int keep = m->keep_hidden;
    m->keep_hidden = 0;
    m->nll_out = nll;
    m->dims.head_chunk = HEAD_CHUNK;
    double loss;
    ttt_status s = m->ops->forward(m, ids, targets, B, L, 0, 0, 1.0, NULL, &loss);
    m->dims.head_chunk = 0;
    m->nll_out = NULL;
    m->keep_hidden = keep;
    return s;
}

ttt_status ttt_evaluate(ttt_model *m, const char *data_path, int64_t L, int64_t max_windows,
                        int64_t batch, int mask_bos, double *by_position, int64_t *counts,
                        ttt_eval_result *out) {
    if (L < 1 || batch < 1) return ttt_err(TTT_ERR_ARG, "eval: context and batch must be >= 1");
    ttt_tokfile tf;
    TRY(ttt_tokfile_read(data_path, &tf));
    ttt_status s = ttt_tokfile_check_model(&tf, &m->cfg, data_path);
    int64_t W = tf.n_tokens / (L + 1);
    if (s == TTT_OK && W < 1)
        s = ttt_err(TTT_ERR_ARG, "%s: %lld tokens do not make one window of L+1 = %lld tokens", data_path,
                    (long long)tf.n_tokens, (long long)(L + 1));
    if (max_windows > 0 && max_windows < W) W = max_windows;
    int32_t bos = mask_bos ? (int32_t)m->cfg.bos_token_id : -1;
    int32_t *in = NULL, *tg = NULL, *am = NULL;
    double *nll = NULL;
    if (s == TTT_OK) {
        in = malloc(sizeof(int32_t) * (size_t)(batch * L));
        tg = malloc(sizeof(int32_t) * (size_t)(batch * L));
        am = malloc(sizeof(int32_t) * (size_t)(batch * L));
        nll = malloc(sizeof(double) * (size_t)(batch * L));
        if (!in || !tg || !am || !nll) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    memset(out, 0, sizeof *out);
    if (by_position) memset(by_position, 0, sizeof(double) * (size_t)L);
    if (counts) memset(counts, 0, sizeof(int64_t) * (size_t)L);
    for (int64_t w0 = 0; w0 < W && s == TTT_OK; w0 += batch) {
        int64_t b = W - w0 < batch ? W - w0 : batch;
        for (int64_t i = 0; i < b; i++) {
            const int32_t *src = tf.ids + (w0 + i) * (L + 1);
            const uint8_t *mk = tf.mask ? tf.mask + (w0 + i) * (L + 1) : NULL;
            for (int64_t t = 0; t < L; t++) {
                in[i * L + t] = src[t];
                if (mk) tg[i * L + t] = mk[t + 1] ? src[t + 1] : -1;
                else tg[i * L + t] = bos >= 0 && src[t + 1] == bos ? -1 : src[t + 1];
                am[i * L + t] = -1;
            }
        }
        m->argmax_out = am;
        s = ttt_forward_nll(m, in, tg, b, L, nll);
        m->argmax_out = NULL;
        for (int64_t i = 0; s == TTT_OK && i < b; i++)
            for (int64_t t = 0; t < L; t++) {
                int64_t r = i * L + t;
                if (tg[r] < 0) continue;
                if (am[r] < 0) { /* every family's head fills it (lm_loss); a new one must too */
                    s = ttt_err(TTT_ERR_ARG, "eval: the model's head gave no argmax for row %lld", (long long)r);
                    break;
                }
                out->nll_sum += nll[r];
                out->count++;
                out->correct += am[r] == tg[r];
                if (by_position) by_position[t] += nll[r];
                if (counts) counts[t]++;
            }
        out->windows += b;
    }
    if (s == TTT_OK && tf.mask && out->count == 0)
        s = ttt_err(TTT_ERR_ARG, "%s: its loss mask counts no target in the %lld windows of L+1 = %lld tokens "
                    "evaluated", data_path, (long long)out->windows, (long long)(L + 1));
    if (s == TTT_OK && by_position && counts)
        for (int64_t t = 0; t < L; t++) by_position[t] = counts[t] ? by_position[t] / (double)counts[t] : NAN;
    out->ppl = out->count ? exp(out->nll_sum / (double)out->count) : NAN;
    out->accuracy = out->count ? (double)out->correct / (double)out->count : NAN;
    if (s == TTT_OK && !isfinite(out->nll_sum))
        s = ttt_err(TTT_ERR_NUMERIC,
                    "the loss is not finite (%g over %lld targets): the model's activations "
                    "overflow on this data (try --precision f64, or check the weights)",
                    out->nll_sum, (long long)out->count);
    free(in), free(tg), free(am), free(nll);
    ttt_tokfile_free(&tf);
    return s;
}
