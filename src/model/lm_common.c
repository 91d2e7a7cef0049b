/* lm_common.c: embedding, final RMSNorm, head and loss of every language model, forward and
 * backward (see lm_common.h). */
#include "model/lm_common.h"

#include <string.h>

#include "core/error.h"
#include "ops/ops.h"

static int chunked(const ttt_dims *d, int64_t N, int train) {
    return !train && d->head_chunk > 0 && d->head_chunk < N;
}

void RF(lm_io_layout)(bump *b, RF(lm_io) *io, const ttt_dims *d, int64_t N, int train) {
    io->h = take(b, N * d->D);
    io->hf = take(b, N * d->D);
    io->rs_f = take(b, N);
    io->logits = take(b, (chunked(d, N, train) ? d->head_chunk : N) * d->V);
    io->nll = (double *)take(b, N * (int64_t)(sizeof(double) / sizeof(real)) + 1);
    io->N = N;
    io->chunk = chunked(d, N, train) ? d->head_chunk : 0;
    io->wt = (double *)take(b, N * (int64_t)(sizeof(double) / sizeof(real)) + 1);
    io->tg = (int32_t *)take(b, N);
    io->dh = train ? take(b, N * d->D) : NULL;
}

ttt_status RF(lm_reserve)(ttt_model *m, int64_t elems) {
    size_t bytes;
    TRY(ttt_size_mul(&bytes, elems, 1, sizeof(real), "workspace"));
    return ttt_buf_reserve(&m->ws, bytes, "activations");
}

void RF(lm_embed)(const ttt_model *m, RF(lm_io) *io, const int32_t *ids, int64_t N) {
    RF(embed_fwd)(io->h, ids, (const real *)m->w + m->offs.embed, N, m->dims.D);
}

void RF(lm_head)(const ttt_model *m, RF(lm_io) *io, int64_t N, float *logits) {
    const real *P = (const real *)m->w;
    const ttt_dims *d = &m->dims;
    RF(rmsnorm_fwd)(io->hf, io->rs_f, io->h, P + m->offs.norm, N, d->D, (real)d->rms_eps);
    if (m->last_only_B > 0) { /* logits [B, V] of each sequence's last row */
        int64_t B = m->last_only_B, L = N / B;
        for (int64_t b = 0; b < B; b++)
            RF(mm_nt)(io->logits + b * d->V, io->hf + (b * L + L - 1) * d->D, P + m->offs.head, 1, d->V, d->D, 0);
        if (logits) RF(lm_copy_out)(logits, io->logits, B * d->V);
        return;
    }
    if (!io->chunk) {
        RF(mm_nt)(io->logits, io->hf, P + m->offs.head, N, d->V, d->D, 0);
        if (logits) RF(lm_copy_out)(logits, io->logits, N * d->V);
        return;
    }
    for (int64_t r0 = 0; logits && r0 < N; r0 += io->chunk) {
        int64_t n = N - r0 < io->chunk ? N - r0 : io->chunk;
        RF(mm_nt)(io->logits, io->hf + r0 * d->D, P + m->offs.head, n, d->V, d->D, 0);
        RF(lm_copy_out)(logits + r0 * d->V, io->logits, n * d->V);
    }
}

/* out[r] = argmax_v logits[r, v] (the lowest v among equal maxima; NaNs never win) for the
 * rows with a target */
static void RF(argmax_rows)(int32_t *out, const real *logits, const int32_t *tg, int64_t N, int64_t V) {
    for (int64_t r = 0; r < N; r++) {
        if (tg[r] < 0) continue;
        const real *x = logits + r * V;
        int64_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if (x[v] > x[best] || (x[best] != x[best] && x[v] == x[v])) best = v;
        out[r] = (int32_t)best;
    }
}

double RF(lm_loss)(const ttt_model *m, RF(lm_io) *io, const int32_t *ids, const int32_t *targets,
                   int64_t B, int64_t L, int per_seq, int backward, double scale) {
    int64_t N = B * L, count = 0;
    for (int64_t r = 0; r < N; r++) {
        int64_t t = r % L;
        io->tg[r] = targets ? targets[r] : (t + 1 < L ? ids[r + 1] : -1);
        count += io->tg[r] >= 0;
    }
    for (int64_t bi = 0; bi < B; bi++) {
        int64_t cb = 0;
        for (int64_t t = 0; t < L; t++) cb += io->tg[bi * L + t] >= 0;
        for (int64_t t = 0; t < L; t++)
            io->wt[bi * L + t] = per_seq ? (cb ? 1.0 / ((double)cb * (double)B) : 0.0)
                                         : (count ? 1.0 / (double)count : 0.0);
    }
    const ttt_dims *d = &m->dims;
    if (!io->chunk) {
        if (m->argmax_out) RF(argmax_rows)(m->argmax_out, io->logits, io->tg, N, d->V);
        double lv = RF(xent_fwd_bwd)(backward ? io->logits : NULL, io->logits, io->tg, io->wt, scale, N, d->V);
        if (m->nll_out) RF(xent_rows)(m->nll_out, io->logits, io->tg, N, d->V);
        return lv;
    }
    /* chunked: logits of `chunk` rows at a time from the final norm's output */
    const real *P = (const real *)m->w;
    for (int64_t r0 = 0; r0 < N; r0 += io->chunk) {
        int64_t n = N - r0 < io->chunk ? N - r0 : io->chunk;
        RF(mm_nt)(io->logits, io->hf + r0 * d->D, P + m->offs.head, n, d->V, d->D, 0);
        RF(xent_rows)(io->nll + r0, io->logits, io->tg + r0, n, d->V);
        if (m->argmax_out) RF(argmax_rows)(m->argmax_out + r0, io->logits, io->tg + r0, n, d->V);
    }
    double lv = 0;
    for (int64_t r = 0; r < N; r++)
        if (io->tg[r] >= 0) lv += io->wt[r] * io->nll[r];
    if (m->nll_out) memcpy(m->nll_out, io->nll, sizeof(double) * (size_t)N);
    return lv;
}

/* logits = hf Headᵀ, hf = RMSNorm(h) */
void RF(lm_head_backward)(ttt_model *m, RF(lm_io) *io, real *tmp, int64_t N) {
    const real *P = (const real *)m->w;
    real *G = (real *)m->g;
    const ttt_dims *d = &m->dims;
    RF(mm_nn)(tmp, io->logits, P + m->offs.head, N, d->D, d->V, 0);
    RF(mm_tn)(G + m->offs.head, io->logits, io->hf, d->V, d->D, N, 1);
    memset(io->dh, 0, sizeof(real) * (size_t)(N * d->D));
    RF(rmsnorm_bwd)(io->dh, G + m->offs.norm, tmp, io->h, P + m->offs.norm, io->rs_f, N, d->D);
}

void RF(lm_embed_backward)(ttt_model *m, RF(lm_io) *io, const int32_t *ids, int64_t N) {
    RF(embed_bwd)((real *)m->g + m->offs.embed, ids, io->dh, N, m->dims.D);
}

void RF(lm_copy_out)(float *dst, const real *src, int64_t n) {
#pragma omp parallel for schedule(static) if (TTT_PAR(n))
    for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

void RF(lm_save_hidden)(ttt_model *m, const real *h, int64_t i, int64_t N) {
    if (!m->keep_hidden) return;
    RF(lm_copy_out)((float *)m->hidden.data + i * N * m->dims.D, h, N * m->dims.D);
}
