/* bf16.c: products with bfloat16 operands, for inference with bf16 weights
 * (ttt_options.bf16_weights) and for bf16 mixed-precision training (ttt_options.bf16_train):
 * the model keeps a bf16 copy of its parameters next to the float32 ones; while its region is
 * active (kernels.h), mm_nt and mm_nn read the weight matrix from the copy, round the
 * activations to bf16 and accumulate in float32, and in training mm_tn (weight gradients,
 * C inside the gradient region) rounds both operands:
 *     C[i,j] = Σ_k bf16(A[i,k]) · Bh[j,k]    (each product exact in float32, sums in float32)
 * Small M (decode) streams the bf16 weights once (half the bytes of float32) with vdpbf16ps
 * where the CPU has AVX512_BF16, else a portable kernel (same products, float32 sums); larger
 * M uses oneDNN's bf16 matmul on the panels of the float32 path (gemm.h, gemm_dnnl.c). Float32 only: the file
 * is empty in the f64 instantiation.
 *
 * Sums: the AVX512_BF16 kernel keeps 4 chains of 16 float32 lanes, lane l of chain q adding
 * the pair products of the k with (k div 32) mod 4 = q and (k mod 32) div 2 = l (vdpbf16ps
 * adds the two products of a pair to the lane in one step), then the chains lane-wise as
 * (0+1)+(2+3) and the lanes in a fixed tree; threads only decide who computes which fixed
 * block of output columns, so the bits do not depend on the thread count. */
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "ops/gemm.h"
#include "ops/lane_sum.h"
#include "ops/kernels.h"
#include "ops/ops.h"

#if TTT_REAL == 32
#include <immintrin.h>

#define BF16_BLOCK 64 /* output columns per parallel task */

/* round to nearest even; a NaN keeps a quiet NaN */
static inline uint16_t f32_to_bf16(float x) {
    union {
        float f;
        uint32_t u;
    } v = {x};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40u);
    v.u += 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)(v.u >> 16);
}

void bf16_from_f32(uint16_t *dst, const float *src, int64_t n) {
#pragma omp parallel for schedule(static) if (TTT_PAR(n))
    for (int64_t i = 0; i < n; i++) dst[i] = f32_to_bf16(src[i]);
}

const uint16_t *bf16_weights_of(const float *B, int64_t n) {
    const ttt_bf16_region *r = &ttt_bf16_active;
    if (!r->copy || B < r->lo || B + n > r->lo + r->n) return NULL;
    return r->copy + (B - r->lo);
}

int bf16_grads_hold(const float *C, int64_t n) {
    const ttt_bf16_region *r = &ttt_bf16_active;
    return r->copy && r->grad && C >= r->grad && C + n <= r->grad + r->n;
}

/* portable kernel, columns [j0, j1), activations already in bf16 (Ah [M,K]): the lanes and
 * chains of the AVX512_BF16 kernel (chain q, lane l: (k div 32) mod 4 = q, (k mod 32) div 2
 * = l); the product of two bf16 numbers is exact in float32, so only the order of the
 * float32 additions inside a pair can differ from the instruction */
static void bf16_block_c(float *C, const uint16_t *Ah, const uint16_t *Bh, int64_t M, int64_t N,
                         int64_t K, int acc, int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; j++) {
        const uint16_t *b = Bh + j * K;
        for (int64_t i = 0; i < M; i++) {
            const uint16_t *a = Ah + i * K;
            float s[4][16] = {{0}}, t[16];
            for (int64_t k = 0; k < K; k += 2) {
                float p0 = bf16_to_f32(a[k]) * bf16_to_f32(b[k]);
                float p1 = k + 1 < K ? bf16_to_f32(a[k + 1]) * bf16_to_f32(b[k + 1]) : 0.0f;
                s[(k / 32) % 4][(k % 32) / 2] += p0 + p1;
            }
            for (int l = 0; l < 16; l++) t[l] = (s[0][l] + s[1][l]) + (s[2][l] + s[3][l]);
            float v = lane_sum16(t);
            C[i * N + j] = acc ? C[i * N + j] + v : v;
        }
    }
}

/* AVX512_BF16: MR rows of Ah (1..4) against one weight row at a time (one sequential stream),
 * four chains per row of Ah (chain q: the 32-element chunks c of k with c mod 4 = q) */
#define BF16_KERNEL(MR)                                                                            \
    __attribute__((target("avx512f,avx512bw,avx512bf16"))) static void bf16_block_avx_##MR(         \
        float *C, const uint16_t *Ah, const uint16_t *Bh, int64_t N, int64_t K, int acc, int64_t j0, \
        int64_t j1) {                                                                              \
        for (int64_t j = j0; j < j1; j++) {                                                       \
            const uint16_t *b = Bh + j * K;                                                       \
            __m512 s[MR][4];                                                                      \
            for (int i = 0; i < MR; i++)                                                          \
                for (int q = 0; q < 4; q++) s[i][q] = _mm512_setzero_ps();                        \
            int64_t k = 0;                                                                        \
            for (; k + 128 <= K; k += 128)                                                        \
                for (int q = 0; q < 4; q++) {                                                     \
                    __m512bh w = (__m512bh)_mm512_loadu_si512(b + k + 32 * q);                    \
                    for (int i = 0; i < MR; i++)                                                  \
                        s[i][q] = _mm512_dpbf16_ps(                                               \
                            s[i][q], (__m512bh)_mm512_loadu_si512(Ah + i * K + k + 32 * q), w);   \
                }                                                                                 \
            for (int q = 0; q < 4 && k < K; q++, k += 32) { /* the last < 128: chains 0, 1, ... */ \
                __mmask32 mk = K - k >= 32 ? (__mmask32)0xffffffffu                               \
                                           : (__mmask32)((1ull << (K - k)) - 1ull);               \
                __m512bh w = (__m512bh)_mm512_maskz_loadu_epi16(mk, b + k);                       \
                for (int i = 0; i < MR; i++)                                                      \
                    s[i][q] = _mm512_dpbf16_ps(                                                   \
                        s[i][q], (__m512bh)_mm512_maskz_loadu_epi16(mk, Ah + i * K + k), w);      \
            }                                                                                     \
            for (int i = 0; i < MR; i++) {                                                        \
                float v = hsum4(s[i][0], s[i][1], s[i][2], s[i][3]);                              \
                float *c = C + i * N + j;                                                         \
                *c = acc ? *c + v : v;                                                            \
            }                                                                                     \
        }                                                                                         \
    }
BF16_KERNEL(1)
BF16_KERNEL(2)
BF16_KERNEL(3)
BF16_KERNEL(4)

static void bf16_block(float *C, const uint16_t *Ah, const uint16_t *Bh, int64_t M, int64_t N,
                       int64_t K, int acc, int64_t j0, int64_t j1) {
    if (!ttt_cpu_has_bf16()) {
        bf16_block_c(C, Ah, Bh, M, N, K, acc, j0, j1);
        return;
    }
    for (int64_t i0 = 0; i0 < M; i0 += 4) {
        int64_t mr = M - i0 < 4 ? M - i0 : 4;
        const uint16_t *a = Ah + i0 * K;
        float *c = C + i0 * N;
        switch (mr) {
        case 1: bf16_block_avx_1(c, a, Bh, N, K, acc, j0, j1); break;
        case 2: bf16_block_avx_2(c, a, Bh, N, K, acc, j0, j1); break;
        case 3: bf16_block_avx_3(c, a, Bh, N, K, acc, j0, j1); break;
        default: bf16_block_avx_4(c, a, Bh, N, K, acc, j0, j1); break;
        }
    }
}

/* Products with more rows than decode has, on the panels of the float32 path (gemm.h), each
 * panel one single-threaded oneDNN bf16 matmul with strided operands: src element (i, kk) of
 * [M,K] at Ah[i·as0 + kk·as1], weight element (kk, j) of [K,N] at Bh[kk·bs0 + j·bs1]. Where
 * oneDNN is missing or refuses a panel: the matrix-vector kernel for the forward layout
 * (rows of Ah and of the weight Bh [N,K] contiguous), else a plain loop over the same bf16
 * operands (the same products, float32 sums in order of k). */
static void bf16_panel_c(float *C, int64_t ldc, const uint16_t *Ah, int64_t as0, int64_t as1,
                         const uint16_t *Bh, int64_t bs0, int64_t bs1, int64_t m, int64_t n, int64_t K, int acc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float s = 0;
            for (int64_t k = 0; k < K; k++) s += bf16_to_f32(Ah[i * as0 + k * as1]) * bf16_to_f32(Bh[k * bs0 + j * bs1]);
            C[i * ldc + j] = acc ? C[i * ldc + j] + s : s;
        }
}

static void bf16_panels(float *C, const uint16_t *Ah, int64_t as0, int64_t as1, const uint16_t *Bh, int64_t bs0,
                        int64_t bs1, int64_t M, int64_t N, int64_t K, int acc) {
    int by_rows = M >= N;
    int64_t len = by_rows ? M : N, pl = gemm_panel_len(len), np = (len + pl - 1) / pl;
#pragma omp parallel for schedule(static) if (np > 1 && TTT_PAR(M * N * K / 64))
    for (int64_t p = 0; p < np; p++) {
        int64_t p0 = p * pl, pn = len - p0 < pl ? len - p0 : pl;
        const uint16_t *a = by_rows ? Ah + p0 * as0 : Ah, *b = by_rows ? Bh : Bh + p0 * bs1;
        float *c = by_rows ? C + p0 * N : C + p0;
        int64_t m = by_rows ? pn : M, n = by_rows ? N : pn;
        if (!gemm_dnnl_bf16_strided(m, n, K, a, as0, as1, b, bs0, bs1, acc, c, N)) continue;
        if (as0 == K && as1 == 1 && bs0 == 1 && bs1 == K) /* A·Bhᵀ */
            bf16_block(by_rows ? c : C, a, Bh, m, N, K, acc, by_rows ? 0 : p0, by_rows ? N : p0 + pn);
        else
            bf16_panel_c(c, N, a, as0, as1, b, bs0, bs1, m, n, K, acc);
    }
}

void mm_nt_bf16(float *C, const float *A, const uint16_t *Bh, int64_t M, int64_t N, int64_t K, int acc) {
    /* the activations in bf16, in a buffer of the shared pool */
    int slot = -1;
    uint16_t *Ah = ttt_scratch_take(sizeof(uint16_t) * (size_t)(M * K), &slot);
    if (Ah) bf16_from_f32(Ah, A, M * K);
    if (!Ah) { /* no buffer (out of memory): products with the weights rounded only */
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                float s = 0;
                for (int64_t k = 0; k < K; k++) s += A[i * K + k] * bf16_to_f32(Bh[j * K + k]);
                C[i * N + j] = acc ? C[i * N + j] + s : s;
            }
        return;
    }
    if (!ttt_gemv_rows(M)) { /* the panels of the float32 path, each one single-threaded oneDNN call */
        bf16_panels(C, Ah, K, 1, Bh, 1, K, M, N, K, acc);
    } else {
        int64_t nb = (N + BF16_BLOCK - 1) / BF16_BLOCK;
#pragma omp parallel for schedule(static) if (nb > 1 && TTT_PAR(M * N * K))
        for (int64_t p = 0; p < nb; p++) {
            int64_t j0 = p * BF16_BLOCK, j1 = j0 + BF16_BLOCK < N ? j0 + BF16_BLOCK : N;
            bf16_block(C, Ah, Bh, M, N, K, acc, j0, j1);
        }
    }
    ttt_scratch_give(slot);
}

/* C[M,N] (+)= bf16(A)[M,K] · Bh[K,N]: the input gradient dX = dY·W with the bf16 copy of W */
int mm_nn_bf16(float *C, const float *A, const uint16_t *Bh, int64_t M, int64_t N, int64_t K, int acc) {
    int slot = -1;
    uint16_t *Ah = ttt_scratch_take(sizeof(uint16_t) * (size_t)(M * K), &slot);
    if (!Ah) return 1;
    bf16_from_f32(Ah, A, M * K);
    bf16_panels(C, Ah, K, 1, Bh, N, 1, M, N, K, acc);
    ttt_scratch_give(slot);
    return 0;
}

/* C[M,N] (+)= bf16(A)[K,M]ᵀ · bf16(B)[K,N]: the weight gradient dW += dYᵀ·X, both operands
 * rounded (the src of oneDNN is A read transposed: element (i, kk) at kk·M + i) */
int mm_tn_bf16(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc) {
    int sa = -1, sb = -1;
    uint16_t *Ah = ttt_scratch_take(sizeof(uint16_t) * (size_t)(K * M), &sa);
    uint16_t *Bh = Ah ? ttt_scratch_take(sizeof(uint16_t) * (size_t)(K * N), &sb) : NULL;
    if (!Bh) {
        if (Ah) ttt_scratch_give(sa);
        return 1;
    }
    bf16_from_f32(Ah, A, K * M);
    bf16_from_f32(Bh, B, K * N);
    bf16_panels(C, Ah, 1, M, Bh, N, 1, M, N, K, acc);
    ttt_scratch_give(sb);
    ttt_scratch_give(sa);
    return 0;
}

void gemv_nt_bf16_portable(float *C, const float *A, const uint16_t *Bh, int64_t M, int64_t N,
                           int64_t K, int acc) {
    uint16_t *Ah = malloc(sizeof(uint16_t) * (size_t)(M * K));
    if (!Ah) return;
    for (int64_t i = 0; i < M * K; i++) Ah[i] = f32_to_bf16(A[i]);
    bf16_block_c(C, Ah, Bh, M, N, K, acc, 0, N);
    free(Ah);
}
#endif
