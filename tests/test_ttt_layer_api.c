/* test_ttt_layer_api.c: the public inner-loop API (include/ttt_inner_loop.h) from C, so the
 * sanitizer build runs it too (the PyTorch tests, test_torch, run in the release build):
 *   - backward (float64) against central finite differences of loss = Σ dz ⊙ z, for sampled
 *     entries of every input, TTT-Linear and TTT-MLP, with a trailing partial mini-batch;
 *   - float32 (fused kernels) against float64 (reference kernels) for z and the gradients;
 *   - the final state: the forward's state_out/sums_out on L tokens equal the start weights of a
 *     (finite-difference-checked) forward split at the same point: the output of the remaining
 *     tokens computed from state_out as W0 (b divides the split);
 *   - bad shapes and arguments give TTT_ERR_ARG with a message naming the argument. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ttt.h"
#include "ttt_inner_loop.h"

typedef struct {
    ttt_inner_shape s;
    int64_t n[11]; /* element counts of xq xk xv eta tau lnw lnb W1 b1 W2 b2 */
    double *v[11];
} case_t;

static const char *NAMES[11] = {"xq", "xk", "xv", "eta", "token_scale", "ln_weight", "ln_bias", "W1", "b1", "W2", "b2"};

static uint64_t rng_state = 88172645463325252ull;
static double urand(void) { /* xorshift64, uniform in [-1, 1) */
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0 * 2 - 1;
}

static void case_make(case_t *c, int64_t B, int64_t L, int64_t H, int64_t f, int64_t b, int mlp) {
    memset(c, 0, sizeof *c);
    c->s = (ttt_inner_shape){B, L, H, f, b, mlp, 1};
    int64_t F = mlp ? 4 * f : f, x = B * L * H * f;
    int64_t n[11] = {x, x, x, B * L * H, b, H * f, H * f, H * f * F, H * F, mlp ? H * F * f : 0, mlp ? H * f : 0};
    for (int i = 0; i < 11; i++) {
        c->n[i] = n[i];
        c->v[i] = n[i] ? malloc(sizeof(double) * (size_t)n[i]) : NULL;
        for (int64_t j = 0; j < n[i]; j++) {
            double u = urand();
            switch (i) {
            case 3: c->v[i][j] = 0.05 + 0.1 * (u + 1); break;                 /* η > 0 */
            case 4: c->v[i][j] = 1.0 / (double)(j + 1) + 0.05 * u; break;      /* τ */
            case 5: c->v[i][j] = 1 + 0.2 * u; break;                           /* γ */
            case 7: case 9: c->v[i][j] = 0.5 * u / sqrt((double)(i == 7 ? f : F)); break;
            case 6: case 8: case 10: c->v[i][j] = 0.1 * u; break;
            default: c->v[i][j] = u;
            }
        }
    }
}

static void case_free(case_t *c) {
    for (int i = 0; i < 11; i++) free(c->v[i]);
}

static ttt_inner_inputs_f64 in64(const case_t *c) {
    ttt_inner_inputs_f64 in = {c->v[0], c->v[1], c->v[2], c->v[3], c->v[4], c->v[5], c->v[6], c->v[7], c->v[8],
                               c->v[9], c->v[10]};
    return in;
}

/* Σ dz ⊙ z of a float64 forward */
static double loss64(const case_t *c, const double *dz, double *z) {
    ttt_inner_inputs_f64 in = in64(c);
    if (ttt_inner_forward_f64(&c->s, &in, z, NULL, NULL, NULL, 0) != TTT_OK) return NAN;
    double s = 0;
    for (int64_t i = 0; i < c->n[0]; i++) s += dz[i] * z[i];
    return s;
}

static int check_case(int64_t B, int64_t L, int64_t H, int64_t f, int64_t b, int mlp) {
    case_t c;
    case_make(&c, B, L, H, f, b, mlp);
    int64_t nx = c.n[0];
    double *dz = malloc(sizeof(double) * (size_t)nx), *z = malloc(sizeof(double) * (size_t)nx);
    for (int64_t i = 0; i < nx; i++) dz[i] = urand();
    double *g[11] = {0};
    for (int i = 0; i < 11; i++) g[i] = c.n[i] ? calloc((size_t)c.n[i], sizeof(double)) : NULL;
    ttt_inner_grads_f64 gr = {g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10]};
    ttt_inner_inputs_f64 in = in64(&c);
    int64_t ns = ttt_inner_saved_elems(&c.s);
    double *saved = malloc(sizeof(double) * (size_t)ns);
    int rc = TEST_PASS;
    EXPECT(ttt_inner_forward_f64(&c.s, &in, z, NULL, NULL, saved, ns) == TTT_OK, "forward: %s", ttt_last_error());
    EXPECT(ttt_inner_backward_f64(&c.s, &in, dz, saved, ns, &gr) == TTT_OK, "backward: %s", ttt_last_error());
    /* finite differences, step h, for up to 6 entries of each input: |fd − g| <= 1e-6 (1 + |g|) */
    double h = 1e-5, worst = 0;
    const char *wname = "";
    int64_t widx = 0;
    for (int i = 0; i < 11 && rc == TEST_PASS; i++) {
        for (int k = 0; k < 6 && c.n[i]; k++) {
            int64_t j = (int64_t)((urand() + 1) / 2 * (double)c.n[i]) % c.n[i];
            double keep = c.v[i][j];
            c.v[i][j] = keep + h;
            double lp = loss64(&c, dz, z);
            c.v[i][j] = keep - h;
            double lm = loss64(&c, dz, z);
            c.v[i][j] = keep;
            double fd = (lp - lm) / (2 * h), e = fabs(fd - g[i][j]) / (1 + fabs(g[i][j]));
            if (!(e <= worst)) worst = e, wname = NAMES[i], widx = j;
        }
    }
    if (!(worst <= 1e-6)) {
        test_fail("%s B=%lld L=%lld b=%lld: worst |fd − grad| / (1 + |grad|) = %.3g at d%s[%lld] (allowed 1e-6)",
                  mlp ? "MLP" : "Linear", (long long)B, (long long)L, (long long)b, worst, wname, (long long)widx);
        rc = TEST_FAIL;
    }
    /* float32 (fused kernels where b <= 16) against float64, on the same (rounded) inputs */
    if (rc == TEST_PASS) {
        float *v32[11] = {0}, *g32[11] = {0};
        for (int i = 0; i < 11; i++)
            if (c.n[i]) {
                v32[i] = malloc(sizeof(float) * (size_t)c.n[i]);
                g32[i] = malloc(sizeof(float) * (size_t)c.n[i]);
                for (int64_t j = 0; j < c.n[i]; j++) c.v[i][j] = v32[i][j] = (float)c.v[i][j];
            }
        float *z32 = malloc(sizeof(float) * (size_t)nx), *dz32 = malloc(sizeof(float) * (size_t)nx);
        for (int64_t j = 0; j < nx; j++) dz[j] = dz32[j] = (float)dz[j];
        ttt_inner_inputs_f32 i32 = {v32[0], v32[1], v32[2], v32[3], v32[4], v32[5], v32[6], v32[7], v32[8], v32[9], v32[10]};
        ttt_inner_grads_f32 gr32 = {g32[0], g32[1], g32[2], g32[3], g32[4], g32[5], g32[6], g32[7], g32[8], g32[9], g32[10]};
        in = in64(&c);
        EXPECT(ttt_inner_forward_f64(&c.s, &in, z, NULL, NULL, NULL, 0) == TTT_OK, "%s", ttt_last_error());
        EXPECT(ttt_inner_backward_f64(&c.s, &in, dz, NULL, 0, &gr) == TTT_OK, "%s", ttt_last_error()); /* recompute */
        EXPECT(ttt_inner_forward_f32(&c.s, &i32, z32, NULL, NULL, NULL, 0) == TTT_OK, "%s", ttt_last_error());
        EXPECT(ttt_inner_backward_f32(&c.s, &i32, dz32, NULL, 0, &gr32) == TTT_OK, "%s", ttt_last_error());
        float *zr = malloc(sizeof(float) * (size_t)nx);
        for (int64_t j = 0; j < nx; j++) zr[j] = (float)z[j];
        /* golden style, relative to the largest element: measured <= 1e-6 */
        if (!check_rel_max("z f32 vs f64", z32, zr, nx, 2e-5)) rc = TEST_FAIL;
        for (int i = 0; i < 11 && rc == TEST_PASS; i++) {
            if (!c.n[i]) continue;
            float *gref = malloc(sizeof(float) * (size_t)c.n[i]);
            for (int64_t j = 0; j < c.n[i]; j++) gref[j] = (float)g[i][j];
            char what[64];
            snprintf(what, sizeof what, "d%s f32 vs f64", NAMES[i]);
            if (!check_rel_max(what, g32[i], gref, c.n[i], 5e-5)) rc = TEST_FAIL;
            free(gref);
        }
        for (int i = 0; i < 11; i++) free(v32[i]), free(g32[i]);
        free(z32), free(dz32), free(zr);
    }
    for (int i = 0; i < 11; i++) free(g[i]);
    free(dz), free(z), free(saved);
    case_free(&c);
    return rc;
}

TEST(test_ttt_layer_api_grad) {
    int rc = check_case(2, 11, 2, 4, 4, 0);          /* Linear, 2 mini-batches + 3 tokens */
    if (rc == TEST_PASS) rc = check_case(1, 9, 2, 4, 3, 1);  /* MLP */
    if (rc == TEST_PASS) rc = check_case(1, 21, 1, 4, 20, 0); /* Linear, wide (b > 16) */
    return rc;
}

/* state_out after L1 = 2b tokens, used as W0 of the remaining tokens, gives the same z as the
 * whole sequence at once (b divides L1, so nothing of the first part is left in the sums);
 * and sums_out is zero there, nonzero after a partial mini-batch */
TEST(test_ttt_layer_api_state) {
    int64_t B = 1, H = 2, f = 4, b = 4, L = 11, L1 = 8;
    case_t c, c2;
    case_make(&c, B, L, H, f, b, 0);
    case_make(&c2, B, L - L1, H, f, b, 0);
    ttt_inner_inputs_f64 in = in64(&c);
    int64_t S = ttt_inner_state_elems(&c.s);
    EXPECT(S == f * f + f, "state elems %lld, expected %lld", (long long)S, (long long)(f * f + f));
    double *z = malloc(sizeof(double) * (size_t)c.n[0]), *st = malloc(sizeof(double) * (size_t)(B * H * S));
    double *sums = malloc(sizeof(double) * (size_t)(B * H * S));
    EXPECT(ttt_inner_forward_f64(&c.s, &in, z, NULL, NULL, NULL, 0) == TTT_OK, "%s", ttt_last_error());
    /* first part: L1 tokens */
    ttt_inner_shape s1 = c.s;
    s1.seq_len = L1;
    double *z1 = malloc(sizeof(double) * (size_t)(L1 * H * f));
    EXPECT(ttt_inner_forward_f64(&s1, &in, z1, st, sums, NULL, 0) == TTT_OK, "%s", ttt_last_error());
    double smax = 0;
    for (int64_t i = 0; i < B * H * S; i++) smax = fmax(smax, fabs(sums[i]));
    EXPECT(smax == 0, "sums_out after whole mini-batches: max %.3g, expected 0", smax);
    /* second part from the state (B = 1: the state of each head is its W0) */
    for (int64_t j = 0; j < c2.n[0]; j++) {
        c2.v[0][j] = c.v[0][L1 * H * f + j], c2.v[1][j] = c.v[1][L1 * H * f + j], c2.v[2][j] = c.v[2][L1 * H * f + j];
    }
    for (int64_t j = 0; j < c2.n[3]; j++) c2.v[3][j] = c.v[3][L1 * H + j];
    for (int i = 4; i < 7; i++) memcpy(c2.v[i], c.v[i], sizeof(double) * (size_t)c.n[i]);
    for (int64_t h = 0; h < H; h++) {
        memcpy(c2.v[7] + h * f * f, st + h * S, sizeof(double) * (size_t)(f * f));
        memcpy(c2.v[8] + h * f, st + h * S + f * f, sizeof(double) * (size_t)f);
    }
    ttt_inner_inputs_f64 in2 = in64(&c2);
    double *z2 = malloc(sizeof(double) * (size_t)c2.n[0]);
    EXPECT(ttt_inner_forward_f64(&c2.s, &in2, z2, NULL, NULL, NULL, 0) == TTT_OK, "%s", ttt_last_error());
    int rc = check_close("z of the continuation", z2, z + L1 * H * f, c2.n[0], 1e-12, 1e-12) ? TEST_PASS : TEST_FAIL;
    /* a partial last mini-batch leaves nonzero sums */
    EXPECT(ttt_inner_forward_f64(&c.s, &in, z, st, sums, NULL, 0) == TTT_OK, "%s", ttt_last_error());
    smax = 0;
    for (int64_t i = 0; i < B * H * S; i++) smax = fmax(smax, fabs(sums[i]));
    EXPECT(smax > 0, "sums_out after a partial mini-batch is zero");
    free(z), free(st), free(sums), free(z1), free(z2);
    case_free(&c), case_free(&c2);
    return rc;
}

static int expect_err(ttt_status st, const char *needle) {
    EXPECT(st == TTT_ERR_ARG, "expected TTT_ERR_ARG (%s), got %d", needle, (int)st);
    EXPECT(strstr(ttt_last_error(), needle), "message \"%s\" does not name \"%s\"", ttt_last_error(), needle);
    return TEST_PASS;
}

TEST(test_ttt_layer_api_errors) {
    case_t c;
    case_make(&c, 1, 4, 1, 4, 4, 0);
    ttt_inner_inputs_f64 in = in64(&c);
    double z[16], dz[16] = {0};
    ttt_inner_shape s = c.s;
    s.head_dim = 0;
    if (expect_err(ttt_inner_forward_f64(&s, &in, z, NULL, NULL, NULL, 0), "head_dim = 0, expected 1..4096")) return TEST_FAIL;
    s = c.s, s.mini_batch = 5000;
    if (expect_err(ttt_inner_forward_f64(&s, &in, z, NULL, NULL, NULL, 0), "mini_batch = 5000")) return TEST_FAIL;
    s = c.s, s.batch = -1;
    if (expect_err(ttt_inner_forward_f64(&s, &in, z, NULL, NULL, NULL, 0), "batch = -1")) return TEST_FAIL;
    s = c.s, s.mlp = 2;
    if (expect_err(ttt_inner_forward_f64(&s, &in, z, NULL, NULL, NULL, 0), "mlp = 2")) return TEST_FAIL;
    s = c.s, s.batch = INT64_C(1) << 40, s.seq_len = INT64_C(1) << 40;
    if (expect_err(ttt_inner_forward_f64(&s, &in, z, NULL, NULL, NULL, 0), "too large")) return TEST_FAIL;
    EXPECT(ttt_inner_saved_elems(&s) == -1, "saved elems of an overflowing shape");
    s = c.s;
    if (expect_err(ttt_inner_forward_f64(NULL, &in, z, NULL, NULL, NULL, 0), "shape is NULL")) return TEST_FAIL;
    if (expect_err(ttt_inner_forward_f64(&s, &in, NULL, NULL, NULL, NULL, 0), "output z is NULL")) return TEST_FAIL;
    if (expect_err(ttt_inner_forward_f64(&s, &in, z, NULL, NULL, z, 3), "saved has 3 elements")) return TEST_FAIL;
    ttt_inner_inputs_f64 bad = in;
    bad.eta = NULL;
    if (expect_err(ttt_inner_forward_f64(&s, &bad, z, NULL, NULL, NULL, 0), "input eta is NULL")) return TEST_FAIL;
    bad = in, bad.W2 = in.W1;
    if (expect_err(ttt_inner_forward_f64(&s, &bad, z, NULL, NULL, NULL, 0), "TTT-Linear has no W2/b2")) return TEST_FAIL;
    s.mlp = 1;
    if (expect_err(ttt_inner_forward_f64(&s, &in, z, NULL, NULL, NULL, 0), "TTT-MLP needs W2")) return TEST_FAIL;
    s.mlp = 0;
    ttt_inner_grads_f64 g = {0};
    if (expect_err(ttt_inner_backward_f64(&s, &in, NULL, NULL, 0, &g), "dz is NULL")) return TEST_FAIL;
    if (expect_err(ttt_inner_backward_f64(&s, &in, dz, NULL, 0, NULL), "grads is NULL")) return TEST_FAIL;
    /* all gradients NULL: nothing wanted, still a valid call */
    EXPECT(ttt_inner_backward_f64(&s, &in, dz, NULL, 0, &g) == TTT_OK, "%s", ttt_last_error());
    case_free(&c);
    return TEST_PASS;
}
