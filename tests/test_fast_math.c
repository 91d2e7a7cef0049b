/* test_fast_math.c: the vectorisable activations of the float loops (ops/fast_math.h) against
 * the libm reference that --kernels reference selects: SwiGLU and the gelu gate, forward and
 * backward, over 2^20 arguments spread over [−30, 30] (a dense grid near 0, where tanh's small-x
 * branch meets the exp form) and the special values. Tolerance per output element:
 * |fast − ref| <= 1e-6·(|ref| + s) with s the scale of the inputs' product (the error of one
 * activation, about 2 ulp, times the factors it multiplies; measured worst 3.5e-7); NaN where the
 * reference is NaN. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/kernels.h"
#include "test.h"

void swiglu_fwd_f32(float *m, const float *a, const float *b, int64_t n);
void swiglu_bwd_f32(float *da, float *db, const float *dm, const float *a, const float *b, int64_t n);
void gelu_gate_fwd_f32(float *y, const float *ln, const float *g, int64_t n);
void gelu_gate_bwd_f32(float *dln, float *dg, const float *dy, const float *ln, const float *g, int64_t n);

/* worst |fast − ref| / (|ref| + scale) over n, NaN-consistent (returns +inf on a NaN mismatch) */
static double worst(const char *what, const float *f, const float *r, const float *scale, int64_t n, int64_t *at) {
    double w = 0;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(r[i]) != isnan(f[i])) {
            *at = i;
            return INFINITY;
        }
        if (isnan(r[i])) continue;
        double e = fabs((double)f[i] - (double)r[i]) / (fabs((double)r[i]) + scale[i]);
        if (e > w) w = e, *at = i;
    }
    (void)what;
    return w;
}

TEST(test_fast_math_activations) {
    enum { N = 1 << 20 };
    float *x = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N), *sc = malloc(sizeof(float) * N);
    float *o[8];
    for (int k = 0; k < 8; k++) o[k] = malloc(sizeof(float) * N);
    for (int64_t i = 0; i < N; i++) {
        double t = (double)i / N;                              /* [0, 1) */
        x[i] = (float)(i % 2 ? 30.0 * (2 * t - 1) : 0.2 * (2 * t - 1)); /* wide, and dense near 0 */
        b[i] = (float)(0.5 + (i % 7) * 0.25);
        sc[i] = b[i] * (1.0f + fabsf(x[i]));
    }
    const float specials[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 0.0625f, -0.0625f, 88.0f, -88.0f, 100.0f, -100.0f, NAN};
    for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) x[k] = specials[k];
    int saved = ttt_reference_kernels;
    const double tol = 1e-6;
    int ok = 1;
    int64_t at = 0;
    double w;
    /* SwiGLU forward and backward */
    ttt_reference_kernels = 1;
    swiglu_fwd_f32(o[0], x, b, N);
    swiglu_bwd_f32(o[1], o[2], b, x, b, N);
    gelu_gate_fwd_f32(o[3], b, x, N);
    gelu_gate_bwd_f32(o[4], o[5], b, b, x, N);
    ttt_reference_kernels = 0;
    float *f[6];
    for (int k = 0; k < 6; k++) f[k] = malloc(sizeof(float) * N);
    swiglu_fwd_f32(f[0], x, b, N);
    swiglu_bwd_f32(f[1], f[2], b, x, b, N);
    gelu_gate_fwd_f32(f[3], b, x, N);
    gelu_gate_bwd_f32(f[4], f[5], b, b, x, N);
    ttt_reference_kernels = saved;
    static const char *const names[] = {"swiglu m", "swiglu da", "swiglu db", "gelu gate y", "gelu gate dln", "gelu gate dg"};
    for (int k = 0; k < 6; k++) {
        w = worst(names[k], f[k], o[k], sc, N, &at);
        printf("      %-16s worst %.3f of tolerance (x = %g: fast %.9g, reference %.9g)\n", names[k], w / tol, x[at],
               f[k][at], o[k][at]);
        if (!(w <= tol)) {
            test_fail("%s at x = %g: fast %.9g, reference %.9g (%.3g of the scale, tolerance %g)", names[k], x[at],
                      f[k][at], o[k][at], w, tol);
            ok = 0;
        }
    }
    for (int k = 0; k < 8; k++) free(o[k]);
    for (int k = 0; k < 6; k++) free(f[k]);
    free(x), free(b), free(sc);
    return ok ? TEST_PASS : TEST_FAIL;
}
