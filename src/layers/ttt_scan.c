/* ttt_scan.c: the scan over mini-batches, parallel over (sequence, head) pairs; each pair
 * is one task owning its rows of the outputs, so results do not depend on the number of
 * threads. Backward recomputes one group of mini-batches at a time from the state saved at
 * the group's start (design.md 2.11), keeping activation memory O(L·D).
 * Kernel families, chosen per call by the shape (one call uses one family throughout):
 * the fused kernels of src/kernels/ttt_fast.h (float, mini-batch <= 16), the wide
 * mini-batch kernels of ttt_inner_wide.h (TTT-Linear, mini-batch > 16), else the reference;
 * the reference alone when ttt_reference_kernels is set. */
#include <omp.h>
#include <string.h>

#include "core/prof.h"
#include "layers/ttt_inner_wide.h"
#include "layers/ttt_scan.h"
#include "ops/kernels.h"
#include "ops/ops.h"
#if TTT_REAL == 32
#include "kernels/ttt_fast.h"
#endif

enum { KF_REF, KF_FAST, KF_WIDE };

static int fast_usable(const ttt_inner_dims *d) {
#if TTT_REAL == 32
    return ttt_fast_usable(d);
#else
    (void)d;
    return 0;
#endif
}

/* the wide kernels where the fused ones do not go: wide mini-batches of TTT-Linear */
static int wide_usable(const ttt_inner_dims *d) { return !fast_usable(d) && d->b > 16 && ttt_wide_usable(d); }

static int kernel_family(const ttt_inner_dims *d) {
    if (ttt_reference_kernels) return KF_REF;
    return fast_usable(d) ? KF_FAST : wide_usable(d) ? KF_WIDE : KF_REF;
}

/* the work space of the family the shape selects (without ttt_reference_kernels) */
static int64_t family_scratch_elems(const ttt_inner_dims *id) {
#if TTT_REAL == 32
    if (fast_usable(id)) return ttt_fast_scratch_elems(id);
#endif
    return wide_usable(id) ? ttt_wide_scratch_elems(id) : 0;
}

/* scratch per thread: state | dstate | mbc × max(group, 1) | inner scratch | dummy out |
 * the fused or wide kernels' work space */
int64_t RF(ttt_scan_scratch_elems)(const ttt_inner_dims *id, int64_t group) {
    int64_t S = ttt_state_size(id), M = ttt_mbc_layout_of(id).total;
    return 2 * S + M * (group > 0 ? group : 1) + ttt_inner_scratch_size(id) + id->b * id->f +
           family_scratch_elems(id);
}

#if TTT_REAL == 32
static ttt_fast_in fast_in(const RF(ttt_mb_in) *in) {
    ttt_fast_in f = {in->Q, in->K, in->V, in->ld, in->lr, in->lr_ld, in->tau, in->gamma, in->beta};
    return f;
}
#endif

/* the three kernels of family kf (fws: the fused or wide kernels' work space); the fused
 * forward takes mbc == NULL when no backward reads the cache, the others mbc_tmp */
static void mb_forward(int kf, const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in,
                       real *st, real *sums, real *out, int64_t ldo, real *mbc, real *mbc_tmp,
                       real *fws) {
#if TTT_REAL == 32
    if (kf == KF_FAST) {
        ttt_fast_in fi = fast_in(in);
        ttt_fast_mb_forward(d, n, &fi, st, sums, out, ldo, mbc, fws);
        return;
    }
#endif
    if (kf == KF_WIDE)
        RF(ttt_wide_mb_forward)(d, n, in, st, sums, out, ldo, mbc ? mbc : mbc_tmp, fws);
    else
        RF(ttt_mb_forward)(d, n, in, st, sums, out, ldo, mbc ? mbc : mbc_tmp);
}

static void mb_backward(int kf, const ttt_inner_dims *d, int64_t n, const RF(ttt_mb_in) *in,
                        const real *mbc, const real *dout, int64_t ldo, real *dstate, real *dQ,
                        real *dK, real *dV, real *dlr, real *dtau, real *dgamma, real *dbeta,
                        real *isc, real *fws) {
#if TTT_REAL == 32
    if (kf == KF_FAST) {
        ttt_fast_in fi = fast_in(in);
        ttt_fast_mb_backward(d, n, &fi, mbc, dout, ldo, dstate, dQ, dK, dV, dlr, dtau, dgamma, dbeta, fws);
        return;
    }
#endif
    if (kf == KF_WIDE)
        RF(ttt_wide_mb_backward)(d, n, in, mbc, dout, ldo, dstate, dQ, dK, dV, dlr, dtau, dgamma, dbeta, fws);
    else
        RF(ttt_mb_backward)(d, n, in, mbc, dout, ldo, dstate, dQ, dK, dV, dlr, dtau, dgamma, dbeta, isc);
}

/* the primal step: fused, or the reference (the wide family has none: one token) */
static void primal_step(int kf, const ttt_inner_dims *d, const RF(ttt_mb_in) *in, real tau,
                        real *st, real *sums, int commit, real *out, real *isc, real *fws) {
#if TTT_REAL == 32
    if (kf == KF_FAST) {
        ttt_fast_primal_step(d, in->Q, in->K, in->V, in->lr[0], tau, in->gamma, in->beta, st, sums,
                             commit, out, fws);
        return;
    }
#endif
    (void)kf, (void)fws;
    RF(ttt_primal_step)(d, in->Q, in->K, in->V, in->lr[0], tau, in->gamma, in->beta, st, sums,
                        commit, out, isc);
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

/* Prefetch into L2 rows t0 .. t0+mb−1 (the next mini-batch) of a head's columns in the
 * [B, L, D] arrays a task reads (Q, K, V; rd: dZ) and writes (wr: up to 3, NULL-terminated):
 * each task walks its head's few cache lines down rows D apart, a pattern the hardware
 * prefetchers miss (into L1 it measured worse: rows 4 apart share L1 sets).
 * Inlined: gcc takes a function of prefetches alone for one without effects and drops calls. */
static inline __attribute__((always_inline)) void prefetch_mb(const RF(ttt_scan_args) *a,
                                                                const real *rd, real *const *wr,
                                                                int64_t bi, int64_t h, int64_t t0) {
    if (t0 < 0 || t0 >= a->L) return;
    int64_t n = t0 + a->id.b <= a->L ? a->id.b : a->L - t0, step = 64 / (int64_t)sizeof(real), f = a->id.f;
    for (int64_t r = 0; r < n; r++) {
        int64_t row = (bi * a->L + t0 + r) * a->D + h * f;
        for (int64_t c = 0; c < f; c += step) {
            __builtin_prefetch(a->Q + row + c, 0, 2);
            __builtin_prefetch(a->K + row + c, 0, 2);
            __builtin_prefetch(a->V + row + c, 0, 2);
            if (rd) __builtin_prefetch(rd + row + c, 0, 2);
            for (int w = 0; w < 3 && wr && wr[w]; w++) __builtin_prefetch(wr[w] + row + c, 1, 2);
        }
    }
}

void RF(ttt_scan_forward)(const RF(ttt_scan_args) *a) {
    TTT_PROF_SCOPE(TTT_PROF_TTT_FWD, 0);
    const ttt_inner_dims *d = &a->id;
    int64_t S = ttt_state_size(d), M = ttt_mbc_layout_of(d).total, mb = d->b, f = d->f;
    int64_t nmb = (a->L + mb - 1) / mb;
    int64_t ngroups = a->group > 0 ? (nmb + a->group - 1) / a->group : 0;
    int64_t ntask = a->B * a->nh;
    int kf = kernel_family(d), fast = kf == KF_FAST;
#pragma omp parallel for schedule(static) num_threads(a->nthreads) \
    if (TTT_PAR(a->B * a->nh * a->L * a->id.f * a->id.F))
    for (int64_t task = 0; task < ntask; task++) {
        int64_t bi = task / a->nh, h = task % a->nh;
        real *scr = a->scratch + (int64_t)omp_get_thread_num() * a->scratch_elems;
        real *st = scr, *mbc_tmp = scr + 2 * S, *isc = mbc_tmp + M * (a->group > 0 ? a->group : 1);
        real *fws = isc + ttt_inner_scratch_size(d) + d->b * f;
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
            primal_step(kf, d, &in, a->tau[pos % mb], st, sums, pos % mb == mb - 1,
                        a->Z + (bi * a->L + t) * a->D + h * f, isc, fws);
            t++, pos++;
        }
        /* whole mini-batches (dual form, commit) and a last partial one */
        for (int64_t m = 0; t < a->L; m++) {
            int64_t n = a->L - t < mb ? a->L - t : mb;
            RF(ttt_mb_in) in = mb_inputs(a, bi, h, t);
            real *mbc = a->mbc ? a->mbc + (task * nmb + m) * M : NULL; /* kept for the backward */
            if (a->ckpt && m % a->group == 0)
                memcpy(a->ckpt + (task * ngroups + m / a->group) * S, st, sizeof(real) * (size_t)S);
            int partial = n < mb && sums;
            real *wz[2] = {a->Z, NULL};
            if (fast) prefetch_mb(a, NULL, wz, bi, h, t + n);
            mb_forward(kf, d, n, &in, st, partial ? sums : NULL, a->Z + (bi * a->L + t) * a->D + h * f,
                       a->D, mbc, mbc_tmp, fws);
            t += n;
            pos += n;
        }
    }
}

void RF(ttt_scan_backward)(const RF(ttt_scan_args) *a, const real *dZ, real *dQ, real *dK, real *dV,
                           real *dlr, real *dtau_part, real *dln_part, real *dW0_part) {
    TTT_PROF_SCOPE(TTT_PROF_TTT_BWD, 0);
    const ttt_inner_dims *d = &a->id;
    int64_t S = ttt_state_size(d), M = ttt_mbc_layout_of(d).total, mb = d->b, f = d->f;
    int64_t nmb = (a->L + mb - 1) / mb;
    int64_t G = a->group > 0 ? a->group : nmb;
    int64_t ngroups = (nmb + G - 1) / G;
    int64_t ntask = a->B * a->nh;
    int kf = kernel_family(d), fast = kf == KF_FAST;
#pragma omp parallel for schedule(static) num_threads(a->nthreads) \
    if (TTT_PAR(a->B * a->nh * a->L * a->id.f * a->id.F))
    for (int64_t task = 0; task < ntask; task++) {
        int64_t bi = task / a->nh, h = task % a->nh;
        real *scr = a->scratch + (int64_t)omp_get_thread_num() * a->scratch_elems;
        real *st = scr, *dstate = scr + S, *mbcs = scr + 2 * S;
        real *isc = mbcs + M * (a->group > 0 ? a->group : 1), *dummy = isc + ttt_inner_scratch_size(d);
        real *fws = dummy + d->b * f;
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
                    real *mbc = mbcs + (m - m0) * M;
                    if (fast) prefetch_mb(a, NULL, NULL, bi, h, t0 + mb);
                    mb_forward(kf, d, n, &in, st, NULL, dummy, f, mbc, mbc, fws);
                }
            }
            for (int64_t m = m1 - 1; m >= m0; m--) {
                int64_t t0 = m * mb, n = a->L - t0 < mb ? a->L - t0 : mb;
                const real *mbc = a->group > 0 ? mbcs + (m - m0) * M : a->mbc + (task * nmb + m) * M;
                RF(ttt_mb_in) in = mb_inputs(a, bi, h, t0);
                int64_t row = (bi * a->L + t0) * a->D + h * f;
                real *wd[4] = {dQ, dK, dV, NULL};
                if (fast) /* the previous mini-batch, next here or first of the next recomputation */
                    prefetch_mb(a, m > m0 ? dZ : NULL, m > m0 ? wd : NULL, bi, h, m > m0 ? t0 - mb : (m0 - G) * mb);
                mb_backward(kf, d, n, &in, mbc, dZ + row, a->D, dstate, dQ + row, dK + row, dV + row,
                            dlr + (bi * a->L + t0) * a->nh + h, dtau, dg, dbt, isc, fws);
            }
        }
        memcpy(dW0_part + task * S, dstate, sizeof(real) * (size_t)S);
    }
}
