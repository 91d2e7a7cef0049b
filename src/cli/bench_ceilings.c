/* bench_ceilings.c: the machine's ceilings that `ttt bench` reports its rows against: an fp32
 * FMA loop and a bf16 dot-product loop (vdpbf16ps) on every thread, a stream triad, and a
 * large GEMM through the library's own matmul. */
#include <omp.h>
#include <stdint.h>

#include "cli/bench_ceilings.h"
#include "cli/commands.h"
#include "core/mem.h"

int ttt_cpu_has_bf16(void); /* src/ops/kernels.c: AVX512_BF16 present */

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx512f"))) static double fma_loop_avx512(int64_t iters, float seed) {
    /* twelve independent chains with distinct starting values (identical ones would be merged
     * into one by the compiler), enough to cover the FMA latency on both pipes */
    __m512 a0 = _mm512_set1_ps(seed), a1 = _mm512_set1_ps(seed + 1), a2 = _mm512_set1_ps(seed + 2);
    __m512 a3 = _mm512_set1_ps(seed + 3), a4 = _mm512_set1_ps(seed + 4), a5 = _mm512_set1_ps(seed + 5);
    __m512 a6 = _mm512_set1_ps(seed + 6), a7 = _mm512_set1_ps(seed + 7), a8 = _mm512_set1_ps(seed + 8);
    __m512 a9 = _mm512_set1_ps(seed + 9), a10 = _mm512_set1_ps(seed + 10), a11 = _mm512_set1_ps(seed + 11);
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int64_t i = 0; i < iters; i++) {
        a0 = _mm512_fmadd_ps(a0, x, y), a1 = _mm512_fmadd_ps(a1, x, y), a2 = _mm512_fmadd_ps(a2, x, y);
        a3 = _mm512_fmadd_ps(a3, x, y), a4 = _mm512_fmadd_ps(a4, x, y), a5 = _mm512_fmadd_ps(a5, x, y);
        a6 = _mm512_fmadd_ps(a6, x, y), a7 = _mm512_fmadd_ps(a7, x, y), a8 = _mm512_fmadd_ps(a8, x, y);
        a9 = _mm512_fmadd_ps(a9, x, y), a10 = _mm512_fmadd_ps(a10, x, y), a11 = _mm512_fmadd_ps(a11, x, y);
    }
    __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    return (double)_mm512_reduce_add_ps(s);
}
__attribute__((target("avx2,fma"))) static double fma_loop_avx2(int64_t iters, float seed) {
    /* twelve independent chains with distinct starting values (identical ones would be merged
     * into one by the compiler), enough to cover the FMA latency on both pipes */
    __m256 a0 = _mm256_set1_ps(seed), a1 = _mm256_set1_ps(seed + 1), a2 = _mm256_set1_ps(seed + 2);
    __m256 a3 = _mm256_set1_ps(seed + 3), a4 = _mm256_set1_ps(seed + 4), a5 = _mm256_set1_ps(seed + 5);
    __m256 a6 = _mm256_set1_ps(seed + 6), a7 = _mm256_set1_ps(seed + 7), a8 = _mm256_set1_ps(seed + 8);
    __m256 a9 = _mm256_set1_ps(seed + 9), a10 = _mm256_set1_ps(seed + 10), a11 = _mm256_set1_ps(seed + 11);
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int64_t i = 0; i < iters; i++) {
        a0 = _mm256_fmadd_ps(a0, x, y), a1 = _mm256_fmadd_ps(a1, x, y), a2 = _mm256_fmadd_ps(a2, x, y);
        a3 = _mm256_fmadd_ps(a3, x, y), a4 = _mm256_fmadd_ps(a4, x, y), a5 = _mm256_fmadd_ps(a5, x, y);
        a6 = _mm256_fmadd_ps(a6, x, y), a7 = _mm256_fmadd_ps(a7, x, y), a8 = _mm256_fmadd_ps(a8, x, y);
        a9 = _mm256_fmadd_ps(a9, x, y), a10 = _mm256_fmadd_ps(a10, x, y), a11 = _mm256_fmadd_ps(a11, x, y);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float v[8];
    _mm256_storeu_ps(v, s);
    return (double)(v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7]);
}
__attribute__((target("avx512f,avx512bf16"))) static double bf16_loop(int64_t iters, float seed) {
    /* twelve independent vdpbf16ps chains (2 multiply-adds per 32-bit lane each) */
    __m512 a[12];
    for (int i = 0; i < 12; i++) a[i] = _mm512_set1_ps(seed + (float)i);
    const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3380); /* 1, ~6e-8 */
    for (int64_t i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int j = 0; j < 12; j++) a[j] = _mm512_dpbf16_ps(a[j], x, y);
    }
    __m512 s = a[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_ps(s, a[i]);
    return (double)_mm512_reduce_add_ps(s);
}
#endif

static volatile double sink;

/* fp32 FMA throughput on all threads (GFLOP/s) */
double measure_fma(void) {
#if defined(__x86_64__)
    int wide = __builtin_cpu_supports("avx512f");
    int lanes = wide ? 16 : 8;
    int64_t iters = 20000000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cli_now(), acc = 0;
#pragma omp parallel reduction(+ : acc)
        acc += wide ? fma_loop_avx512(iters, (float)(omp_get_thread_num() + rep)) : fma_loop_avx2(iters, (float)(omp_get_thread_num() + rep));
        double dt = cli_now() - t0;
        sink = acc;
        double gf = (double)omp_get_max_threads() * (double)iters * 12 * lanes * 2 / dt / 1e9;
        best = gf > best ? gf : best;
    }
    return best;
#else
    return 0;
#endif
}

/* bf16 dot-product throughput (vdpbf16ps: 32 products and sums per instruction, counted as 64
 * FLOPs) on all threads (GFLOP/s); 0 where the CPU lacks AVX512_BF16 */
double measure_bf16(void) {
#if defined(__x86_64__)
    if (!ttt_cpu_has_bf16()) return 0;
    int64_t iters = 20000000;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cli_now(), acc = 0;
#pragma omp parallel reduction(+ : acc)
        acc += bf16_loop(iters, (float)(omp_get_thread_num() + rep));
        double dt = cli_now() - t0;
        sink = acc;
        double gf = (double)omp_get_max_threads() * (double)iters * 12 * 64 / dt / 1e9;
        best = gf > best ? gf : best;
    }
    return best;
#else
    return 0;
#endif
}

/* stream triad a = b + s·c on arrays far beyond the caches (GB/s, 3 arrays counted). The
 * arrays are allocated and first touched once (st->a == NULL) and kept for later calls, so the
 * triad can be measured again next to each model's rows (the bandwidth of this shared virtual
 * machine moves by ±30% over minutes); stream_free releases them. */

double measure_bandwidth(stream_bufs *st) {
    if (!st->a) {
        st->n = (int64_t)32 << 20; /* 32M floats = 128 MB per array */
        st->a = ttt_malloc(sizeof(float) * (size_t)st->n, "stream");
        st->b = ttt_malloc(sizeof(float) * (size_t)st->n, "stream");
        st->c = ttt_malloc(sizeof(float) * (size_t)st->n, "stream");
        if (!st->a || !st->b || !st->c) return 0;
        float *a = st->a, *b = st->b, *c = st->c;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < st->n; i++) a[i] = 0, b[i] = 1, c[i] = 2; /* first touch by the thread that uses it */
    }
    float *a = st->a, *b = st->b, *c = st->c;
    const int64_t n = st->n;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = cli_now();
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) a[i] = b[i] + 0.5f * c[i];
        double dt = cli_now() - t0, gbs = 3.0 * 4.0 * (double)n / dt / 1e9;
        best = gbs > best ? gbs : best;
    }
    sink = a[n / 2];
    return best;
}

void stream_free(stream_bufs *st) {
    ttt_free(st->a), ttt_free(st->b), ttt_free(st->c);
    st->a = st->b = st->c = NULL;
}

/* a large GEMM through the library's own matmul (the op every linear layer uses) */
void mm_nt_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc);

double measure_gemm(int64_t n) {
    float *A = ttt_malloc(sizeof(float) * (size_t)(n * n), "gemm"), *B = ttt_malloc(sizeof(float) * (size_t)(n * n), "gemm"),
          *C = ttt_malloc(sizeof(float) * (size_t)(n * n), "gemm");
    if (!A || !B || !C) return 0;
    for (int64_t i = 0; i < n * n; i++) A[i] = (float)(i % 7) * 0.1f, B[i] = (float)(i % 5) * 0.1f, C[i] = 0;
    mm_nt_f32(C, A, B, n, n, n, 0); /* warm-up */
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = cli_now();
        mm_nt_f32(C, A, B, n, n, n, 0);
        double dt = cli_now() - t0, gf = 2.0 * (double)n * (double)n * (double)n / dt / 1e9;
        best = gf > best ? gf : best;
    }
    ttt_free(A), ttt_free(B), ttt_free(C);
    return best;
}

