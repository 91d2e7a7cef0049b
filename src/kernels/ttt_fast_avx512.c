/* ttt_fast_avx512.c: the fused TTT kernels (ttt_fast_impl.h) over AVX-512 primitives: a
 * register-tiled small matrix product (broadcast A elements, 16-float B rows, up to 16
 * accumulators) and 16×16 in-register transposes. Every function carries the AVX-512 target
 * attribute, so the file builds with a baseline -march too; ttt_fast.c calls in here only
 * when the CPU has AVX-512F/BW/DQ/VL. */
#include <stdint.h>
#include <string.h>

#include "kernels/ttt_fast.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#if defined(__clang__)
#define TTT_AVX512_TARGET "avx512f,avx512bw,avx512dq,avx512vl,fma"
#else
#define TTT_AVX512_TARGET "avx512f,avx512bw,avx512dq,avx512vl,fma,prefer-vector-width=512"
#endif
#define KFN static __attribute__((target(TTT_AVX512_TARGET)))
#define KFN_INL static inline __attribute__((always_inline, target(TTT_AVX512_TARGET)))
#define KFN_EXPORT __attribute__((target(TTT_AVX512_TARGET)))
#define AI static inline __attribute__((always_inline, target(TTT_AVX512_TARGET)))
#define FN(name) name##_avx512

/* ---- the matrix product tile: R rows × NV vectors of 16 columns ------------------------ */
/* Scalars c<r><v> rather than an array keep the accumulators in registers (gcc spills an
 * array of vectors to the stack on every iteration). R, NV and PAIR are constants after
 * inlining, so the unused rows and vectors disappear. PAIR: two products sharing A (NV = 2),
 * vector 1 read from B1 and written to C1 instead of the next 16 columns. */
#define CADDR(r, v) (PAIR && v == 1 ? C1 + r * ldc : C + r * ldc + 16 * v)
#define DECL_ROW(r) __m512 c##r##0 = z, c##r##1 = z, c##r##2 = z, c##r##3 = z;
#define INIT1(r, v, cv)                                                                        \
    cv = acc ? _mm512_maskz_loadu_ps(v == NV - 1 ? ml : 0xFFFF, CADDR(r, v))                   \
             : (bias ? _mm512_set1_ps(bias[r]) : z);
#define INIT_ROW(r)                                                                            \
    if (R > r) {                                                                               \
        INIT1(r, 0, c##r##0);                                                                  \
        if (NV > 1) INIT1(r, 1, c##r##1);                                                      \
        if (NV > 2) INIT1(r, 2, c##r##2);                                                      \
        if (NV > 3) INIT1(r, 3, c##r##3);                                                      \
    }
#define FMA_ROW(r)                                                                             \
    if (R > r) {                                                                               \
        __m512 x = _mm512_set1_ps(a[r * sai]);                                                 \
        c##r##0 = _mm512_fmadd_ps(x, b0, c##r##0);                                             \
        if (NV > 1) c##r##1 = _mm512_fmadd_ps(x, b1, c##r##1);                                 \
        if (NV > 2) c##r##2 = _mm512_fmadd_ps(x, b2, c##r##2);                                 \
        if (NV > 3) c##r##3 = _mm512_fmadd_ps(x, b3, c##r##3);                                 \
    }
#define ST1(r, v, cv) _mm512_mask_storeu_ps(CADDR(r, v), v == NV - 1 ? ml : 0xFFFF, cv);
#define STORE_ROW(r)                                                                           \
    if (R > r) {                                                                               \
        ST1(r, 0, c##r##0);                                                                    \
        if (NV > 1) ST1(r, 1, c##r##1);                                                        \
        if (NV > 2) ST1(r, 2, c##r##2);                                                        \
        if (NV > 3) ST1(r, 3, c##r##3);                                                        \
    }
#define ALL_ROWS(M)                                                                            \
    M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)

/* C[R × 16·NV] (+)= Σ_k A(r,k)·B[k, :], the last vector's columns masked by ml */
AI void tile(const int R, const int NV, const int PAIR, float *C, float *C1, int64_t ldc,
             const float *A, int64_t sai, int64_t sak, const float *B, const float *B1, int64_t ldb,
             int64_t K, int acc, const float *bias, __mmask16 ml) {
    __m512 z = _mm512_setzero_ps();
    ALL_ROWS(DECL_ROW)
    ALL_ROWS(INIT_ROW)
    for (int64_t k = 0; k < K; k++) {
        const float *bk = B + k * ldb;
        __m512 b0 = _mm512_maskz_loadu_ps(NV == 1 ? ml : 0xFFFF, bk), b1 = z, b2 = z, b3 = z;
        if (NV > 1) b1 = _mm512_maskz_loadu_ps(NV == 2 ? ml : 0xFFFF, PAIR ? B1 + k * ldb : bk + 16);
        if (NV > 2) b2 = _mm512_maskz_loadu_ps(NV == 3 ? ml : 0xFFFF, bk + 32);
        if (NV > 3) b3 = _mm512_maskz_loadu_ps(NV == 4 ? ml : 0xFFFF, bk + 48);
        const float *a = A + k * sak;
        ALL_ROWS(FMA_ROW)
    }
    ALL_ROWS(STORE_ROW)
}

/* all the rows of one column block: tiles of RMAX rows, then one tile of the remainder */
#define REM_CASE(r)                                                                            \
    case r:                                                                                    \
        if (RMAX > r) tile(r, NV, PAIR, C, C1, ldc, A, sai, sak, B, B1, ldb, K, acc, bias, ml); \
        break;
AI void column_block(const int NV, const int RMAX, const int PAIR, float *C, float *C1, int64_t ldc,
                     const float *A, int64_t sai, int64_t sak, const float *B, const float *B1,
                     int64_t ldb, int64_t m, int64_t K, int acc, const float *bias, __mmask16 ml) {
    int64_t i = 0;
    for (; i + RMAX <= m; i += RMAX)
        tile(RMAX, NV, PAIR, C + i * ldc, PAIR ? C1 + i * ldc : NULL, ldc, A + i * sai, sai, sak, B, B1,
             ldb, K, acc, bias ? bias + i : NULL, ml);
    C += i * ldc, C1 = PAIR ? C1 + i * ldc : NULL, A += i * sai, bias = bias ? bias + i : NULL;
    switch (m - i) {
        REM_CASE(1) REM_CASE(2) REM_CASE(3) REM_CASE(4) REM_CASE(5) REM_CASE(6) REM_CASE(7)
        REM_CASE(8) REM_CASE(9) REM_CASE(10) REM_CASE(11) REM_CASE(12) REM_CASE(13) REM_CASE(14)
        REM_CASE(15)
    default:
        break;
    }
}

/* the same instantiated once per shape (noinline: one copy each), with the row stride of A a
 * constant where it is 1 or 16: then every row's address is the base plus a displacement (a
 * variable stride needs a register per row, more than x86 has for 16 rows) */
#define BLOCK(name, NV, RMAX, PAIR)                                                              \
    static __attribute__((noinline, target(TTT_AVX512_TARGET))) void name(                       \
        float *C, float *C1, int64_t ldc, const float *A, int64_t sai, int64_t sak, const float *B, \
        const float *B1, int64_t ldb, int64_t m, int64_t K, int acc, const float *bias,          \
        __mmask16 ml) {                                                                          \
        if (sai == 1)                                                                            \
            column_block(NV, RMAX, PAIR, C, C1, ldc, A, 1, sak, B, B1, ldb, m, K, acc, bias, ml);  \
        else if (sai == 16)                                                                      \
            column_block(NV, RMAX, PAIR, C, C1, ldc, A, 16, sak, B, B1, ldb, m, K, acc, bias, ml); \
        else                                                                                     \
            column_block(NV, RMAX, PAIR, C, C1, ldc, A, sai, sak, B, B1, ldb, m, K, acc, bias, ml); \
    }
BLOCK(block1, 1, 16, 0)
BLOCK(block2, 2, 8, 0)
BLOCK(block3, 3, 5, 0)
BLOCK(block4, 4, 4, 0)
BLOCK(block_pair, 2, 12, 1)

/* C[m×N] = (acc ? C : bias_i or 0) + Σ_k A[i·sai + k·sak]·B[k·ldb + :], in column blocks of
 * up to 4 vectors (64 columns) */
KFN void p_mm(float *C, int64_t ldc, const float *A, int64_t sai, int64_t sak, const float *B,
              int64_t ldb, int64_t m, int64_t N, int64_t K, int acc, const float *bias) {
    for (int64_t j = 0; j < N; j += 64) {
        int64_t w = N - j < 64 ? N - j : 64;
        int nv = (int)((w + 15) / 16);
        int64_t tail = w - 16 * (nv - 1);
        __mmask16 ml = (__mmask16)(tail >= 16 ? 0xFFFF : (1u << tail) - 1);
        switch (nv) {
        case 1: block1(C + j, NULL, ldc, A, sai, sak, B + j, NULL, ldb, m, K, acc, bias, ml); break;
        case 2: block2(C + j, NULL, ldc, A, sai, sak, B + j, NULL, ldb, m, K, acc, bias, ml); break;
        case 3: block3(C + j, NULL, ldc, A, sai, sak, B + j, NULL, ldb, m, K, acc, bias, ml); break;
        default: block4(C + j, NULL, ldc, A, sai, sak, B + j, NULL, ldb, m, K, acc, bias, ml); break;
        }
    }
}

/* two products of one A over 16-lane blocks: C0 (+)= A·B0, C1 (+)= A·B1 (ldc = ldb = 16) */
KFN void p_mm2(float *C0, float *C1, const float *A, int64_t sai, int64_t sak, const float *B0,
               const float *B1, int64_t m, int64_t K, int acc, const float *bias) {
    block_pair(C0, C1, 16, A, sai, sak, B0, B1, 16, m, K, acc, bias, 0xFFFF);
}

/* ---- 16×16 transposes ----------------------------------------------------------------- */

#define UNLO(a, b) _mm512_unpacklo_ps(a, b)
#define UNHI(a, b) _mm512_unpackhi_ps(a, b)
#define UNLO64(a, b) _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)))
#define UNHI64(a, b) _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b)))

/* r[i] holds row i; afterwards r[j] holds column j */
AI void tr16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = UNLO(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = UNHI(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = UNLO64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = UNHI64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = UNLO64(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = UNHI64(t[4 * i + 1], t[4 * i + 3]);
    }
    /* 128-bit blocks: rows 0-3 with 4-7, 8-11 with 12-15 */
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 4; i++) {
            t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0x88);
            t[8 * h + 4 + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0xdd);
        }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
    }
}

AI __mmask16 mask_of(int64_t w) { return (__mmask16)(w >= 16 ? 0xFFFF : (1u << w) - 1); }

/* dst[c·16 + i] = i < n ? src[i·lds + c] : 0 */
KFN void p_load_t(float *dst, const float *src, int64_t lds, int64_t n, int64_t cols) {
    for (int64_t c0 = 0; c0 < cols; c0 += 16) {
        int64_t w = cols - c0 < 16 ? cols - c0 : 16;
        __mmask16 m = mask_of(w);
        __m512 r[16];
        for (int i = 0; i < 16; i++)
            r[i] = i < n ? _mm512_maskz_loadu_ps(m, src + i * lds + c0) : _mm512_setzero_ps();
        tr16(r);
        for (int c = 0; c < w; c++) _mm512_storeu_ps(dst + (c0 + c) * 16, r[c]);
    }
}

/* dst[i·ldd + c] (= or +=) src[c·16 + i], i < n */
KFN void p_store_t(float *dst, int64_t ldd, const float *src, int64_t n, int64_t cols, int acc) {
    for (int64_t c0 = 0; c0 < cols; c0 += 16) {
        int64_t w = cols - c0 < 16 ? cols - c0 : 16;
        __mmask16 m = mask_of(w);
        __m512 r[16];
        for (int c = 0; c < 16; c++) r[c] = c < w ? _mm512_loadu_ps(src + (c0 + c) * 16) : _mm512_setzero_ps();
        tr16(r);
        for (int i = 0; i < n; i++) {
            float *p = dst + i * ldd + c0;
            __m512 v = acc ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, p), r[i]) : r[i];
            _mm512_mask_storeu_ps(p, m, v);
        }
    }
}

/* dst[i·cols + c] = src[c·16 + i] */
KFN void p_rows(float *dst, const float *src, int64_t cols) { p_store_t(dst, cols, src, 16, cols, 0); }

/* dst[c] += Σ_i src[c·16 + i]: transposed, then the same pairwise tree as the portable path */
KFN void p_lane_sums(float *dst, const float *src, int64_t cols) {
    for (int64_t c0 = 0; c0 < cols; c0 += 16) {
        int64_t w = cols - c0 < 16 ? cols - c0 : 16;
        __mmask16 m = mask_of(w);
        __m512 r[16];
        for (int c = 0; c < 16; c++) r[c] = c < w ? _mm512_loadu_ps(src + (c0 + c) * 16) : _mm512_setzero_ps();
        tr16(r);
        for (int h = 8; h >= 1; h /= 2)
            for (int i = 0; i < h; i++) r[i] = _mm512_add_ps(r[i], r[i + h]);
        _mm512_mask_storeu_ps(dst + c0, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst + c0), r[0]));
    }
}

/* rs[l] = 1/sqrt(var[l]/f + eps) (the inner LayerNorm's eps, 1e-6), 16 lanes at once */
KFN void p_inv_std(float *rs, const float *var, int64_t f) {
    __m512 v = _mm512_add_ps(_mm512_div_ps(_mm512_loadu_ps(var), _mm512_set1_ps((float)f)), _mm512_set1_ps(1e-6f));
    _mm512_storeu_ps(rs, _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_sqrt_ps(v)));
}

/* the primal step's pass over one state matrix W [rows × m] and its sums S (ttt_fast_impl.h):
 * S[c] += lr·x[c]·g;  y += Σ_c q[c]·(W[c] − τ S[c]);  commit: W[c] −= τ S[c], S[c] = 0.
 * 64 columns at a time, y in two sets of registers (even and odd rows: independent chains) */
#define PP_ROW(c, Y0, Y1, Y2, Y3)                                                                \
    {                                                                                           \
        __m512 va = _mm512_set1_ps(lr * x[c]), vq = _mm512_set1_ps(q[c]), vmq = _mm512_set1_ps(-tau * q[c]); \
        float *wr = W + (c) * m + j, *sr = Sm + (c) * m + j;                                     \
        PP_VEC(0, Y0) PP_VEC(1, Y1) PP_VEC(2, Y2) PP_VEC(3, Y3)                                  \
    }
#define PP_VEC(v, Y)                                                                            \
    if (v < nv) {                                                                               \
        __m512 sv = _mm512_fmadd_ps(va, g##v, _mm512_maskz_loadu_ps(mk[v], sr + 16 * v));         \
        __m512 wv = _mm512_maskz_loadu_ps(mk[v], wr + 16 * v);                                   \
        Y = _mm512_fmadd_ps(vq, wv, Y);                                                         \
        Y = _mm512_fmadd_ps(vmq, sv, Y);                                                        \
        if (commit) {                                                                           \
            _mm512_mask_storeu_ps(wr + 16 * v, mk[v], _mm512_fnmadd_ps(vt, sv, wv));             \
            _mm512_mask_storeu_ps(sr + 16 * v, mk[v], z);                                       \
        } else {                                                                                \
            _mm512_mask_storeu_ps(sr + 16 * v, mk[v], sv);                                      \
        }                                                                                       \
    }
KFN void p_primal_pass(float *y, float *W, float *Sm, const float *x, float lr, const float *g,
                       const float *q, float tau, int commit, int64_t rows, int64_t m) {
    __m512 z = _mm512_setzero_ps(), vt = _mm512_set1_ps(tau);
    for (int64_t j = 0; j < m; j += 64) {
        int64_t w = m - j < 64 ? m - j : 64;
        int nv = (int)((w + 15) / 16);
        __mmask16 mk[4];
        for (int v = 0; v < 4; v++) mk[v] = v < nv ? mask_of(w - 16 * v) : 0;
        __m512 g0 = _mm512_maskz_loadu_ps(mk[0], g + j), g1 = _mm512_maskz_loadu_ps(mk[1], g + j + 16);
        __m512 g2 = _mm512_maskz_loadu_ps(mk[2], g + j + 32), g3 = _mm512_maskz_loadu_ps(mk[3], g + j + 48);
        __m512 a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;
        int64_t c = 0;
        for (; c + 2 <= rows; c += 2) {
            PP_ROW(c, a0, a1, a2, a3)
            PP_ROW(c + 1, b0, b1, b2, b3)
        }
        if (c < rows) PP_ROW(c, a0, a1, a2, a3)
        __m512 ys[4] = {_mm512_add_ps(a0, b0), _mm512_add_ps(a1, b1), _mm512_add_ps(a2, b2), _mm512_add_ps(a3, b3)};
        for (int v = 0; v < nv; v++)
            _mm512_mask_storeu_ps(y + j + 16 * v, mk[v],
                                  _mm512_add_ps(_mm512_maskz_loadu_ps(mk[v], y + j + 16 * v), ys[v]));
    }
}

#include "kernels/ttt_fast_impl.h"

#else /* not x86-64 with GCC or Clang: no AVX-512 path (ttt_fast.c knows) */
typedef int ttt_fast_avx512_unused;
#endif
