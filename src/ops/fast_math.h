/* fast_math.h: exp, sigmoid and tanh in float without libm calls, so that loops over them
 * vectorise (generic over `real`: the float64 build uses libm, it checks numbers). exp is
 * about 1 ulp; the SwiGLU and gelu-gate loops built on sigmoid_fast and tanh_fast stay within
 * 3.5e-7 of their inputs' scale of the libm versions (test_fast_math, 2^20 arguments in
 * [−30, 30]). NaN stays NaN. The plain libm versions (ops.h: RF(sigmoid), RF(gelu)) stay the
 * reference (--kernels reference uses them). */
#ifndef TTT_OPS_FAST_MATH_H
#define TTT_OPS_FAST_MATH_H

#include <stdint.h>
#include <string.h>

#include "core/real.h"

#if TTT_REAL == 32
/* exp(x): x = n·ln2 + r with |r| <= ln2/2, exp(r) by the Cephes expf polynomial (about 1 ulp),
 * 2^n built in the exponent bits. Results below exp(−87) ≈ 1.6e−38 are flushed to 0; above 88
 * the argument is clamped (e^88 ≈ 1.7e38). */
static inline float exp_fast(float x) {
    float xc = x > -87.0f ? x : -87.0f; /* NaN → −87: the float → int conversion is defined */
    xc = xc < 88.0f ? xc : 88.0f;
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round(x·log2 e) */
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float r2 = r * r;
    float p = (((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r +
                 4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f) * r2 + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) * (1 << 23);
    float two_n;
    memcpy(&two_n, &bits, sizeof two_n);
    return x < -87.0f ? 0.0f : x == x ? p * two_n : x; /* NaN stays NaN */
}

/* sigmoid(x) = 1 / (1 + e^−x), from e = e^−|x| <= 1 (no overflow): 1/(1+e) for x >= 0, e/(1+e) below */
static inline float sigmoid_fast(float x) {
    float e = exp_fast(-__builtin_fabsf(x));
    float s = 1.0f / (1.0f + e);
    return x >= 0.0f ? s : x == x ? e * s : x;
}

/* tanh(x) = sign(x)·(1 − e)/(1 + e), e = e^−2|x|; below |x| = 0.0625, where 1 − e cancels, its
 * odd Taylor polynomial to x⁹ (error < 1e-12) */
static inline float tanh_fast(float x) {
    float a = __builtin_fabsf(x);
    float e = exp_fast(-2.0f * a);
    float big = (1.0f - e) / (1.0f + e);
    float x2 = a * a;
    float small = a * (1.0f + x2 * (-0.333333333f + x2 * (0.133333333f + x2 * (-0.0539682540f + x2 * 0.0218694885f))));
    float t = a < 0.0625f ? small : big;
    return x == x ? __builtin_copysignf(t, x) : x;
}
#else
#define exp_fast(x) exp(x)
#define sigmoid_fast(x) (1.0 / (1.0 + exp(-(x))))
#define tanh_fast(x) tanh(x)
#endif

#endif
