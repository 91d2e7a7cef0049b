/* lm_common.h: pieces every language model shares (generic over `real`): the workspace bump
 * allocator, embedding + final RMSNorm + head + cross-entropy forward and backward, and
 * copies out to float. Included by the per-architecture files (lm_ttt.c, lm_llama.c,
 * lm_mamba.c). */
#ifndef TTT_MODEL_LM_COMMON_H
#define TTT_MODEL_LM_COMMON_H

#include "core/real.h"
#include "model/model.h"

/* Workspace layout: a bump allocator run twice, first with base NULL to size it. */
typedef struct {
    real *base;
    int64_t off;
} bump;

static inline real *take(bump *b, int64_t n) {
    real *p = b->base ? b->base + b->off : NULL;
    b->off += (n + 15) / 16 * 16;
    return p;
}

/* The model-level buffers around the blocks, rows N = B·L. */
typedef struct {
    real *h;            /* [N, D] residual stream */
    real *hf, *rs_f;    /* final RMSNorm output and 1/rms */
    real *logits;       /* [N, V]; d loss / d logits after the backward's loss step */
    double *wt;         /* [N] loss weight of each row */
    int32_t *tg;        /* [N] targets (−1: none) */
    real *dh;           /* [N, D] gradient of the residual stream (training) */
    double *nll;        /* [N] per-row NLL (chunked mode) */
    int64_t N, chunk;   /* rows; head chunk rows (0: logits of all rows at once) */
} RF(lm_io);

void RF(lm_io_layout)(bump *b, RF(lm_io) *io, const ttt_dims *d, int64_t N, int train);

/* h = Embed(ids) */
void RF(lm_embed)(const ttt_model *m, RF(lm_io) *io, const int32_t *ids, int64_t N);
/* logits = RMSNorm_final(h) · Headᵀ; copies them to `logits` (float, nullable). In chunked
 * mode (inference with dims.head_chunk > 0) only the final norm is kept here, and the logits
 * are made chunk by chunk when copied out or when the loss needs them. */
void RF(lm_head)(const ttt_model *m, RF(lm_io) *io, int64_t N, float *logits);
/* The loss over targets (NULL: the next input token), per_seq: mean over sequences of each
 * sequence's mean; backward: io->logits becomes scale · d loss / d logits. Each row's NLL also
 * goes to m->nll_out when set. */
double RF(lm_loss)(const ttt_model *m, RF(lm_io) *io, const int32_t *ids, const int32_t *targets,
                   int64_t B, int64_t L, int per_seq, int backward, double scale);
/* Backward of the head and final norm: io->dh = d loss / d h (overwritten); uses tmp [N, D]. */
void RF(lm_head_backward)(ttt_model *m, RF(lm_io) *io, real *tmp, int64_t N);
/* d loss / d embedding += io->dh rows */
void RF(lm_embed_backward)(ttt_model *m, RF(lm_io) *io, const int32_t *ids, int64_t N);

void RF(lm_copy_out)(float *dst, const real *src, int64_t n);
/* keep the residual stream after block i (when the model keeps hidden states) */
void RF(lm_save_hidden)(ttt_model *m, const real *h, int64_t i, int64_t N);
/* reserve the workspace for a layout of `elems` reals */
ttt_status RF(lm_reserve)(ttt_model *m, int64_t elems);

#endif
