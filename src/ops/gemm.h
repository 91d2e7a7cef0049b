/* gemm.h: the float32 building blocks behind mm_nt / mm_nn / mm_tn (src/ops/matmul.c), not
 * generic: the GEMM library call on one block of C (gemm_dnnl.c, OpenBLAS), the matrix-vector
 * kernels of decode (gemv.c) and the bf16-weight products (bf16.c). Every function here is
 * single-threaded unless it says otherwise, and each gives the same bits for any thread count. */
#ifndef TTT_OPS_GEMM_H
#define TTT_OPS_GEMM_H

#include <stdint.h>

/* Panels of the fast GEMM path: the longer side of C (rows, or columns when N > M) cut into
 * GEMM_PANELS pieces, a multiple of 16 long and at least GEMM_PANEL_MIN: the length depends
 * on the shape only, never on the thread count, so neither do the results. Fewer, larger
 * library calls than fixed 128-row panels: each call packs its operands again, which cost the
 * LM head (32000 columns in 128-column panels) a third of its speed (docs/gemm.md). */
#define GEMM_PANELS 8
#define GEMM_PANEL_MIN 128
static inline int64_t gemm_panel_len(int64_t len) {
    int64_t p = (len + GEMM_PANELS - 1) / GEMM_PANELS;
    p = (p + 15) / 16 * 16;
    return p < GEMM_PANEL_MIN ? GEMM_PANEL_MIN : p;
}

/* Row-major C[m,n] = beta·C + op(A)·op(B) with oneDNN's dnnl_sgemm, single-threaded (returns
 * nonzero if the call failed, so the caller can use OpenBLAS instead). */
int gemm_dnnl_block(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* gemv.c: C[M,N] (+)= A[M,K] · B[N,K]ᵀ for small M, threads over fixed column blocks */
void gemv_nt_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc);
/* the portable kernel alone, single-threaded (tests compare the two) */
void gemv_nt_portable_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K,
                          int acc);

/* bf16.c --------------------------------------------------------------------------------- */
/* float32 -> bfloat16, round to nearest even (NaN stays NaN); n elements, threaded */
void bf16_from_f32(uint16_t *dst, const float *src, int64_t n);
static inline float bf16_to_f32(uint16_t h) {
    union {
        uint32_t u;
        float f;
    } v = {(uint32_t)h << 16};
    return v.f;
}
/* The bf16 copy of B[0 .. n) when it lies inside the active region, else NULL. */
const uint16_t *bf16_weights_of(const float *B, int64_t n);
/* C[M,N] (+)= bf16(A)[M,K] · Bh[N,K]ᵀ with float32 accumulation (Bh: bf16 weights). Small M:
 * a matrix-vector kernel (vdpbf16ps where the CPU has AVX512_BF16); larger M: oneDNN's bf16
 * matmul on fixed panels (or the matrix-vector kernel by groups of rows without oneDNN). */
void mm_nt_bf16(float *C, const float *A, const uint16_t *Bh, int64_t M, int64_t N, int64_t K, int acc);
/* Training (bf16_train): C[M,N] (+)= bf16(A)[M,K] · Bh[K,N] (input gradient with the bf16
 * copy of the weight), and C[M,N] (+)= bf16(A)[K,M]ᵀ · bf16(B)[K,N] (weight gradient), float32
 * accumulation, oneDNN's bf16 matmul on the fixed panels of the float32 path (a plain loop
 * without oneDNN). Return nonzero, having done nothing, when no scratch buffer is free (the
 * caller then multiplies in float32). */
int mm_nn_bf16(float *C, const float *A, const uint16_t *Bh, int64_t M, int64_t N, int64_t K, int acc);
int mm_tn_bf16(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc);
/* The bf16 region's gradient part: nonzero when C[0 .. n) lies inside it (training). */
int bf16_grads_hold(const float *C, int64_t n);
/* the portable bf16 kernel alone, single-threaded (tests) */
void gemv_nt_bf16_portable(float *C, const float *A, const uint16_t *Bh, int64_t M, int64_t N,
                           int64_t K, int acc);
/* gemm_dnnl.c: one panel of a bf16 product with oneDNN's matmul, single-threaded:
 * C[m,n] (+)= src[m,k] · weights[k,n], src element (i, kk) at Ah[i·as0 + kk·as1], weight
 * element (kk, j) at Bh[kk·bs0 + j·bs1], rows of C at stride ldc. Returns nonzero when oneDNN
 * is not built in or cannot do it. */
int gemm_dnnl_bf16_strided(int64_t m, int64_t n, int64_t k, const uint16_t *Ah, int64_t as0, int64_t as1,
                           const uint16_t *Bh, int64_t bs0, int64_t bs1, int acc, float *C, int64_t ldc);

#endif
