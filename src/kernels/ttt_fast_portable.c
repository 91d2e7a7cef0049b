/* ttt_fast_portable.c: the fused TTT kernels (ttt_fast_impl.h) over plain C primitives, written
 * so that the compiler vectorises them for whatever the build targets: the path for CPUs
 * without AVX-512. */
#include <stdint.h>
#include <string.h>

#include "kernels/ttt_fast.h"

/* the 16-float vector type of ttt_fast_impl.h goes between static functions of this file
 * only: the compilers' note that returning it without AVX-512 changes the ABI does not
 * concern them */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wunknown-warning-option"
#endif
#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define KFN static
#define KFN_INL static inline __attribute__((always_inline))
#define KFN_EXPORT
#define FN(name) name##_portable

/* C[m×N] = (acc ? C : bias_i or 0) + Σ_k A[i·sai + k·sak]·B[k·ldb + :] */
static void p_mm(float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak, const float *B,
                 int64_t ldb, int64_t m, int64_t N, int64_t K, int acc, const float *bias) {
    for (int64_t i = 0; i < m; i++) {
        float *restrict c = C + i * ldc;
        if (!acc)
            for (int64_t j = 0; j < N; j++) c[j] = bias ? bias[i] : 0.0f;
        for (int64_t k = 0; k < K; k++) {
            float a = A[i * sai + k * sak];
            const float *restrict bk = B + k * ldb;
            for (int64_t j = 0; j < N; j++) c[j] += a * bk[j];
        }
    }
}

/* C0 (+)= A·B0 and C1 (+)= A·B1 over 16-lane blocks */
static void p_mm2(float *C0, float *C1, const float *A, int64_t sai, int64_t sak, const float *B0,
                  const float *B1, int64_t m, int64_t K, int acc, const float *bias) {
    p_mm(C0, 16, A, sai, sak, B0, 16, m, 16, K, acc, bias);
    p_mm(C1, 16, A, sai, sak, B1, 16, m, 16, K, acc, bias);
}

/* dst[c·16 + i] = i < n ? src[i·lds + c] : 0 */
static void p_load_t(float *restrict dst, const float *restrict src, int64_t lds, int64_t n, int64_t cols) {
    for (int64_t c = 0; c < cols; c++)
        for (int64_t i = 0; i < 16; i++) dst[c * 16 + i] = i < n ? src[i * lds + c] : 0.0f;
}

/* dst[i·ldd + c] (= or +=) src[c·16 + i], i < n */
static void p_store_t(float *restrict dst, int64_t ldd, const float *restrict src, int64_t n, int64_t cols,
                      int acc) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < cols; c++) {
            float v = src[c * 16 + i];
            dst[i * ldd + c] = acc ? dst[i * ldd + c] + v : v;
        }
}

/* dst[i·cols + c] = src[c·16 + i] */
static void p_rows(float *restrict dst, const float *restrict src, int64_t cols) {
    p_store_t(dst, cols, src, 16, cols, 0);
}

/* dst[c] += Σ_i src[c·16 + i], pairwise */
static void p_lane_sums(float *restrict dst, const float *restrict src, int64_t cols) {
    for (int64_t c = 0; c < cols; c++) {
        float t[16];
        for (int i = 0; i < 16; i++) t[i] = src[c * 16 + i];
        for (int w = 8; w >= 1; w /= 2)
            for (int i = 0; i < w; i++) t[i] += t[i + w];
        dst[c] += t[0];
    }
}

/* rs[l] = 1/sqrt(var[l]/f + eps) */
static void p_inv_std(float *restrict rs, const float *restrict var, int64_t f) {
    for (int l = 0; l < 16; l++) rs[l] = 1.0f / __builtin_sqrtf(var[l] / (float)f + 1e-6f);
}

/* the primal step's pass over one state matrix (ttt_fast_impl.h) */
static void p_primal_pass(float *restrict y, float *restrict W, float *restrict Sm, const float *restrict x,
                          float lr, const float *restrict g, const float *restrict q, float tau, int commit,
                          int64_t rows, int64_t m) {
    for (int64_t c = 0; c < rows; c++) {
        float a = lr * x[c], qc = q[c], mq = -tau * q[c];
        float *w = W + c * m, *s = Sm + c * m;
        for (int64_t j = 0; j < m; j++) {
            float sj = s[j] + a * g[j];
            y[j] += qc * w[j] + mq * sj;
            if (commit) {
                w[j] -= tau * sj;
                sj = 0;
            }
            s[j] = sj;
        }
    }
}

#include "kernels/ttt_fast_impl.h"
