/* matmul.c: the three matrix products of linear layers (forward, input gradient, weight
 * gradient). The fast path calls a GEMM library, single-threaded, on panels of the output
 * (sized by the shape alone) that our OpenMP threads share: the panels do not depend on the thread count, so
 * neither do the results (the libraries' own threading does not guarantee that), and only one
 * thread pool runs. The library (float32) is oneDNN's sgemm when the build has it, else
 * OpenBLAS (kernels.h: ttt_gemm_lib; docs/gemm.md has the measurements behind the choice);
 * float64 uses OpenBLAS's dgemm. Forward products with few rows (decode) take the
 * matrix-vector kernels of gemv.c, and weights with a bf16 copy in the active region (and, in
 * bf16 training, weight gradients) those of bf16.c. The reference path is a plain triple loop, rows split among threads, each output
 * element summed over k in order. */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "core/prof.h"
#include "ops/gemm.h"
#include "ops/kernels.h"
#include "ops/ops.h"

#if TTT_REAL == 64
#define GEMM cblas_dgemm
#else
#define GEMM cblas_sgemm
#endif

/* BLAS dims are int; our shapes stay far below 2^31 per dimension (checked by configs) */

/* C[m,n] = beta·C + op(A)·op(B), one single-threaded library call */
void RF(gemm_block)(int ta, int tb, int64_t m, int64_t n, int64_t k, const real *A, int64_t lda,
                    const real *B, int64_t ldb, real beta, real *C, int64_t ldc) {
    if (m == 0 || n == 0) return;
#if TTT_REAL == 32
    if (ttt_gemm_lib == TTT_GEMM_DNNL && !gemm_dnnl_block(ta, tb, m, n, k, A, lda, B, ldb, beta, C, ldc))
        return;
#endif
    GEMM(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)m, (int)n,
         (int)k, 1, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

/* A panel that is a narrow slice of columns (at most 512) of a wider row-major operand ([K, pn]
 * at stride ld: Aᵀ's rows for mm_tn by rows, B's columns for mm_tn / mm_nn by columns) is
 * copied into a compact [K, pn] buffer first: the libraries run 20-25% slower on such strided slices
 * (dnnl_sgemm 'T' at lda = 2048 for 256 columns: 130 against 158 GFLOP/s on one core), and the
 * copy costs a few percent of the product. Returns the buffer (NULL: use the slice as it is). */
static const real *compact_panel(const real *src, int64_t ld, int64_t K, int64_t pn, int *slot) {
    /* (only at strides of a 4 KiB page or more, every row on a page of its own; rows of 2 KiB
     * and more stream well as they are) */
    if (ld * (int64_t)sizeof(real) < 4096 || pn > 512 || K * pn < 4096) return NULL;
    real *d = ttt_scratch_take(sizeof(real) * (size_t)(K * pn), slot);
    if (!d) return NULL;
    for (int64_t k = 0; k < K; k++) memcpy(d + k * pn, src + k * ld, sizeof(real) * (size_t)pn);
    return d;
}

static void gemm_panels(int ta, int tb, int64_t M, int64_t N, int64_t K, const real *A, int64_t lda,
                        const real *B, int64_t ldb, real beta, real *C) {
    int by_rows = M >= N;
    int64_t len = by_rows ? M : N, PANEL = gemm_panel_len(len), np = (len + PANEL - 1) / PANEL;
#pragma omp parallel for schedule(static) if (np > 1 && TTT_PAR(M * N * K / 64))
    for (int64_t p = 0; p < np; p++) {
        int64_t p0 = p * PANEL, pn = len - p0 < PANEL ? len - p0 : PANEL;
        const real *a = A, *b = B;
        real *c = C;
        int64_t m = M, n = N, la = lda, lb = ldb;
        int slot = -1;
        if (by_rows) {
            a = ta ? A + p0 : A + p0 * lda;
            c = C + p0 * N;
            m = pn;
            const real *t = ta && np > 1 ? compact_panel(a, lda, K, pn, &slot) : NULL;
            if (t) a = t, la = pn;
        } else {
            b = tb ? B + p0 * ldb : B + p0;
            c = C + p0;
            n = pn;
            const real *t = !tb && np > 1 ? compact_panel(b, ldb, K, pn, &slot) : NULL;
            if (t) b = t, lb = pn;
        }
        RF(gemm_block)(ta, tb, m, n, K, a, la, b, lb, beta, c, N);
        if (slot >= 0) ttt_scratch_give(slot);
    }
}

/* C[M,N] (+)= A[M,K] · B[N,K]^T */
void RF(mm_nt)(real *C, const real *A, const real *B, int64_t M, int64_t N, int64_t K, int acc) {
    TTT_PROF_SCOPE(TTT_PROF_MM_NT, 2.0 * (double)M * (double)N * (double)K);
    if (M == 0 || N == 0) return;
    if (K == 0) {
        if (!acc) memset(C, 0, sizeof(real) * (size_t)(M * N));
        return;
    }
    if (!ttt_reference_kernels) {
#if TTT_REAL == 32
        const uint16_t *Bh = bf16_weights_of(B, N * K);
        if (Bh) {
            mm_nt_bf16(C, A, Bh, M, N, K, acc);
            return;
        }
        if (ttt_gemv_rows(M)) {
            gemv_nt_f32(C, A, B, M, N, K, acc);
            return;
        }
#endif
        gemm_panels(0, 1, M, N, K, A, K, B, K, acc ? 1 : 0, C);
        return;
    }
#pragma omp parallel for schedule(static) if (TTT_PAR(M * N * K))
    for (int64_t i = 0; i < M; i++) {
        const real *a = A + i * K;
        for (int64_t j = 0; j < N; j++) {
            const real *b = B + j * K;
            real s = 0;
            for (int64_t k = 0; k < K; k++) s += a[k] * b[k];
            C[i * N + j] = acc ? C[i * N + j] + s : s;
        }
    }
}

/* C[M,N] (+)= A[M,K] · B[K,N] */
void RF(mm_nn)(real *C, const real *A, const real *B, int64_t M, int64_t N, int64_t K, int acc) {
    TTT_PROF_SCOPE(TTT_PROF_MM_NN, 2.0 * (double)M * (double)N * (double)K);
    if (M == 0 || N == 0) return;
    if (K == 0) {
        if (!acc) memset(C, 0, sizeof(real) * (size_t)(M * N));
        return;
    }
    if (!ttt_reference_kernels) {
#if TTT_REAL == 32
        const uint16_t *Bh = bf16_weights_of(B, K * N);
        if (Bh && !mm_nn_bf16(C, A, Bh, M, N, K, acc)) return;
#endif
        gemm_panels(0, 0, M, N, K, A, K, B, N, acc ? 1 : 0, C);
        return;
    }
#pragma omp parallel for schedule(static) if (TTT_PAR(M * N * K))
    for (int64_t i = 0; i < M; i++) {
        real *c = C + i * N;
        if (!acc) memset(c, 0, sizeof(real) * (size_t)N);
        for (int64_t k = 0; k < K; k++) {
            real a = A[i * K + k];
            const real *b = B + k * N;
            for (int64_t j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}

/* C[M,N] (+)= A[K,M]^T · B[K,N] */
void RF(mm_tn)(real *C, const real *A, const real *B, int64_t M, int64_t N, int64_t K, int acc) {
    TTT_PROF_SCOPE(TTT_PROF_MM_TN, 2.0 * (double)M * (double)N * (double)K);
    if (M == 0 || N == 0) return;
    if (K == 0) {
        if (!acc) memset(C, 0, sizeof(real) * (size_t)(M * N));
        return;
    }
    if (!ttt_reference_kernels) {
#if TTT_REAL == 32
        if (bf16_grads_hold(C, M * N) && !mm_tn_bf16(C, A, B, M, N, K, acc)) return;
#endif
        gemm_panels(1, 0, M, N, K, A, M, B, N, acc ? 1 : 0, C);
        return;
    }
#pragma omp parallel for schedule(static) if (TTT_PAR(M * N * K))
    for (int64_t i = 0; i < M; i++) {
        real *c = C + i * N;
        if (!acc) memset(c, 0, sizeof(real) * (size_t)N);
        for (int64_t k = 0; k < K; k++) {
            real a = A[k * M + i];
            const real *b = B + k * N;
            for (int64_t j = 0; j < N; j++) c[j] += a * b[j];
        }
    }
}
