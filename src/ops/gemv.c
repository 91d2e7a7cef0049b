/* gemv.c: the matrix-vector path of mm_nt for products with few rows (single-token decode,
 * M = batch <= TTT_GEMV_MAX_M): C[M,N] (+)= A[M,K] · B[N,K]ᵀ streams the weight matrix B once,
 * each of its rows meeting all M rows of A, which is memory-bound (a one-row sgemm call is
 * several times slower). Float32 only (the file is empty in the f64 instantiation, which keeps
 * the BLAS path).
 *
 * Each output C[i,j] = Σ_k A[i,k]·B[j,k] is summed in 4 chains × 16 lanes (chain q, lane l
 * take the k with (k div 16) mod 4 = q and k mod 16 = l, in order of k), the chains added
 * lane-wise as (0+1)+(2+3), then the lanes in a fixed tree: the result does not depend on the
 * thread count, which only decides who computes which fixed block of 64 output columns. The
 * AVX-512 kernel (chosen at run time) and the portable one give the same sums in the same
 * order, except that AVX-512 fuses each multiply-add (one rounding instead of two). */
#include <string.h>

#include "ops/gemm.h"
#include "ops/lane_sum.h"
#include "ops/kernels.h"
#include "ops/ops.h"

#if TTT_REAL == 32
#include <immintrin.h>

#define GEMV_BLOCK 64 /* output columns per parallel task */

/* portable kernel: columns [j0, j1); the same sums as the AVX-512 one (chains q, lanes l) */
static void gemv_block_c(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K,
                         int acc, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j++) {
        const float *b = B + j * K;
        for (int64_t i = 0; i < M; i++) {
            const float *a = A + i * K;
            float s[4][16] = {{0}}, t[16];
            for (int64_t k = 0; k < K; k++) s[(k / 16) % 4][k % 16] += a[k] * b[k];
            for (int l = 0; l < 16; l++) t[l] = (s[0][l] + s[1][l]) + (s[2][l] + s[3][l]);
            float v = lane_sum16(t);
            C[i * N + j] = acc ? C[i * N + j] + v : v;
        }
    }
}

/* AVX-512 kernel for MR rows of A (1..4): one weight row at a time (a single sequential
 * stream, which the hardware prefetcher follows best), four accumulator chains per row of A
 * (chain q takes the 16-float chunks c of k with c mod 4 = q), so 4·MR independent FMAs */
#define GEMV_KERNEL(MR)                                                                            \
    __attribute__((target("avx512f,avx512bw"))) static void gemv_block_avx512_##MR(                \
        float *C, const float *A, const float *B, int64_t N, int64_t K, int acc, int64_t j0,     \
        int64_t j1) {                                                                              \
        for (int64_t j = j0; j < j1; j++) {                                                       \
            const float *b = B + j * K;                                                           \
            __m512 s[MR][4];                                                                      \
            for (int i = 0; i < MR; i++)                                                          \
                for (int q = 0; q < 4; q++) s[i][q] = _mm512_setzero_ps();                        \
            int64_t k = 0;                                                                        \
            for (; k + 64 <= K; k += 64)                                                          \
                for (int q = 0; q < 4; q++) {                                                     \
                    __m512 w = _mm512_loadu_ps(b + k + 16 * q);                                   \
                    for (int i = 0; i < MR; i++)                                                  \
                        s[i][q] = _mm512_fmadd_ps(_mm512_loadu_ps(A + i * K + k + 16 * q), w, s[i][q]); \
                }                                                                                 \
            for (int q = 0; q < 4 && k < K; q++, k += 16) { /* the last < 64: chains 0, 1, ... */ \
                __mmask16 mk = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1u); \
                __m512 w = _mm512_maskz_loadu_ps(mk, b + k);                                      \
                for (int i = 0; i < MR; i++)                                                      \
                    s[i][q] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, A + i * K + k), w, s[i][q]); \
            }                                                                                     \
            for (int i = 0; i < MR; i++) {                                                        \
                float v = hsum4(s[i][0], s[i][1], s[i][2], s[i][3]);                              \
                float *c = C + i * N + j;                                                         \
                *c = acc ? *c + v : v;                                                            \
            }                                                                                     \
        }                                                                                         \
    }
GEMV_KERNEL(1)
GEMV_KERNEL(2)
GEMV_KERNEL(3)
GEMV_KERNEL(4)

static void gemv_block(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K,
                       int acc, int64_t j0, int64_t j1) {
    if (!ttt_cpu_has_avx512()) {
        gemv_block_c(C, A, B, M, N, K, acc, j0, j1);
        return;
    }
    for (int64_t i0 = 0; i0 < M; i0 += 4) { /* M <= 4 in mm_nt; larger M in groups of 4 */
        int64_t mr = M - i0 < 4 ? M - i0 : 4;
        const float *a = A + i0 * K;
        float *c = C + i0 * N;
        switch (mr) {
        case 1: gemv_block_avx512_1(c, a, B, N, K, acc, j0, j1); break;
        case 2: gemv_block_avx512_2(c, a, B, N, K, acc, j0, j1); break;
        case 3: gemv_block_avx512_3(c, a, B, N, K, acc, j0, j1); break;
        default: gemv_block_avx512_4(c, a, B, N, K, acc, j0, j1); break;
        }
    }
}

/* C[M,N] (+)= A[M,K] · B[N,K]ᵀ by blocks of GEMV_BLOCK columns shared among threads */
void gemv_nt_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc) {
    int64_t nb = (N + GEMV_BLOCK - 1) / GEMV_BLOCK;
#pragma omp parallel for schedule(static) if (nb > 1 && TTT_PAR(M * N * K))
    for (int64_t p = 0; p < nb; p++) {
        int64_t j0 = p * GEMV_BLOCK, j1 = j0 + GEMV_BLOCK < N ? j0 + GEMV_BLOCK : N;
        gemv_block(C, A, B, M, N, K, acc, j0, j1);
    }
}

void gemv_nt_portable_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K,
                          int acc) {
    gemv_block_c(C, A, B, M, N, K, acc, 0, N);
}
#endif
