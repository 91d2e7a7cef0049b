/* ttt_scan.c: the scan over mini-batches, parallel over (sequence, head) pairs; each pair
 * is one task owning its rows of the outputs, so results do not depend on the number of
 * threads. Backward recomputes one group of mini-batches at a time from the state saved at
 * the group's start (spec 2.9), keeping activation memory O(L·D). */
#include <omp.h>
#include <string.h>

#include "layers/ttt_scan.h"
#include "ops/ops.h"

/* scratch per thread: state | dstate | mbc × max(group, 1) | inner scratch | dummy out */
int64_t RF(ttt_scan_scratch_elems)(const ttt_inner_dims *id, int64_t group) {
    int64_t S = ttt_state_size(id), M = ttt_mbc_layout_of(id).total;
    return 2 * S + M * (group > 0 ? group : 1) + ttt_inner_scratch_size(id) + id->b * id->f;
}

static void load_w0(const RF(ttt_scan_args) *a, int64_t h, real *st) {
    const ttt_inner_dims *d = &a->id;
    int64_t f = d->f, F = d->F;
    memcpy(st, a->W1 + h * f * F, sizeof(real) * (size_t)(f * F));
    memcpy(st + f * F, a->b1 + h * F, sizeof(real) * (size_t)F);
    if (d->mlp) {
        memcpy(st + f * F + F, a->W2 + h * F * f, sizeof(real) * (size_t)(F * f));
        memcpy(st + f * F + F + F * f, a->b2 + h * f, sizeof(real) * (size_t)f);
    }
}

static RF(ttt_mb_in) mb_inputs(const RF(ttt_scan_args) *a, int64_t bi, int64_t h, int64_t t0) {
    int64_t row = (bi * a->L + t0) * a->D + h * a->id.f;
    RF(ttt_mb_in) in = {a->Q + row, a->K + row, a->V + row, a->D,
                        a->lr + (bi * a->L + t0) * a->nh + h, a->nh, a->tau,
                        a->ln_w + h * a->id.f, a->ln_b + h * a->id.f};
    return in;
}

void RF(ttt_scan_forward)(const RF(ttt_scan_args) *a) {
    const ttt_inner_dims *d = &a->id;
    int64_t S = ttt_state_size(d), M = ttt_mbc_layout_of(d).total, mb = d->b, f = d->f;
    int64_t nmb = (a->L + mb - 1) / mb;
    int64_t ngroups = a->group > 0 ? (nmb + a->group - 1) / a->group : 0;
    int64_t ntask = a->B * a->nh;
#pragma omp parallel for schedule(static) num_threads(a->nthreads) \
    if (TTT_PAR(a->B * a->nh * a->L * a->id.f * a->id.F))
    for (int64_t task = 0; task < ntask; task++) {
        int64_t bi = task / a->nh, h = task % a->nh;
        real *scr = a->scratch + (int64_t)omp_get_thread_num() * a->scratch_elems;
        real *st = scr, *mbc_tmp = scr + 2 * S, *isc = mbc_tmp + M * (a->group > 0 ? a->group : 1);
        real *sums = NULL;
        if (a->state) {
            st = a->state + task * S;
            sums = a->sums + task * S;
        } else {
            load_w0(a, h, st);
        }
        int64_t t = 0, pos = a->pos0;
        /* leading tokens of a mini-batch already started: primal steps */
        while (t < a->L && pos % mb != 0) {
            RF(ttt_mb_in) in = mb_inputs(a, bi, h, t);
            RF(ttt_primal_step)(d, in.Q, in.K, in.V, in.lr[0], a->tau[pos % mb], in.gamma, in.beta,
                                st, sums, pos % mb == mb - 1, a->Z + (bi * a->L + t) * a->D + h * f,
                                isc);
            t++, pos++;
        }
        /* whole mini-batches (dual form, commit) and a last partial one */
        for (int64_t m = 0; t < a->L; m++) {
            int64_t n = a->L - t < mb ? a->L - t : mb;
            RF(ttt_mb_in) in = mb_inputs(a, bi, h, t);
            real *mbc = mbc_tmp;
            if (a->ckpt && m % a->group == 0)
                memcpy(a->ckpt + (task * ngroups + m / a->group) * S, st, sizeof(real) * (size_t)S);
            if (a->mbc) mbc = a->mbc + (task * nmb + m) * M;
            int partial = n < mb && sums;
            RF(ttt_mb_forward)(d, n, &in, st, partial ? sums : NULL,
                               a->Z + (bi * a->L + t) * a->D + h * f, a->D, mbc);
            t += n;
            pos += n;
        }
    }
}

void RF(ttt_scan_backward)(const RF(ttt_scan_args) *a, const real *dZ, real *dQ, real *dK, real *dV,
                           real *dlr, real *dtau_part, real *dln_part, real *dW0_part) {
    const ttt_inner_dims *d = &a->id;
    int64_t S = ttt_state_size(d), M = ttt_mbc_layout_of(d).total, mb = d->b, f = d->f;
    int64_t nmb = (a->L + mb - 1) / mb;
    int64_t G = a->group > 0 ? a->group : nmb;
    int64_t ngroups = (nmb + G - 1) / G;
    int64_t ntask = a->B * a->nh;
#pragma omp parallel for schedule(static) num_threads(a->nthreads) \
    if (TTT_PAR(a->B * a->nh * a->L * a->id.f * a->id.F))
    for (int64_t task = 0; task < ntask; task++) {
        int64_t bi = task / a->nh, h = task % a->nh;
        real *scr = a->scratch + (int64_t)omp_get_thread_num() * a->scratch_elems;
        real *st = scr, *dstate = scr + S, *mbcs = scr + 2 * S;
        real *isc = mbcs + M * (a->group > 0 ? a->group : 1), *dummy = isc + ttt_inner_scratch_size(d);
        real *dtau = dtau_part + task * mb, *dg = dln_part + task * 2 * f, *dbt = dg + f;
        memset(dtau, 0, sizeof(real) * (size_t)mb);
        memset(dg, 0, sizeof(real) * (size_t)(2 * f));
        memset(dstate, 0, sizeof(real) * (size_t)S);
        for (int64_t g = ngroups - 1; g >= 0; g--) {
            int64_t m0 = g * G, m1 = m0 + G < nmb ? m0 + G : nmb;
            if (a->group > 0) { /* recompute the group from its checkpoint */
                memcpy(st, a->ckpt + (task * ngroups + g) * S, sizeof(real) * (size_t)S);
                for (int64_t m = m0; m < m1; m++) {
                    int64_t t0 = m * mb, n = a->L - t0 < mb ? a->L - t0 : mb;
                    RF(ttt_mb_in) in = mb_inputs(a, bi, h, t0);
                    RF(ttt_mb_forward)(d, n, &in, st, NULL, dummy, f, mbcs + (m - m0) * M);
                }
            }
            for (int64_t m = m1 - 1; m >= m0; m--) {
                int64_t t0 = m * mb, n = a->L - t0 < mb ? a->L - t0 : mb;
                const real *mbc = a->group > 0 ? mbcs + (m - m0) * M : a->mbc + (task * nmb + m) * M;
                RF(ttt_mb_in) in = mb_inputs(a, bi, h, t0);
                int64_t row = (bi * a->L + t0) * a->D + h * f;
                RF(ttt_mb_backward)(d, n, &in, mbc, dZ + row, a->D, dstate, dQ + row, dK + row,
                                    dV + row, dlr + (bi * a->L + t0) * a->nh + h, dtau, dg, dbt, isc);
            }
        }
        memcpy(dW0_part + task * S, dstate, sizeof(real) * (size_t)S);
    }
}
