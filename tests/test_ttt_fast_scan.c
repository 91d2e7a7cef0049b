/* test_ttt_fast_scan.c: the TTT scan (src/layers/ttt_scan.c, float32) with the fused kernels
 * against the same scan with the reference kernels (ttt_reference_kernels = 1): several
 * sequences and heads, a remainder mini-batch, forward (inference, and training with state
 * checkpoints) and backward, the cached prefill/decode path starting mid-mini-batch; results
 * bit-identical for 1 and 2 threads and between the checkpointed and the cache-everything
 * training paths; and with the reference selected, the scan's outputs are those of the
 * reference inner-loop functions called directly. Tolerance as test_ttt_fast.c (per element
 * |fast − ref| <= 2e-5·max|ref| + 1e-4·|ref|; errors compound little over 3 mini-batches).
 * The same for the wide mini-batch kernels (TTT-Linear, mini-batch 40). */
#undef TTT_REAL
#define TTT_REAL 32 /* this file tests the float instantiation */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/real.h"
#include "core/rng.h"
#include "kernels/ttt_fast.h"
#include "layers/ttt_scan.h"
#include "ops/kernels.h"
#include "test.h"

typedef struct {
    ttt_scan_args_f32 a;
    int64_t N, S, nmb, ngroups, ntask;
    float *buf[24];
    int nbuf;
} scase;

static float *alloc_f(scase *c, int64_t n) {
    float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
    c->buf[c->nbuf++] = p;
    return p;
}

static float *rnd_f(scase *c, ttt_rng *r, int64_t n, double mean, double std) {
    float *p = alloc_f(c, n);
    for (int64_t i = 0; i < n; i++) p[i] = (float)(mean + std * ttt_rng_normal(r));
    return p;
}

/* B sequences of L tokens, nh heads of dim f, mini-batch mb, checkpoints every 2 */
static scase make_scase_mb(int mlp, int64_t B, int64_t L, int64_t nh, int64_t f, int64_t mb, int nthreads) {
    scase c;
    memset(&c, 0, sizeof c);
    ttt_rng r;
    ttt_rng_seed(&r, (uint64_t)(1000 + mlp * 7 + L));
    ttt_scan_args_f32 *a = &c.a;
    a->id = (ttt_inner_dims){f, mlp ? 4 * f : f, mb, mlp};
    a->B = B, a->L = L, a->nh = nh, a->D = nh * f;
    c.N = B * L, c.S = ttt_state_size(&a->id), c.nmb = (L + mb - 1) / mb, c.ngroups = (c.nmb + 1) / 2;
    c.ntask = B * nh;
    int64_t D = a->D, F = a->id.F, N = c.N;
    a->Q = rnd_f(&c, &r, N * D, 0, 1), a->K = rnd_f(&c, &r, N * D, 0, 1), a->V = rnd_f(&c, &r, N * D, 0, 1);
    float *lr = rnd_f(&c, &r, N * nh, 0, 1), *tau = alloc_f(&c, mb);
    for (int64_t i = 0; i < N * nh; i++) lr[i] = (float)((mlp ? 0.1 : 1.0) / (1 + exp(-lr[i])) / (double)f);
    for (int64_t i = 0; i < mb; i++) tau[i] = 1.0f / (float)(i + 1) + 0.01f * (float)(i % 3);
    a->lr = lr, a->tau = tau;
    a->ln_w = rnd_f(&c, &r, nh * f, 1, 0.1), a->ln_b = rnd_f(&c, &r, nh * f, 0, 0.1);
    a->W1 = rnd_f(&c, &r, nh * f * F, 0, 1 / sqrt((double)f)), a->b1 = rnd_f(&c, &r, nh * F, 0, 0.1);
    a->W2 = rnd_f(&c, &r, nh * F * f, 0, 1 / sqrt((double)F)), a->b2 = rnd_f(&c, &r, nh * f, 0, 0.1);
    a->Z = alloc_f(&c, N * D);
    a->scratch_elems = ttt_scan_scratch_elems_f32(&a->id, 2);
    a->scratch = alloc_f(&c, a->scratch_elems * 2);
    a->nthreads = nthreads;
    return c;
}

static scase make_scase(int mlp, int64_t B, int64_t L, int64_t nh, int64_t f, int nthreads) {
    return make_scase_mb(mlp, B, L, nh, f, 16, nthreads);
}

static void free_scase(scase *c) {
    for (int i = 0; i < c->nbuf; i++) free(c->buf[i]);
}

/* everything the scan produces for one configuration */
typedef struct {
    float *Z, *Zdec, *dQ, *dK, *dV, *dlr, *dtau, *dln, *dW0;
    int64_t nZ, nlr, ntau, nln, nW0;
} souts;

static void free_souts(souts *o) {
    free(o->Z), free(o->Zdec), free(o->dQ), free(o->dK), free(o->dV), free(o->dlr), free(o->dtau);
    free(o->dln), free(o->dW0);
}

/* forward (inference), training forward + backward (group 2, or 0: every mini-batch's cache),
 * then a prefill of P tokens and single-token decode steps to the end, from W0 */
static souts run_scan(scase *c, int reference, int group, int64_t P) {
    ttt_scan_args_f32 a = c->a;
    int64_t N = c->N, D = a.D, nh = a.nh, S = c->S, T = c->ntask;
    souts o;
    o.nZ = N * D, o.nlr = N * nh, o.ntau = T * a.id.b, o.nln = T * 2 * a.id.f, o.nW0 = T * S;
    o.Z = calloc((size_t)o.nZ, sizeof(float)), o.Zdec = calloc((size_t)o.nZ, sizeof(float));
    o.dQ = calloc((size_t)o.nZ, sizeof(float)), o.dK = calloc((size_t)o.nZ, sizeof(float));
    o.dV = calloc((size_t)o.nZ, sizeof(float)), o.dlr = calloc((size_t)o.nlr, sizeof(float));
    o.dtau = calloc((size_t)o.ntau, sizeof(float)), o.dln = calloc((size_t)o.nln, sizeof(float));
    o.dW0 = calloc((size_t)o.nW0, sizeof(float));
    int saved = ttt_reference_kernels;
    ttt_reference_kernels = reference;
    /* inference forward */
    a.Z = o.Z;
    ttt_scan_forward_f32(&a);
    /* training */
    float *ckpt = calloc((size_t)(T * c->ngroups * S), sizeof(float));
    float *mbc = calloc((size_t)(T * c->nmb * ttt_mbc_layout_of(&a.id).total), sizeof(float));
    float *Ztr = calloc((size_t)o.nZ, sizeof(float));
    a.Z = Ztr, a.group = group, a.ckpt = group ? ckpt : NULL, a.mbc = group ? NULL : mbc;
    ttt_scan_forward_f32(&a);
    ttt_rng r;
    ttt_rng_seed(&r, 99);
    float *dZ = calloc((size_t)o.nZ, sizeof(float));
    for (int64_t i = 0; i < o.nZ; i++) dZ[i] = (float)ttt_rng_normal(&r);
    ttt_scan_backward_f32(&a, dZ, o.dQ, o.dK, o.dV, o.dlr, o.dtau, o.dln, o.dW0);
    /* cached: state and sums per task from W0, P tokens, then one token per call */
    float *state = calloc((size_t)(T * S), sizeof(float)), *sums = calloc((size_t)(T * S), sizeof(float));
    int64_t f = a.id.f, F = a.id.F;
    for (int64_t t = 0; t < T; t++) {
        int64_t h = t % nh;
        memcpy(state + t * S, a.W1 + h * f * F, sizeof(float) * (size_t)(f * F));
        memcpy(state + t * S + f * F, a.b1 + h * F, sizeof(float) * (size_t)F);
        if (a.id.mlp) {
            memcpy(state + t * S + f * F + F, a.W2 + h * F * f, sizeof(float) * (size_t)(F * f));
            memcpy(state + t * S + f * F + F + F * f, a.b2 + h * f, sizeof(float) * (size_t)f);
        }
    }
    /* rows of sequence bi at [bi, L, D]: one call per sequence so a call's rows are [1, n, D] */
    for (int64_t bi = 0; bi < a.B; bi++) {
        ttt_scan_args_f32 s = c->a;
        s.B = 1, s.group = 0, s.ckpt = NULL, s.mbc = NULL;
        s.state = state + bi * nh * S, s.sums = sums + bi * nh * S;
        for (int64_t t = 0; t < a.L;) {
            int64_t n = t == 0 ? P : 1;
            int64_t row = (bi * a.L + t);
            s.L = n, s.pos0 = t;
            s.Q = a.Q + row * D, s.K = a.K + row * D, s.V = a.V + row * D, s.lr = a.lr + row * nh;
            s.Z = o.Zdec + row * D;
            ttt_scan_forward_f32(&s);
            t += n;
        }
    }
    ttt_reference_kernels = saved;
    free(ckpt), free(mbc), free(Ztr), free(dZ), free(state), free(sums);
    return o;
}

static int cmp_tol(const char *what, const float *a, const float *ref, int64_t n) {
    double mref = 0;
    for (int64_t i = 0; i < n; i++) mref = fmax(mref, fabs((double)ref[i]));
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]), tol = 2e-5 * mref + 1e-4 * fabs((double)ref[i]);
        if (!(d <= tol)) {
            test_fail("%s[%lld] = %.9g, reference %.9g (|Δ| %.3g > %.3g)", what, (long long)i, (double)a[i],
                      (double)ref[i], d, tol);
            return 0;
        }
    }
    return 1;
}

#define ALL_OUTPUTS(X)                                                                            \
    X(Z, nZ) X(Zdec, nZ) X(dQ, nZ) X(dK, nZ) X(dV, nZ) X(dlr, nlr) X(dtau, ntau) X(dln, nln) X(dW0, nW0)

TEST(test_ttt_fast_scan_vs_reference) {
    int ok = 1;
    for (int mlp = 0; mlp < 2; mlp++) {
        scase c = make_scase(mlp, 2, 37, 3, 16, 2);
        souts fo = run_scan(&c, 0, 2, 21), ro = run_scan(&c, 1, 2, 21);
        char w[64];
#define CMP(name, cnt)                                                                            \
    snprintf(w, sizeof w, "%s %s", mlp ? "mlp" : "linear", #name);                                \
    ok &= cmp_tol(w, fo.name, ro.name, fo.cnt);
        ALL_OUTPUTS(CMP)
#undef CMP
        /* the decode path continues the same computation: it equals the full forward */
        snprintf(w, sizeof w, "%s decode vs forward", mlp ? "mlp" : "linear");
        ok &= cmp_tol(w, fo.Zdec, fo.Z, fo.nZ);
        free_souts(&fo), free_souts(&ro);
        free_scase(&c);
    }
    return ok ? TEST_PASS : TEST_FAIL;
}

/* per-(sequence, head) tasks: the thread count changes nothing, nor does keeping every
 * mini-batch's cache instead of recomputing groups from checkpoints (same kernels, same order) */
TEST(test_ttt_fast_scan_bit_identical) {
    int ok = 1;
    for (int mlp = 0; mlp < 2; mlp++) {
        scase c1 = make_scase(mlp, 2, 37, 3, 16, 1), c2 = make_scase(mlp, 2, 37, 3, 16, 2);
        souts o1 = run_scan(&c1, 0, 2, 5), o2 = run_scan(&c2, 0, 2, 5), o0 = run_scan(&c2, 0, 0, 5);
        char w[64];
#define BITS(name, cnt)                                                                           \
    snprintf(w, sizeof w, "%s %s, 1 vs 2 threads", mlp ? "mlp" : "linear", #name);                \
    ok &= check_bits(w, o1.name, o2.name, sizeof(float) * (size_t)o1.cnt);                        \
    snprintf(w, sizeof w, "%s %s, group 2 vs 0", mlp ? "mlp" : "linear", #name);                   \
    ok &= check_bits(w, o0.name, o2.name, sizeof(float) * (size_t)o1.cnt);
        ALL_OUTPUTS(BITS)
#undef BITS
        free_souts(&o1), free_souts(&o2), free_souts(&o0);
        free_scase(&c1), free_scase(&c2);
    }
    return ok ? TEST_PASS : TEST_FAIL;
}

/* --kernels reference: the scan's outputs are exactly those of the reference functions */
TEST(test_ttt_fast_scan_reference_selectable) {
    scase c = make_scase(1, 1, 37, 2, 16, 2);
    ttt_scan_args_f32 *a = &c.a;
    int64_t f = a->id.f, F = a->id.F, S = c.S, D = a->D, M = ttt_mbc_layout_of(&a->id).total;
    int saved = ttt_reference_kernels;
    ttt_reference_kernels = 1;
    ttt_scan_forward_f32(a);
    float *Z = calloc((size_t)(c.N * D), sizeof(float)), *st = calloc((size_t)S, sizeof(float));
    float *mbc = calloc((size_t)M, sizeof(float));
    int ok = 1;
    for (int64_t h = 0; h < a->nh; h++) {
        memcpy(st, a->W1 + h * f * F, sizeof(float) * (size_t)(f * F));
        memcpy(st + f * F, a->b1 + h * F, sizeof(float) * (size_t)F);
        memcpy(st + f * F + F, a->W2 + h * F * f, sizeof(float) * (size_t)(F * f));
        memcpy(st + f * F + F + F * f, a->b2 + h * f, sizeof(float) * (size_t)f);
        for (int64_t t = 0; t < a->L; t += 16) {
            int64_t n = a->L - t < 16 ? a->L - t : 16, row = t * D + h * f;
            ttt_mb_in_f32 in = {a->Q + row, a->K + row, a->V + row, D, a->lr + t * a->nh + h, a->nh,
                                a->tau, a->ln_w + h * f, a->ln_b + h * f};
            ttt_mb_forward_f32(&a->id, n, &in, st, NULL, Z + row, D, mbc);
        }
    }
    ok &= check_bits("reference scan vs ttt_mb_forward", a->Z, Z, sizeof(float) * (size_t)(c.N * D));
    /* and the fast kernels do compute differently (the switch is not a no-op) */
    ttt_reference_kernels = 0;
    ttt_scan_forward_f32(a);
    ttt_reference_kernels = saved;
    EXPECT(memcmp(a->Z, Z, sizeof(float) * (size_t)(c.N * D)) != 0 || !ttt_fast_usable(&a->id),
           "fast and reference scans gave bit-identical outputs: the fast kernels were not used");
    free(Z), free(st), free(mbc);
    free_scase(&c);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* TTT-Linear with mini-batches wider than the fused kernels take (40: two whole ones and a
 * remainder of 20; the prefill of 21 tokens a partial one): the wide kernels
 * (ttt_inner_wide.c) against the reference, the decode path against the forward, and the
 * same bits for 1 and 2 threads and with or without recomputation */
TEST(test_ttt_wide_scan_vs_reference) {
    int ok = 1;
    scase c = make_scase_mb(0, 2, 100, 3, 16, 40, 2), c1 = make_scase_mb(0, 2, 100, 3, 16, 40, 1);
    souts wo = run_scan(&c, 0, 2, 21), ro = run_scan(&c, 1, 2, 21);
    souts w1 = run_scan(&c1, 0, 2, 21), w0 = run_scan(&c, 0, 0, 21);
    char w[64];
#define CMP(name, cnt)                                                                            \
    snprintf(w, sizeof w, "wide %s", #name);                                                      \
    ok &= cmp_tol(w, wo.name, ro.name, wo.cnt);                                                   \
    snprintf(w, sizeof w, "wide %s, 1 vs 2 threads", #name);                                      \
    ok &= check_bits(w, w1.name, wo.name, sizeof(float) * (size_t)wo.cnt);                        \
    snprintf(w, sizeof w, "wide %s, group 2 vs 0", #name);                                        \
    ok &= check_bits(w, w0.name, wo.name, sizeof(float) * (size_t)wo.cnt);
    ALL_OUTPUTS(CMP)
#undef CMP
    ok &= cmp_tol("wide decode vs forward", wo.Zdec, wo.Z, wo.nZ);
    /* the wide kernels were used: they sum in another order than the reference */
    EXPECT(memcmp(wo.dK, ro.dK, sizeof(float) * (size_t)wo.nZ) != 0, "wide and reference scans gave the same bits");
    free_souts(&wo), free_souts(&ro), free_souts(&w1), free_souts(&w0);
    free_scase(&c), free_scase(&c1);
    return ok ? TEST_PASS : TEST_FAIL;
}
