/* matmul.c: the three matrix products of linear layers (forward, input gradient, weight
 * gradient). The fast path calls the BLAS; the reference path is a plain triple loop,
 * rows split among threads, each output element summed over k in order. */
#include <cblas.h>
#include <string.h>

#include "ops/kernels.h"
#include "ops/ops.h"

#if TTT_REAL == 64
#define GEMM cblas_dgemm
#else
#define GEMM cblas_sgemm
#endif

/* BLAS dims are int; our shapes stay far below 2^31 per dimension (checked by configs) */

/* C[M,N] (+)= A[M,K] · B[N,K]^T */
void RF(mm_nt)(real *C, const real *A, const real *B, int64_t M, int64_t N, int64_t K, int acc) {
    if (M == 0 || N == 0) return;
    if (K == 0) {
        if (!acc) memset(C, 0, sizeof(real) * (size_t)(M * N));
        return;
    }
    if (!ttt_reference_kernels) {
        GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1, A, (int)K, B,
             (int)K, acc ? 1 : 0, C, (int)N);
        return;
    }
#pragma omp parallel for schedule(static)
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
    if (M == 0 || N == 0) return;
    if (K == 0) {
        if (!acc) memset(C, 0, sizeof(real) * (size_t)(M * N));
        return;
    }
    if (!ttt_reference_kernels) {
        GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1, A, (int)K, B,
             (int)N, acc ? 1 : 0, C, (int)N);
        return;
    }
#pragma omp parallel for schedule(static)
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
    if (M == 0 || N == 0) return;
    if (K == 0) {
        if (!acc) memset(C, 0, sizeof(real) * (size_t)(M * N));
        return;
    }
    if (!ttt_reference_kernels) {
        GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1, A, (int)M, B,
             (int)N, acc ? 1 : 0, C, (int)N);
        return;
    }
#pragma omp parallel for schedule(static)
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
