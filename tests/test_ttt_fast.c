/* test_ttt_fast.c: the fused TTT kernels (src/kernels/ttt_fast.h) against the float32 reference
 * (src/layers/ttt_inner.c) on random shapes: TTT-Linear and TTT-MLP, head dims 8, 16, 64, 96,
 * mini-batch sizes 16 and 8 with full and remainder mini-batches (n = 1, 5, b − 1, b), for the
 * committed and the partial forward (outputs, final state, partial sums), every output of the
 * backward (dQ, dK, dV, dlr, dtau, dγ, dβ, dstate) and the primal step with and without
 * commit; on the AVX-512 path (when the CPU has it) and the portable one.
 *
 * Tolerance, per element: |fast − ref| <= atol·max|ref| + 1e-4·|ref| over each tensor, atol =
 * 2e-5, and 1e-4 (the golden data's gradient tolerance) for dlr and dτ. Both are float32
 * computations of the same formulas in different orders (blocked products with FMA, sums in
 * 4 or 16 partial sums, against scalar loops), so they differ by rounding only. Measured over
 * all these cases: max|fast − ref| / max|ref| is at most 1.1e-6 for the outputs, states, sums
 * and dQ/dK/dV/dγ/dβ/dstate, and both float32 results are off the float64 reference by about
 * as much; dlr of a one-token mini-batch (one scalar that sums cancelling terms) reaches
 * 1.4e-5 (fast 1.1e-5 and reference 2.8e-6 off float64). A wrong index or a missing term gives
 * errors of order 1. Set TTT_FAST_REPORT=1 to print, per tensor, the fast kernels' and the
 * float32 reference's errors against the float64 reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/real.h"
#include "core/rng.h"
#include "kernels/ttt_fast.h"
#include "layers/ttt_inner.h"
#include "test.h"

/* tests are compiled with TTT_REAL=64, so ttt_inner.h declares the float64 reference; the
 * float32 one by hand (ttt_fast_in has the members of ttt_mb_in_f32) */
void ttt_mb_forward_f32(const ttt_inner_dims *d, int64_t n, const ttt_fast_in *in, float *state,
                        float *sums, float *out, int64_t ldo, float *mbc);
void ttt_mb_backward_f32(const ttt_inner_dims *d, int64_t n, const ttt_fast_in *in, const float *mbc,
                         const float *dout, int64_t ldo, float *dstate, float *dQ, float *dK, float *dV,
                         float *dlr, float *dtau, float *dgamma, float *dbeta, float *scratch);
void ttt_primal_step_f32(const ttt_inner_dims *d, const float *q, const float *k, const float *v, float lr,
                         float tau, const float *gamma, const float *beta, float *state, float *sums,
                         int commit, float *out, float *scratch);

#define ATOL 2e-5       /* × max|ref| of the tensor */
#define ATOL_STEP 1e-4  /* the same for dlr and dτ */
#define RTOL 1e-4

typedef struct {
    ttt_inner_dims d;
    int64_t n, ld, lld, ldo, S;
    float *Q, *K, *V, *lr, *tau, *gamma, *beta, *state, *sums, *dout, *dstate;
} fcase;

static float *rnd(ttt_rng *r, int64_t n, double mean, double std) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = (float)(mean + std * ttt_rng_normal(r));
    return p;
}

static float *dup(const float *x, int64_t n) {
    float *p = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    memcpy(p, x, sizeof(float) * (size_t)n);
    return p;
}

/* rows at a stride larger than f (as in the scan, where it is the model width) */
static fcase make_case(int mlp, int64_t f, int64_t b, int64_t n, uint64_t seed) {
    fcase c;
    ttt_rng r;
    ttt_rng_seed(&r, seed);
    c.d = (ttt_inner_dims){f, mlp ? 4 * f : f, b, mlp};
    c.n = n, c.ld = 2 * f + 3, c.lld = 3, c.ldo = f + 5, c.S = ttt_state_size(&c.d);
    c.Q = rnd(&r, n * c.ld, 0, 1), c.K = rnd(&r, n * c.ld, 0, 1), c.V = rnd(&r, n * c.ld, 0, 1);
    c.lr = rnd(&r, n * c.lld, 0, 1);
    double base = mlp ? 0.1 : 1.0;
    for (int64_t i = 0; i < n * c.lld; i++) c.lr[i] = (float)(base / (1 + exp(-c.lr[i])) / (double)f);
    c.tau = rnd(&r, b, 0, 0.05);
    for (int64_t i = 0; i < b; i++) c.tau[i] = fabsf(c.tau[i] + 1.0f / (float)(i + 1));
    c.gamma = rnd(&r, f, 1, 0.1), c.beta = rnd(&r, f, 0, 0.1);
    c.state = rnd(&r, c.S, 0, 1.0 / sqrt((double)f));
    c.sums = rnd(&r, c.S, 0, 0.01);
    c.dout = rnd(&r, n * c.ldo, 0, 1);
    c.dstate = rnd(&r, c.S, 0, 0.1);
    return c;
}

static void free_case(fcase *c) {
    free(c->Q), free(c->K), free(c->V), free(c->lr), free(c->tau), free(c->gamma), free(c->beta);
    free(c->state), free(c->sums), free(c->dout), free(c->dstate);
}

/* double copies of a case for the float64 reference */
static double *to_d(const float *x, int64_t n) {
    double *p = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++) p[i] = x[i];
    return p;
}

static int report_on(void) {
    const char *e = getenv("TTT_FAST_REPORT");
    return e && *e && *e != '0';
}

static double worst_seen = 0; /* max over checks of max|fast − ref| / max|ref| */

/* |a − ref| <= ATOL·max|ref| + RTOL·|ref|; with the report, errors against x64 as well */
static int cmp(const char *label, const char *what, const float *a, const float *ref, const double *x64,
               int64_t n) {
    double atol = strcmp(what, "dlr") == 0 || strcmp(what, "dtau") == 0 ? ATOL_STEP : ATOL;
    double mref = 0, md = 0;
    for (int64_t i = 0; i < n; i++) mref = fmax(mref, fabs((double)ref[i]));
    int64_t bad = -1;
    double worst = -1;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]), tol = atol * mref + RTOL * fabs((double)ref[i]);
        md = fmax(md, d);
        if (!(d <= tol) && d - tol > worst) worst = d - tol, bad = i;
    }
    if (mref > 0) worst_seen = fmax(worst_seen, md / mref);
    if (report_on() && x64) {
        double m64 = 0, ef = 0, er = 0;
        for (int64_t i = 0; i < n; i++) {
            m64 = fmax(m64, fabs(x64[i]));
            ef = fmax(ef, fabs((double)a[i] - x64[i]));
            er = fmax(er, fabs((double)ref[i] - x64[i]));
        }
        printf("      %-34s %-7s vs f64: fast %.2e  ref32 %.2e   fast vs ref32 %.2e (max|ref| %.3g)\n", label,
               what, m64 > 0 ? ef / m64 : ef, m64 > 0 ? er / m64 : er, mref > 0 ? md / mref : md, mref);
    }
    if (bad >= 0) {
        test_fail("%s: %s[%lld] = %.9g, reference %.9g (|Δ| %.3g > %.3g; max|ref| %.3g)", label, what,
                  (long long)bad, (double)a[bad], (double)ref[bad], fabs((double)a[bad] - (double)ref[bad]),
                  atol * mref + RTOL * fabs((double)ref[bad]), mref);
        return 0;
    }
    return 1;
}

/* one forward (committed or partial) by both, then the backward of the committed one */
static int check_case(int mlp, int64_t f, int64_t b, int64_t n, uint64_t seed) {
    fcase c = make_case(mlp, f, b, n, seed);
    const ttt_inner_dims *d = &c.d;
    int64_t S = c.S, M = ttt_mbc_layout_of(d).total, ld = c.ld, ldo = c.ldo, rows = n * ld;
    char label[96];
    snprintf(label, sizeof label, "%s %s f=%lld b=%lld n=%lld", ttt_fast_isa(), mlp ? "mlp" : "linear",
             (long long)f, (long long)b, (long long)n);
    ttt_fast_in rin = {c.Q, c.K, c.V, ld, c.lr, c.lld, c.tau, c.gamma, c.beta};
    ttt_fast_in fin = {c.Q, c.K, c.V, ld, c.lr, c.lld, c.tau, c.gamma, c.beta};
    float *rsc = calloc((size_t)(ttt_inner_scratch_size(d) + 64), sizeof(float));
    float *fsc = calloc((size_t)ttt_fast_scratch_elems(d), sizeof(float));
    float *rmbc = calloc((size_t)M, sizeof(float)), *fmbc = calloc((size_t)M, sizeof(float));
    int ok = 1;

    /* float64 reference of everything, for the report */
    double *Qd = to_d(c.Q, rows), *Kd = to_d(c.K, rows), *Vd = to_d(c.V, rows), *lrd = to_d(c.lr, n * c.lld);
    double *taud = to_d(c.tau, b), *gd = to_d(c.gamma, f), *bd = to_d(c.beta, f);
    ttt_mb_in_f64 din = {Qd, Kd, Vd, ld, lrd, c.lld, taud, gd, bd};
    double *st64 = to_d(c.state, S), *sm64 = to_d(c.sums, S), *o64 = calloc((size_t)(n * ldo), sizeof(double));
    double *mbc64 = calloc((size_t)M, sizeof(double)), *sc64 = calloc((size_t)(ttt_inner_scratch_size(d) + 64), sizeof(double));

    for (int partial = 0; partial < 2; partial++) {
        if (partial && n == b) continue; /* the scan takes the partial form only for n < b */
        float *rst = dup(c.state, S), *fst = dup(c.state, S), *rsm = dup(c.sums, S), *fsm = dup(c.sums, S);
        float *rout = calloc((size_t)(n * ldo), sizeof(float)), *fout = calloc((size_t)(n * ldo), sizeof(float));
        ttt_mb_forward_f32(d, n, &rin, rst, partial ? rsm : NULL, rout, ldo, rmbc);
        /* the partial form runs without a cache (no backward follows it in the scan) */
        ttt_fast_mb_forward(d, n, &fin, fst, partial ? fsm : NULL, fout, ldo, partial ? NULL : fmbc, fsc);
        for (int64_t i = 0; i < S; i++) st64[i] = c.state[i], sm64[i] = c.sums[i];
        ttt_mb_forward_f64(d, n, &din, st64, partial ? sm64 : NULL, o64, ldo, mbc64);
        char lab[128];
        snprintf(lab, sizeof lab, "%s%s", label, partial ? " partial" : "");
        ok &= cmp(lab, "out", fout, rout, o64, n * ldo);
        ok &= cmp(lab, partial ? "state" : "state'", fst, rst, st64, S);
        if (partial) ok &= cmp(lab, "sums", fsm, rsm, sm64, S);
        free(rst), free(fst), free(rsm), free(fsm), free(rout), free(fout);
    }

    { /* backward of the committed forward (the last mini-batch may be short) */
        float *rst = dup(c.state, S), *fst = dup(c.state, S);
        float *rout = calloc((size_t)(n * ldo), sizeof(float)), *fout = calloc((size_t)(n * ldo), sizeof(float));
        ttt_mb_forward_f32(d, n, &rin, rst, NULL, rout, ldo, rmbc);
        ttt_fast_mb_forward(d, n, &fin, fst, NULL, fout, ldo, fmbc, fsc);
        for (int64_t i = 0; i < S; i++) st64[i] = c.state[i];
        ttt_mb_forward_f64(d, n, &din, st64, NULL, o64, ldo, mbc64);
        /* outputs start from random values: the kernels accumulate */
        ttt_rng r;
        ttt_rng_seed(&r, seed + 7);
        float *g0 = rnd(&r, 3 * rows + n * c.lld + b + 2 * f, 0, 0.1);
        float *rg = dup(g0, 3 * rows + n * c.lld + b + 2 * f), *fg = dup(g0, 3 * rows + n * c.lld + b + 2 * f);
        double *g64 = to_d(g0, 3 * rows + n * c.lld + b + 2 * f);
        float *rds = dup(c.dstate, S), *fds = dup(c.dstate, S);
        double *ds64 = to_d(c.dstate, S), *dout64 = to_d(c.dout, n * ldo);
#define PARTS(g) g, g + rows, g + 2 * rows, g + 3 * rows, g + 3 * rows + n * c.lld, g + 3 * rows + n * c.lld + b, \
                 g + 3 * rows + n * c.lld + b + f
        ttt_mb_backward_f32(d, n, &rin, rmbc, c.dout, ldo, rds, PARTS(rg), rsc);
        ttt_fast_mb_backward(d, n, &fin, fmbc, c.dout, ldo, fds, PARTS(fg), fsc);
        ttt_mb_backward_f64(d, n, &din, mbc64, dout64, ldo, ds64, PARTS(g64), sc64);
#undef PARTS
        const char *names[7] = {"dQ", "dK", "dV", "dlr", "dtau", "dgamma", "dbeta"};
        int64_t off[8] = {0, rows, 2 * rows, 3 * rows, 3 * rows + n * c.lld, 3 * rows + n * c.lld + b,
                          3 * rows + n * c.lld + b + f, 3 * rows + n * c.lld + b + 2 * f};
        for (int k = 0; k < 7; k++)
            ok &= cmp(label, names[k], fg + off[k], rg + off[k], g64 + off[k], off[k + 1] - off[k]);
        ok &= cmp(label, "dstate", fds, rds, ds64, S);
        free(rst), free(fst), free(rout), free(fout), free(g0), free(rg), free(fg), free(g64);
        free(rds), free(fds), free(ds64), free(dout64);
    }

    /* primal steps from random state and sums, commit and not */
    for (int commit = 0; commit < 2; commit++) {
        float *rst = dup(c.state, S), *fst = dup(c.state, S), *rsm = dup(c.sums, S), *fsm = dup(c.sums, S);
        float rout[128], fout[128];
        int64_t s = (n - 1) % b;
        ttt_primal_step_f32(d, c.Q, c.K, c.V, c.lr[0], c.tau[s], c.gamma, c.beta, rst, rsm, commit, rout, rsc);
        ttt_fast_primal_step(d, c.Q, c.K, c.V, c.lr[0], c.tau[s], c.gamma, c.beta, fst, fsm, commit, fout, fsc);
        char lab[128];
        snprintf(lab, sizeof lab, "%s primal%s", label, commit ? " commit" : "");
        ok &= cmp(lab, "out", fout, rout, NULL, f);
        ok &= cmp(lab, "state", fst, rst, NULL, S);
        ok &= cmp(lab, "sums", fsm, rsm, NULL, S);
        free(rst), free(fst), free(rsm), free(fsm);
    }
    free(rsc), free(fsc), free(rmbc), free(fmbc);
    free(Qd), free(Kd), free(Vd), free(lrd), free(taud), free(gd), free(bd), free(st64), free(sm64), free(o64);
    free(mbc64), free(sc64);
    free_case(&c);
    return ok;
}

static int check_all(void) {
    static const int64_t fs[] = {8, 16, 64, 96};
    int ok = 1;
    uint64_t seed = 1;
    for (int mlp = 0; mlp < 2; mlp++)
        for (size_t fi = 0; fi < sizeof fs / sizeof fs[0]; fi++)
            for (int64_t b = 16; b >= 8; b -= 8) {
                int64_t ns[4] = {b, 1, 5, b - 1};
                for (int k = 0; k < 4; k++) ok &= check_case(mlp, fs[fi], b, ns[k], seed++);
            }
    return ok;
}

TEST(test_ttt_fast_vs_reference) {
    worst_seen = 0;
    ttt_fast_force_portable(0);
    int ok = check_all();
    printf("      %s path: worst max|fast − ref| / max|ref| = %.2e (any tensor)\n", ttt_fast_isa(), worst_seen);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_ttt_fast_portable_vs_reference) {
    worst_seen = 0;
    ttt_fast_force_portable(1);
    int ok = check_all();
    ttt_fast_force_portable(0);
    printf("      portable path: worst max|fast − ref| / max|ref| = %.2e\n", worst_seen);
    return ok ? TEST_PASS : TEST_FAIL;
}
