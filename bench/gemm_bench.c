/* gemm_bench.c: measures the GEMM libraries Debian offers on the models' own matrix shapes, to
 * choose the fast path of src/ops/matmul.c (results in docs/gemm.md). Not part of the test
 * suite; `make bench-gemm` builds and runs it (mk/gemm.mk).
 *
 * Libraries: OpenBLAS (cblas_sgemm; whichever libopenblas.so.0 the loader finds: the pthread
 * or the openmp variant, chosen with LD_LIBRARY_PATH), BLIS (bli_sgemm, openmp variant),
 * oneDNN (dnnl_sgemm f32, and its matmul primitive in bf16 with f32 accumulation), libxsmm
 * (JIT kernels for small row-major A·B, the mm_nn case), and libttt's own mm_nt / mm_nn /
 * mm_tn (whatever fast path the library was built with, see docs/gemm.md).
 *
 * Each library runs in two ways, at 1 and 2 threads:
 *   panel: our scheme (matmul.c): fixed 128-row (or column) panels of C, each a
 *          single-threaded library call, shared by OpenMP threads: the same bits for any
 *          thread count;
 *   lib:   one call on the whole matrix with the library's own threading.
 * The ceilings are measured in the same run: an AVX-512 FMA loop (fp32 peak), a bf16
 * vdpbf16ps loop, and a stream triad (memory bandwidth), each at 1 and 2 threads.
 * Repetitions of the variants of one shape are interleaved (A B C A B C ...) and the median
 * is reported, so load changes on a shared machine hit every variant alike.
 *
 *   build/bench/gemm_bench [-r REPS] [-s SHAPES] [-b BACKENDS] [-t THREADS] [--csv FILE] [--decode]
 *                          [-p LIST]   panel policies: ROWS (panels of ROWS) or nCOUNT (COUNT panels),
 *                                      comma-separated, each a variant (default 128)
 *   SHAPES: a comma list of shape names (see the table `shapes` below) or "all", "quick".
 *   BACKENDS: comma list of openblas,blis,dnnl,dnnl_bf16,xsmm,ttt (default: all but xsmm). */
#include <dnnl.h>
#include <immintrin.h>
#include <libxsmm.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ttt.h"

/* OpenBLAS (declared here: BLIS's and OpenBLAS's cblas.h cannot both be included) */
enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
void cblas_sgemm(int order, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);
void openblas_set_num_threads(int n);
char *openblas_get_corename(void);
char *openblas_get_config(void);
/* BLIS typed API (blis.h's prototype, with its enums as ints) */
void bli_sgemm(int transa, int transb, int64_t m, int64_t n, int64_t k, float *alpha, float *a,
               int64_t rsa, int64_t csa, float *b, int64_t rsb, int64_t csb, float *beta, float *c,
               int64_t rsc, int64_t csc);
void bli_thread_set_num_threads(int64_t n);
int bli_arch_query_id(void);
char *bli_arch_string(int id);
#define BLIS_TRANS 0x08
void cblas_sgemv(int order, int trans, int M, int N, float alpha, const float *A, int lda, const float *x,
                 int incx, float beta, float *y, int incy);
/* libttt's fast path (float instantiation; src/ops/ops.h) and its switches (ops/kernels.h) */
extern int ttt_gemv_max_m, ttt_gemm_lib;
typedef struct {
    const float *lo;
    int64_t n;
    const uint16_t *copy;
} bf16_region;
extern bf16_region ttt_bf16_active;
void bf16_from_f32(uint16_t *dst, const float *src, int64_t n);
void mm_nt_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc);
void mm_nn_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc);
void mm_tn_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc);
void ttt_set_threads(int n);

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------------------- */
/* shapes: C[M,N] = op(A)·op(B); op nt = A·Bᵀ (forward), nn = A·B (input gradient),
 * tn = Aᵀ·B (weight gradient, K = tokens) */
typedef struct {
    const char *name, *op;
    int64_t M, N, K;
    const char *what;
} shape;

static const shape shapes[] = {
    {"qkvo2k", "nt", 2048, 768, 768, "125M: Q/K/V/O projection, 2k tokens"},
    {"qkvo8k", "nt", 8192, 768, 768, "125M: Q/K/V/O projection, 8k tokens"},
    {"up2k", "nt", 2048, 2048, 768, "125M: MLP gate/up, 2k tokens"},
    {"down2k", "nt", 2048, 768, 2048, "125M: MLP down, 2k tokens"},
    {"head2k", "nt", 2048, 32000, 768, "125M: LM head, 2k tokens"},
    {"dx2k", "nn", 2048, 768, 2048, "125M: input gradient of MLP down"},
    {"dw2k", "tn", 768, 768, 2048, "125M: weight gradient D×D, K = 2k tokens"},
    {"dwup8k", "tn", 2048, 768, 8192, "125M: weight gradient I×D, K = 8k tokens"},
    {"qkvo13", "nt", 2048, 2048, 2048, "1.3B: projection, 2k tokens"},
    {"up13", "nt", 2048, 5504, 2048, "1.3B: MLP gate/up, 2k tokens"},
    {"dw13", "tn", 2048, 2048, 2048, "1.3B: weight gradient D×D, K = 2k tokens"},
    {"small64", "nn", 64, 64, 64, "small: 64×64 inner-loop product"},
    {"small16", "nn", 16, 64, 64, "small: 16×64×64"},
    {"mb16", "nt", 16, 768, 768, "mini-batch of 16 tokens × D×D"},
};
#define NSHAPES ((int)(sizeof shapes / sizeof shapes[0]))

enum { B_OPENBLAS, B_BLIS, B_DNNL, B_DNNL_BF16, B_XSMM, B_TTT, NB };
static const char *bnames[NB] = {"openblas", "blis", "dnnl", "dnnl_bf16", "xsmm", "ttt"};

/* one single-threaded (in panel mode) or library-threaded call on a block of C:
 * row-major C[m,n] = op(A)·op(B), ta/tb as in BLAS, leading dims lda/ldb/ldc */
static void call_blas(int b, int ta, int tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                      const float *B, int64_t ldb, float *C, int64_t ldc) {
    float one = 1, zero = 0;
    switch (b) {
    case B_OPENBLAS:
        cblas_sgemm(RowMajor, ta ? Trans : NoTrans, tb ? Trans : NoTrans, (int)m, (int)n, (int)k, 1, A,
                    (int)lda, B, (int)ldb, 0, C, (int)ldc);
        break;
    case B_BLIS: /* row-major: row stride ld, column stride 1; a transpose swaps them */
        bli_sgemm(0, 0, m, n, k, &one, (float *)A, ta ? 1 : lda, ta ? lda : 1, (float *)B, tb ? 1 : ldb,
                  tb ? ldb : 1, &zero, C, ldc, 1);
        break;
    case B_DNNL:
        dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1, A, lda, B, ldb, 0, C, ldc);
        break;
    default: break;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* oneDNN bf16 matmul: src bf16 [M,K], weights bf16 given as [K,N] (plain, strides from op),
 * dst f32. Primitive created once per shape (outside the timing). */
typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t st;
    dnnl_primitive_t prim;
    dnnl_memory_t ms, mw, md;
    uint16_t *a16, *b16;
} dnnl_bf16_ctx;

static uint16_t to_bf16(float x) { /* round to nearest even */
    uint32_t u;
    memcpy(&u, &x, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static int dnnl_bf16_setup(dnnl_bf16_ctx *c, const shape *s, const float *A, const float *B, float *C) {
    memset(c, 0, sizeof *c);
    int ta = s->op[0] == 't', tb = s->op[1] == 't';
    int64_t M = s->M, N = s->N, K = s->K;
    c->a16 = malloc(2 * (size_t)(M * K));
    c->b16 = malloc(2 * (size_t)(K * N));
    for (int64_t i = 0; i < M * K; i++) c->a16[i] = to_bf16(A[i]);
    for (int64_t i = 0; i < K * N; i++) c->b16[i] = to_bf16(B[i]);
    if (dnnl_engine_create(&c->eng, dnnl_cpu, 0) || dnnl_stream_create(&c->st, c->eng, dnnl_stream_default_flags))
        return -1;
    dnnl_memory_desc_t sd, wd, dd;
    dnnl_dims_t sdims = {M, K}, wdims = {K, N}, ddims = {M, N};
    dnnl_memory_desc_init_by_tag(&sd, 2, sdims, dnnl_bf16, ta ? dnnl_ba : dnnl_ab);
    dnnl_memory_desc_init_by_tag(&wd, 2, wdims, dnnl_bf16, tb ? dnnl_ba : dnnl_ab);
    dnnl_memory_desc_init_by_tag(&dd, 2, ddims, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd;
    if (dnnl_matmul_desc_init(&md, &sd, &wd, NULL, &dd) ||
        dnnl_primitive_desc_create(&pd, &md, NULL, c->eng, NULL) || dnnl_primitive_create(&c->prim, pd))
        return -1;
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    fprintf(stderr, "  dnnl bf16 %s: implementation %s\n", s->name, impl ? impl : "?");
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_create(&c->ms, &sd, c->eng, c->a16);
    dnnl_memory_create(&c->mw, &wd, c->eng, c->b16);
    dnnl_memory_create(&c->md, &dd, c->eng, C);
    return 0;
}

static void dnnl_bf16_run(dnnl_bf16_ctx *c) {
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, c->ms}, {DNNL_ARG_WEIGHTS, c->mw}, {DNNL_ARG_DST, c->md}};
    dnnl_primitive_execute(c->prim, c->st, 3, args);
    dnnl_stream_wait(c->st);
}

static void dnnl_bf16_free(dnnl_bf16_ctx *c) {
    if (c->prim) dnnl_primitive_destroy(c->prim);
    if (c->ms) dnnl_memory_destroy(c->ms);
    if (c->mw) dnnl_memory_destroy(c->mw);
    if (c->md) dnnl_memory_destroy(c->md);
    if (c->st) dnnl_stream_destroy(c->st);
    if (c->eng) dnnl_engine_destroy(c->eng);
    free(c->a16);
    free(c->b16);
}

/* ---------------------------------------------------------------------------------------- */
/* panel policy: > 0: panels of that many rows (or columns); < 0: the longer side of C split
 * into -policy panels (rounded up to a multiple of 16 rows, at least 64) */
static int policies[4] = {128}, npolicies = 1;
static int64_t panel_size(int policy, int64_t len) {
    if (policy > 0) return policy;
    int64_t p = (len + (-policy) - 1) / (-policy);
    p = (p + 15) / 16 * 16;
    return p < 64 ? 64 : p;
}

static void set_threads(int b, int nt, int lib_threads) {
    omp_set_num_threads(nt);
    openblas_set_num_threads(b == B_OPENBLAS && lib_threads ? nt : 1);
    bli_thread_set_num_threads(b == B_BLIS && lib_threads ? nt : 1);
    ttt_set_threads(nt);
    openblas_set_num_threads(b == B_OPENBLAS && lib_threads ? nt : 1); /* ttt_set_threads resets it */
}

/* one run of variant (backend b, panel or lib mode) on shape s */
static void run_variant(int b, int panel /* 0: lib mode, else the panel policy */, const shape *s, const float *A, const float *B, float *C,
                        dnnl_bf16_ctx *bc, libxsmm_smmfunction xk) {
    int ta = s->op[0] == 't', tb = s->op[1] == 't';
    int64_t M = s->M, N = s->N, K = s->K;
    int64_t lda = ta ? M : K, ldb = tb ? K : N;
    if (b == B_TTT) {
        if (!strcmp(s->op, "nt")) mm_nt_f32(C, A, B, M, N, K, 0);
        else if (!strcmp(s->op, "nn")) mm_nn_f32(C, A, B, M, N, K, 0);
        else mm_tn_f32(C, A, B, M, N, K, 0);
        return;
    }
    if (b == B_DNNL_BF16) {
        dnnl_bf16_run(bc);
        return;
    }
    if (b == B_XSMM) { /* row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: the kernel (N, M, K) */
        xk(B, A, C);
        return;
    }
    if (!panel) {
        call_blas(b, ta, tb, M, N, K, A, lda, B, ldb, C, N);
        return;
    }
    int by_rows = M >= N;
    int64_t len = by_rows ? M : N, PANEL = panel_size(panel, len), np = (len + PANEL - 1) / PANEL;
#pragma omp parallel for schedule(static)
    for (int64_t p = 0; p < np; p++) {
        int64_t p0 = p * PANEL, pn = len - p0 < PANEL ? len - p0 : PANEL;
        if (by_rows)
            call_blas(b, ta, tb, pn, N, K, ta ? A + p0 : A + p0 * lda, lda, B, ldb, C + p0 * N, N);
        else
            call_blas(b, ta, tb, M, pn, K, A, lda, tb ? B + p0 * ldb : B + p0, ldb, C + p0, N);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* ceilings (the empty asm keeps the accumulators live: the loops are not optimised away) */
static volatile float bench_sink;
static double fma_peak(int nt, int bf16) {
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        int64_t iters = 20000000;
        double t0 = now();
#pragma omp parallel num_threads(nt)
        {
            /* 12 independent accumulators zmm4..zmm15 (latency × throughput of the FMA units) */
            float init[16] = {1e-3f, 2e-3f, 3e-3f, 4e-3f, 5e-3f, 6e-3f, 7e-3f, 8e-3f,
                              1e-3f, 2e-3f, 3e-3f, 4e-3f, 5e-3f, 6e-3f, 7e-3f, 8e-3f};
            float res[16];
            int64_t n = iters;
            if (bf16)
                __asm__ volatile(
                    "vmovups (%1), %%zmm0\n vmovaps %%zmm0, %%zmm1\n"
                    "vmovaps %%zmm0, %%zmm4\n vmovaps %%zmm0, %%zmm5\n vmovaps %%zmm0, %%zmm6\n"
                    "vmovaps %%zmm0, %%zmm7\n vmovaps %%zmm0, %%zmm8\n vmovaps %%zmm0, %%zmm9\n"
                    "vmovaps %%zmm0, %%zmm10\n vmovaps %%zmm0, %%zmm11\n vmovaps %%zmm0, %%zmm12\n"
                    "vmovaps %%zmm0, %%zmm13\n vmovaps %%zmm0, %%zmm14\n vmovaps %%zmm0, %%zmm15\n"
                    "1:\n"
                    "vdpbf16ps %%zmm1, %%zmm0, %%zmm4\n vdpbf16ps %%zmm1, %%zmm0, %%zmm5\n"
                    "vdpbf16ps %%zmm1, %%zmm0, %%zmm6\n vdpbf16ps %%zmm1, %%zmm0, %%zmm7\n"
                    "vdpbf16ps %%zmm1, %%zmm0, %%zmm8\n vdpbf16ps %%zmm1, %%zmm0, %%zmm9\n"
                    "vdpbf16ps %%zmm1, %%zmm0, %%zmm10\n vdpbf16ps %%zmm1, %%zmm0, %%zmm11\n"
                    "vdpbf16ps %%zmm1, %%zmm0, %%zmm12\n vdpbf16ps %%zmm1, %%zmm0, %%zmm13\n"
                    "vdpbf16ps %%zmm1, %%zmm0, %%zmm14\n vdpbf16ps %%zmm1, %%zmm0, %%zmm15\n"
                    "dec %0\n jnz 1b\n"
                    "vaddps %%zmm4, %%zmm15, %%zmm15\n vmovups %%zmm15, (%2)\n"
                    : "+r"(n)
                    : "r"(init), "r"(res)
                    : "zmm0", "zmm1", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10", "zmm11",
                      "zmm12", "zmm13", "zmm14", "zmm15", "memory", "cc");
            else
                __asm__ volatile(
                    "vmovups (%1), %%zmm0\n vmovaps %%zmm0, %%zmm1\n"
                    "vmovaps %%zmm0, %%zmm4\n vmovaps %%zmm0, %%zmm5\n vmovaps %%zmm0, %%zmm6\n"
                    "vmovaps %%zmm0, %%zmm7\n vmovaps %%zmm0, %%zmm8\n vmovaps %%zmm0, %%zmm9\n"
                    "vmovaps %%zmm0, %%zmm10\n vmovaps %%zmm0, %%zmm11\n vmovaps %%zmm0, %%zmm12\n"
                    "vmovaps %%zmm0, %%zmm13\n vmovaps %%zmm0, %%zmm14\n vmovaps %%zmm0, %%zmm15\n"
                    "1:\n"
                    "vfmadd231ps %%zmm1, %%zmm0, %%zmm4\n vfmadd231ps %%zmm1, %%zmm0, %%zmm5\n"
                    "vfmadd231ps %%zmm1, %%zmm0, %%zmm6\n vfmadd231ps %%zmm1, %%zmm0, %%zmm7\n"
                    "vfmadd231ps %%zmm1, %%zmm0, %%zmm8\n vfmadd231ps %%zmm1, %%zmm0, %%zmm9\n"
                    "vfmadd231ps %%zmm1, %%zmm0, %%zmm10\n vfmadd231ps %%zmm1, %%zmm0, %%zmm11\n"
                    "vfmadd231ps %%zmm1, %%zmm0, %%zmm12\n vfmadd231ps %%zmm1, %%zmm0, %%zmm13\n"
                    "vfmadd231ps %%zmm1, %%zmm0, %%zmm14\n vfmadd231ps %%zmm1, %%zmm0, %%zmm15\n"
                    "dec %0\n jnz 1b\n"
                    "vaddps %%zmm4, %%zmm15, %%zmm15\n vmovups %%zmm15, (%2)\n"
                    : "+r"(n)
                    : "r"(init), "r"(res)
                    : "zmm0", "zmm1", "zmm4", "zmm5", "zmm6", "zmm7", "zmm8", "zmm9", "zmm10", "zmm11",
                      "zmm12", "zmm13", "zmm14", "zmm15", "memory", "cc");
            bench_sink += res[0];
        }
        double t = now() - t0;
        /* per instruction: fp32 FMA 16 lanes × 2 flops; bf16 dot 32 products × 2 flops */
        double fl = (double)nt * (double)iters * 12 * (bf16 ? 64 : 32);
        if (fl / t > best) best = fl / t;
    }
    return best * 1e-9;
}

static double triad_bw(int nt) {
    int64_t n = 32 << 20; /* 3 × 128 MB */
    float *a = malloc(4 * (size_t)n), *b = malloc(4 * (size_t)n), *c = malloc(4 * (size_t)n);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < n; i++) a[i] = 0, b[i] = 1, c[i] = 2;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now();
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t i = 0; i < n; i++) a[i] = b[i] + 1.5f * c[i];
        double t = now() - t0;
        if (12.0 * (double)n / t > best) best = 12.0 * (double)n / t;
    }
    free(a), free(b), free(c);
    return best * 1e-9;
}

/* ---------------------------------------------------------------------------------------- */
/* --decode: the weight matrices of one decode step of the 125M TTT-Linear model (12 layers of
 * Q, V, O, gate [768,768], MLP gate/up [2048,768], down [768,2048], plus the head [32000,768]:
 * 0.44 GB of float32, far more than the caches) multiplied by M = 1, 2, 4 rows, in order, as
 * decoding does. Variants, interleaved: libttt's mm_nt (matrix-vector kernels), the same with
 * the kernels off (TTT_GEMV_MAX_M=0: the GEMM library with M rows), OpenBLAS sgemv (M = 1),
 * and libttt's bf16 weights (a bf16 copy, vdpbf16ps). Reports ms per step and GB/s of
 * weights read (float32 bytes for all but bf16, which reads half as many). */
static int cmp_d(const void *a, const void *b);
static void decode_bench(int reps, const int *threads, int ntl) {
    enum { NMAT = 12 * 7 + 1 };
    int64_t rows[NMAT], cols[NMAT], off[NMAT], total = 0;
    for (int l = 0, i = 0; l < 12; l++) {
        int64_t r7[7] = {768, 768, 768, 768, 2048, 2048, 768}, c7[7] = {768, 768, 768, 768, 768, 768, 2048};
        for (int q = 0; q < 7; q++, i++) rows[i] = r7[q], cols[i] = c7[q];
    }
    rows[NMAT - 1] = 32000, cols[NMAT - 1] = 768;
    for (int i = 0; i < NMAT; i++) off[i] = total, total += rows[i] * cols[i];
    float *W = malloc(sizeof(float) * (size_t)total), *x = malloc(sizeof(float) * 4 * 2048);
    float *y = malloc(sizeof(float) * 4 * 32000);
    uint16_t *Wh = malloc(sizeof(uint16_t) * (size_t)total);
    uint64_t r = 7;
    for (int64_t i = 0; i < total; i++) r = r * 6364136223846793005ull + 1, W[i] = (float)((r >> 40) & 0xffff) / 65536.0f - 0.5f;
    for (int i = 0; i < 4 * 2048; i++) x[i] = 0.01f * (float)(i % 97);
    bf16_from_f32(Wh, W, total);
    const char *vn[4] = {"ttt gemv", "ttt gemm (gemv off)", "openblas sgemv", "ttt bf16"};
    printf("decode step of the 125M TTT-Linear (%.2f GB float32 weights), ms per step (GB/s):\n", 4e-9 * (double)total);
    int Ms[3] = {1, 2, 4};
    for (int t = 0; t < ntl; t++)
        for (int mi = 0; mi < 3; mi++) {
            int M = Ms[mi];
            double times[4][64];
            int nrep = reps > 64 ? 64 : reps;
            for (int rep = -1; rep < nrep; rep++)
                for (int v = 0; v < 4; v++) {
                    if (v == 2 && M != 1) continue;
                    omp_set_num_threads(threads[t]);
                    ttt_set_threads(threads[t]);
                    ttt_gemv_max_m = v == 1 ? 0 : 4;
                    if (v == 3) ttt_bf16_active = (bf16_region){W, total, Wh};
                    double t0 = now();
                    for (int i = 0; i < NMAT; i++) {
                        if (v == 2)
                            cblas_sgemv(RowMajor, NoTrans, (int)rows[i], (int)cols[i], 1, W + off[i], (int)cols[i], x, 1,
                                        0, y, 1);
                        else
                            mm_nt_f32(y, x, W + off[i], M, rows[i], cols[i], 0);
                    }
                    double dt = now() - t0;
                    ttt_bf16_active = (bf16_region){NULL, 0, NULL};
                    ttt_gemv_max_m = 4;
                    if (rep >= 0) times[v][rep] = dt;
                }
            printf("  %d thread(s), M = %d:", threads[t], M);
            for (int v = 0; v < 4; v++) {
                if (v == 2 && M != 1) continue;
                if (v == 2) openblas_set_num_threads(threads[t]); /* (sgemv ran single-threaded above) */
                qsort(times[v], (size_t)nrep, sizeof(double), cmp_d);
                double md = times[v][nrep / 2], bytes = (double)total * (v == 3 ? 2 : 4);
                printf("  %s %.2f ms (%.1f GB/s)", vn[v], 1e3 * md, bytes / md * 1e-9);
            }
            openblas_set_num_threads(1);
            printf("\n");
            fflush(stdout);
        }
    free(W), free(Wh), free(x), free(y);
}

static const char *mode_name(int policy) {
    static char buf[4][16];
    static int k;
    if (!policy) return "lib";
    k = (k + 1) % 4;
    if (policy > 0) snprintf(buf[k], sizeof buf[k], "p%d", policy);
    else snprintf(buf[k], sizeof buf[k], "n%d", -policy);
    return buf[k];
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int in_list(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

int main(int argc, char **argv) {
    int reps = 5;
    const char *shape_list = "quick", *blist = "openblas,blis,dnnl,dnnl_bf16,ttt", *tlist = "1,2", *csv = NULL;
    int ceilings = 1, decode = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) shape_list = argv[++i];
        else if (!strcmp(argv[i], "-b") && i + 1 < argc) blist = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) tlist = argv[++i];
        else if (!strcmp(argv[i], "--csv") && i + 1 < argc) csv = argv[++i];
        else if (!strcmp(argv[i], "--no-ceilings")) ceilings = 0;
        else if (!strcmp(argv[i], "--decode")) decode = 1;
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) {
            i++;
            npolicies = 0;
            for (const char *q = argv[i]; q && *q && npolicies < 4;) {
                int pol = q[0] == 'n' ? -atoi(q + 1) : atoi(q);
                policies[npolicies++] = pol ? pol : 128;
                q = strchr(q, ',');
                if (q) q++;
            }
        }
        else {
            fprintf(stderr, "usage: %s [-r REPS] [-s SHAPES|quick|all] [-b BACKENDS] [-t 1,2] [--csv FILE] [--no-ceilings] [--decode] [-p ROWS|nCOUNT]\n", argv[0]);
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    const char *quick = "qkvo2k,up2k,down2k,head2k,dx2k,dw2k,qkvo13";
    FILE *out = csv ? fopen(csv, "w") : NULL;
    if (out) fprintf(out, "shape,op,M,N,K,backend,mode,threads,gflops,seconds\n");
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("OPENBLAS_CORETYPE=%s; OpenBLAS core %s (%s); BLIS arch %s; oneDNN %d.%d\n", ct ? ct : "(unset)",
           openblas_get_corename(), openblas_get_config(), bli_arch_string(bli_arch_query_id()),
           dnnl_version()->major, dnnl_version()->minor);
    int threads[4], ntl = 0;
    for (const char *p = tlist; p && *p && ntl < 4;) {
        threads[ntl++] = atoi(p);
        p = strchr(p, ',');
        if (p) p++;
    }
    double peak[4] = {0}, bpeak[4] = {0};
    if (ceilings)
        for (int t = 0; t < ntl; t++) {
            peak[t] = fma_peak(threads[t], 0);
            bpeak[t] = fma_peak(threads[t], 1);
            printf("ceilings, %d thread(s): fp32 FMA %.0f GFLOP/s, bf16 dot %.0f GFLOP/s, triad %.1f GB/s\n",
                   threads[t], peak[t], bpeak[t], triad_bw(threads[t]));
        }
    if (decode) {
        decode_bench(reps, threads, ntl);
        return 0;
    }
    libxsmm_init();
    printf("%-8s %-2s %5s %5s %5s | %-9s %-5s", "shape", "op", "M", "N", "K", "backend", "mode");
    /* mode: lib = one call, the library's threads; pR = panels of R rows, nC = C panels */
    for (int t = 0; t < ntl; t++) printf(" | %2d thr GF/s %%peak", threads[t]);
    printf("\n");
    for (int si = 0; si < NSHAPES; si++) {
        const shape *s = &shapes[si];
        if (strcmp(shape_list, "all") && !in_list(!strcmp(shape_list, "quick") ? quick : shape_list, s->name))
            continue;
        int64_t M = s->M, N = s->N, K = s->K;
        float *A = malloc(4 * (size_t)(M * K)), *B = malloc(4 * (size_t)(K * N)), *C = malloc(4 * (size_t)(M * N));
        uint64_t r = 12345;
        for (int64_t i = 0; i < M * K; i++) r = r * 6364136223846793005ull + 1, A[i] = (float)((r >> 40) & 0xffff) / 65536.0f - 0.5f;
        for (int64_t i = 0; i < K * N; i++) r = r * 6364136223846793005ull + 1, B[i] = (float)((r >> 40) & 0xffff) / 65536.0f - 0.5f;
        memset(C, 0, 4 * (size_t)(M * N));
        /* the variants: (backend, mode) */
        int vb[16], vp[16], nv = 0;
        for (int b = 0; b < NB; b++) {
            if (!in_list(blist, bnames[b])) continue;
            if (b == B_XSMM && strcmp(s->op, "nn")) continue;
            if (b == B_OPENBLAS || b == B_BLIS || b == B_DNNL)
                for (int q = 0; q < npolicies; q++) vb[nv] = b, vp[nv++] = policies[q];
            vb[nv] = b, vp[nv++] = 0;
        }
        dnnl_bf16_ctx bc;
        int have_bc = 0;
        libxsmm_smmfunction xk = NULL;
        for (int v = 0; v < nv; v++) {
            if (vb[v] == B_DNNL_BF16 && !have_bc) have_bc = dnnl_bf16_setup(&bc, s, A, B, C) == 0;
            if (vb[v] == B_XSMM && !xk) {
                float alpha = 1, beta = 0;
                libxsmm_blasint ldb = (libxsmm_blasint)N, lda = (libxsmm_blasint)K, ldc = (libxsmm_blasint)N;
                xk = libxsmm_smmdispatch((libxsmm_blasint)N, (libxsmm_blasint)M, (libxsmm_blasint)K, &ldb, &lda,
                                         &ldc, &alpha, &beta, NULL, NULL);
            }
        }
        double flops = 2.0 * (double)M * (double)N * (double)K;
        double res[16][4];
        for (int t = 0; t < ntl; t++) {
            double times[16][64];
            int nrep = reps > 64 ? 64 : reps;
            int inner = flops < 1e8 ? (int)(1e8 / flops) : 1; /* small shapes: many calls per sample */
            for (int v = 0; v < nv; v++) { /* warm-up */
                if ((vb[v] == B_DNNL_BF16 && !have_bc) || (vb[v] == B_XSMM && !xk)) continue;
                set_threads(vb[v], threads[t], !vp[v]);
                run_variant(vb[v], vp[v], s, A, B, C, &bc, xk);
            }
            for (int rep = 0; rep < nrep; rep++)
                for (int v = 0; v < nv; v++) {
                    times[v][rep] = NAN;
                    if ((vb[v] == B_DNNL_BF16 && !have_bc) || (vb[v] == B_XSMM && !xk)) continue;
                    set_threads(vb[v], threads[t], !vp[v]);
                    double t0 = now();
                    for (int in = 0; in < inner; in++) run_variant(vb[v], vp[v], s, A, B, C, &bc, xk);
                    times[v][rep] = (now() - t0) / inner;
                }
            for (int v = 0; v < nv; v++) {
                qsort(times[v], (size_t)nrep, sizeof(double), cmp_d);
                res[v][t] = flops / times[v][nrep / 2] * 1e-9;
                if (out)
                    fprintf(out, "%s,%s,%lld,%lld,%lld,%s,%s,%d,%.1f,%.6f\n", s->name, s->op, (long long)M,
                            (long long)N, (long long)K, bnames[vb[v]], mode_name(vp[v]), threads[t], res[v][t],
                            times[v][nrep / 2]);
            }
        }
        for (int v = 0; v < nv; v++) {
            printf("%-8s %-2s %5lld %5lld %5lld | %-9s %-5s", s->name, s->op, (long long)M, (long long)N,
                   (long long)K, bnames[vb[v]], mode_name(vp[v]));
            for (int t = 0; t < ntl; t++) {
                double pk = vb[v] == B_DNNL_BF16 ? bpeak[t] : peak[t];
                printf(" | %11.1f %5.0f%%", res[v][t], pk > 0 ? 100 * res[v][t] / pk : NAN);
            }
            printf("\n");
        }
        fflush(stdout);
        if (have_bc) dnnl_bf16_free(&bc);
        free(A), free(B), free(C);
    }
    if (out) fclose(out);
    return 0;
}
