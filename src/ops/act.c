/* act.c: activations (GELU tanh approximation, SiLU, sigmoid), the SwiGLU product and the
 * GELU gate of the TTT layer, with their derivatives. The exported activations use libm (the
 * reference); the loops use the vectorisable ones of fast_math.h, or the reference ones with
 * --kernels reference. */
#include "core/prof.h"
#include "ops/fast_math.h"
#include "ops/kernels.h"
#include "ops/ops.h"

#define SQRT_2_OVER_PI 0.79788456080286535588

/* gelu(x) = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))) */
real RF(gelu)(real x) {
    real u = RC(SQRT_2_OVER_PI) * (x + RC(0.044715) * x * x * x);
    return RC(0.5) * x * (RC(1) + tanh(u));
}

/* d gelu/dx = 0.5 (1 + r) + 0.5 x (1 − r²) √(2/π) (1 + 3·0.044715 x²) */
real RF(gelu_grad)(real x) {
    real u = RC(SQRT_2_OVER_PI) * (x + RC(0.044715) * x * x * x);
    real r = tanh(u);
    return RC(0.5) * (RC(1) + r) +
           RC(0.5) * x * (RC(1) - r * r) * RC(SQRT_2_OVER_PI) * (RC(1) + RC(3 * 0.044715) * x * x);
}

/* ttt.py gelu_bwd: r = tanh(0.79788456 x (1 + 0.044715 x²)),
 * ff = 0.5 x (1 − r²)(0.79788456 + 0.1070322243 x²) + 0.5 (1 + r) */
real RF(gelu_bwd_ttt)(real x) {
    real r = tanh(RC(0.79788456) * x * (RC(1) + RC(0.044715) * x * x));
    return RC(0.5) * x * ((RC(1) - r * r) * (RC(0.79788456) + RC(0.1070322243) * x * x)) +
           RC(0.5) * (RC(1) + r);
}

/* d ff/dx, differentiating the expression above literally:
 * r' = (1 − r²)·0.79788456·(1 + 3·0.044715 x²), p = 0.79788456 + 0.1070322243 x²,
 * ff' = 0.5 (1 − r²) p + 0.5 x (−2 r r' p + (1 − r²)·2·0.1070322243 x) + 0.5 r' */
real RF(gelu_bwd_ttt_grad)(real x) {
    real r = tanh(RC(0.79788456) * x * (RC(1) + RC(0.044715) * x * x));
    real q = RC(1) - r * r;
    real rp = q * RC(0.79788456) * (RC(1) + RC(3 * 0.044715) * x * x);
    real p = RC(0.79788456) + RC(0.1070322243) * x * x;
    return RC(0.5) * q * p + RC(0.5) * x * (RC(-2) * r * rp * p + q * RC(2 * 0.1070322243) * x) +
           RC(0.5) * rp;
}

real RF(sigmoid)(real x) { return RC(1) / (RC(1) + exp(-x)); }

/* gelu and its derivative (as RF(gelu), RF(gelu_grad)) through tanh_fast */
static inline real gelu_fast(real x) {
    real u = RC(SQRT_2_OVER_PI) * (x + RC(0.044715) * x * x * x);
    return RC(0.5) * x * (RC(1) + tanh_fast(u));
}

static inline real gelu_grad_fast(real x) {
    real u = RC(SQRT_2_OVER_PI) * (x + RC(0.044715) * x * x * x);
    real r = tanh_fast(u);
    return RC(0.5) * (RC(1) + r) +
           RC(0.5) * x * (RC(1) - r * r) * RC(SQRT_2_OVER_PI) * (RC(1) + RC(3 * 0.044715) * x * x);
}

/* m = silu(a) ⊙ b */
void RF(swiglu_fwd)(real *m, const real *a, const real *b, int64_t n) {
    TTT_PROF_SCOPE(TTT_PROF_ELEMWISE, 0);
    if (ttt_reference_kernels) {
#pragma omp parallel for schedule(static) if (TTT_PAR(n))
        for (int64_t i = 0; i < n; i++) m[i] = a[i] * RF(sigmoid)(a[i]) * b[i];
        return;
    }
#pragma omp parallel for schedule(static) if (TTT_PAR(n))
    for (int64_t i = 0; i < n; i++) m[i] = a[i] * sigmoid_fast(a[i]) * b[i];
}

/* silu'(a) = s (1 + a (1 − s)), s = sigmoid(a) */
#define SWIGLU_BWD_BODY(SIG)                                   \
    {                                                          \
        real s = SIG(a[i]);                                    \
        real g = dm[i];                                        \
        da[i] = g * b[i] * s * (RC(1) + a[i] * (RC(1) - s));   \
        db[i] = g * a[i] * s;                                  \
    }
void RF(swiglu_bwd)(real *da, real *db, const real *dm, const real *a, const real *b, int64_t n) {
    TTT_PROF_SCOPE(TTT_PROF_ELEMWISE, 0);
    if (ttt_reference_kernels) {
#pragma omp parallel for schedule(static) if (TTT_PAR(n))
        for (int64_t i = 0; i < n; i++) SWIGLU_BWD_BODY(RF(sigmoid))
        return;
    }
#pragma omp parallel for schedule(static) if (TTT_PAR(n))
    for (int64_t i = 0; i < n; i++) SWIGLU_BWD_BODY(sigmoid_fast)
}

void RF(gelu_gate_fwd)(real *y, const real *ln, const real *g, int64_t n) {
    TTT_PROF_SCOPE(TTT_PROF_ELEMWISE, 0);
    if (ttt_reference_kernels) {
#pragma omp parallel for schedule(static) if (TTT_PAR(n))
        for (int64_t i = 0; i < n; i++) y[i] = ln[i] * RF(gelu)(g[i]);
        return;
    }
#pragma omp parallel for schedule(static) if (TTT_PAR(n))
    for (int64_t i = 0; i < n; i++) y[i] = ln[i] * gelu_fast(g[i]);
}

#define GELU_GATE_BWD_BODY(GELU, GELU_GRAD)         \
    {                                               \
        real gy = dy[i]; /* dln may alias dy */     \
        dg[i] = gy * ln[i] * GELU_GRAD(g[i]);       \
        dln[i] = gy * GELU(g[i]);                   \
    }
void RF(gelu_gate_bwd)(real *dln, real *dg, const real *dy, const real *ln, const real *g, int64_t n) {
    TTT_PROF_SCOPE(TTT_PROF_ELEMWISE, 0);
    if (ttt_reference_kernels) {
#pragma omp parallel for schedule(static) if (TTT_PAR(n))
        for (int64_t i = 0; i < n; i++) GELU_GATE_BWD_BODY(RF(gelu), RF(gelu_grad))
        return;
    }
#pragma omp parallel for schedule(static) if (TTT_PAR(n))
    for (int64_t i = 0; i < n; i++) GELU_GATE_BWD_BODY(gelu_fast, gelu_grad_fast)
}
