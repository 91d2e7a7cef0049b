/* cmd_bench.c: `ttt bench`: the paper's latency comparison on this CPU. For TTT-Linear,
 * TTT-MLP, the Transformer and Mamba at the paper's 125M-class shapes (random weights) it
 * measures (a) prefill time per token at contexts 512 .. 32k, (b) decode time per token after
 * a prompt of those lengths, (c) a training step (forward + backward) per token at 2k, at
 * batch 1 and a larger batch; and in the same run the machine's ceilings (an FMA loop, a large
 * GEMM through the library's own matmul, a stream triad, a bf16 dot loop; FMA and triad
 * measured again before each model, the highest so far used), printing every result as a
 * fraction of them; bf16-weight prefill and decode. Warm-up, repetitions, median and spread; thread count, build and git commit are
 * recorded; output: a table on stdout, CSV and JSON, PNG charts (scripts/plot_bench.py). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/rng.h"
#include "io/fsutil.h"
#include "model/family.h"
#include "ttt.h"

int ttt_cpu_has_bf16(void); /* src/ops/kernels.c: AVX512_BF16 present */

#ifndef TTT_BUILD_FLAGS
#define TTT_BUILD_FLAGS "unknown"
#endif

/* ------------------------------------------------------------------------------------------ */
/* machine ceilings                                                                            */

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
static double measure_fma(void) {
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
static double measure_bf16(void) {
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
typedef struct {
    float *a, *b, *c;
    int64_t n;
} stream_bufs;

static double measure_bandwidth(stream_bufs *st) {
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

static void stream_free(stream_bufs *st) {
    ttt_free(st->a), ttt_free(st->b), ttt_free(st->c);
    st->a = st->b = st->c = NULL;
}

/* a large GEMM through the library's own matmul (the op every linear layer uses) */
void mm_nt_f32(float *C, const float *A, const float *B, int64_t M, int64_t N, int64_t K, int acc);

static double measure_gemm(int64_t n) {
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

/* ------------------------------------------------------------------------------------------ */
/* model cost (per token, forward): FLOPs and weight bytes                                    */

/* forward FLOPs per token when each query attends to `keys` earlier tokens (the attention
 * term; T/2 on average over a prefill of T tokens): the family's blocks, plus the head */
static double flops_per_token(const ttt_config *c, double keys) {
    double D = (double)c->hidden_size, V = (double)ttt_config_vocab_rows(c);
    return ttt_family_of(c)->block_flops(c, keys) + 2 * D * V;
}

/* ------------------------------------------------------------------------------------------ */

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    double med, lo, hi;
} stat3;

static stat3 stats(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    stat3 s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
    return s;
}

typedef struct {
    FILE *csv, *json;
    int first;
    double fma, gemm, bw, bf16;
} outputs;

static void emit(outputs *o, const char *model, const char *what, int64_t B, int64_t T, stat3 s, double frac,
                 const char *frac_of, double tps) {
    printf("%-12s %-12s %3lld %7lld   %9.3f ms/token  [%.3f .. %.3f]  %8.1f tokens/s  %5.1f%% of %s\n", model, what,
           (long long)B, (long long)T, 1e3 * s.med, 1e3 * s.lo, 1e3 * s.hi, tps, 100 * frac, frac_of);
    fflush(stdout);
    if (o->csv)
        fprintf(o->csv, "%s,%s,%lld,%lld,%.6e,%.6e,%.6e,%.2f,%.4f,%s\n", model, what, (long long)B, (long long)T, s.med,
                s.lo, s.hi, tps, frac, frac_of), fflush(o->csv);
    if (o->json) {
        fprintf(o->json, "%s\n  {\"model\": \"%s\", \"measure\": \"%s\", \"batch\": %lld, \"context\": %lld, "
                "\"s_per_token_median\": %.6e, \"s_per_token_min\": %.6e, \"s_per_token_max\": %.6e, "
                "\"tokens_per_s\": %.2f, \"fraction\": %.4f, \"fraction_of\": \"%s\"}",
                o->first ? "" : ",", model, what, (long long)B, (long long)T, s.med, s.lo, s.hi, tps, frac, frac_of);
        o->first = 0;
        fflush(o->json);
    }
}

static const flag_spec flags[] = {{"models", 1},  {"size", 1},    {"contexts", 1}, {"batch", 1}, {"reps", 1},
                                  {"decode-steps", 1}, {"train-context", 1}, {"out", 1}, {"threads", 1},
                                  {"skip", 1}, {"quick", 0}, {NULL, 0}};

/* every family's bench entries, in registration order, with their keys joined by "," (all)
 * and by ", " (known); returns how many */
static int bench_models(const ttt_family_bench **kinds, int cap, char *all, char *known, size_t len) {
    int n = 0;
    all[0] = known[0] = 0;
    for (int f = 0; f < ttt_family_count(); f++)
        for (const ttt_family_bench *e = ttt_family_at(f)->bench; e && e->key && n < cap; e++) {
            kinds[n++] = e;
            snprintf(all + strlen(all), len - strlen(all), "%s%s", *all ? "," : "", e->key);
            snprintf(known + strlen(known), len - strlen(known), "%s%s", *known ? ", " : "", e->key);
        }
    return n;
}

enum { MAX_KINDS = 32 }; /* models of --models, all families together */

static void help(void) {
    const ttt_family_bench *kinds[MAX_KINDS];
    char all[512], known[512];
    bench_models(kinds, MAX_KINDS, all, known, sizeof all);
    printf("usage: ttt bench [--models %s] [--size 125m|1.3b]\n", all);
    printf("                 [--contexts 512,1024,...,32768] [--batch N] [--reps N] [--decode-steps N]\n"
           "                 [--train-context 2048] [--skip prefill,decode,train,bf16] [--out DIR] [--quick]\n\n"
           "Measures the machine's ceilings (fp32 FMA loop, a large GEMM, stream triad, bf16 dot loop)\n"
           "and, for each model at the paper's shapes with random weights: prefill time per token at each\n"
           "context, decode time per token after a prompt of that length, and a training step per token\n"
           "at --train-context, at batch 1 and at --batch (default 4, prefill and training up to 4k);\n"
           "then prefill and decode with bfloat16 weights (the --bf16 of forward and generate) at batch 1\n"
           "and 2k context (--skip bf16 leaves them out). Median of --reps (default 3; contexts >= 8k: 1)\n"
           "after a warm-up, with the spread. The FMA loop and the triad are measured again before each\n"
           "model (this shared machine moves by 30 percent over minutes); the highest so far is the ceiling\n"
           "each row's fraction uses. Output: a table on\n"
           "stdout, DIR/bench.csv, DIR/bench.json and DIR/*.png (scripts/plot_bench.py), DIR defaulting\n"
           "to results/bench. --size 1.3b uses the 1.3B shapes, one repetition, contexts up to 8k.\n"
           "--quick: tiny models and short contexts (a smoke run). A default run takes about 30 minutes\n"
           "on 2 cores.\n");
}

/* a comma-separated list of integers in [1, 2^20] (at most MAX entries), or -1 */
static int parse_list(const char *s, int64_t *out, int max) {
    int n = 0;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char item[32];
        if (n >= max || len == 0 || len >= sizeof item) return -1;
        memcpy(item, p, len);
        item[len] = 0;
        if (!ttt_parse_i64_ok(item, 1, (int64_t)1 << 20, &out[n])) return -1;
        n++;
        if (!e) break;
        p = e + 1;
        if (!*p) return -1; /* a trailing comma */
    }
    return n;
}

static double now_s(void) { return cli_now(); }

/* prefill of T tokens for B sequences (tp[rep]: seconds per token) and, when dsteps > 0, dsteps
 * decode steps after it (td[rep]: seconds per step of B tokens), nrep times after a short
 * warm-up; the workspace is grown and touched before the timed repetitions */
static int measure_prefill_decode(ttt_model *m, const ttt_config *cfg, const int32_t *ids, int64_t B, int64_t T,
                                  int nrep, int64_t dsteps, double *tp, double *td) {
    ttt_cache *c;
    if (ttt_cache_create(m, B, &c) != TTT_OK) return -1;
    float *lg = malloc(sizeof(float) * (size_t)(B * ttt_config_vocab_rows(cfg)));
    int32_t *col = malloc(sizeof(int32_t) * (size_t)B);
    int rc = lg && col ? 0 : -1;
    for (int rep = -1; rep < nrep && rc == 0; rep++) { /* rep -1: warm-up (short) */
        int64_t TT = rep < 0 ? (T < 256 ? T : 256) : T;
        if (rep == 0 && T > 256) /* the workspace is linear in B·T: grow and touch it now */
            ttt_workspace_reserve(m, (size_t)((double)ttt_workspace_bytes(m) * (double)T / 256.0 * 1.05));
        ttt_cache_reset(c);
        double t0 = now_s();
        if (ttt_prefill_last(m, c, ids, TT, lg) != TTT_OK) {
            rc = -1;
            break;
        }
        double t1 = now_s();
        if (rep >= 0) tp[rep] = (t1 - t0) / (double)(B * TT);
        if (dsteps <= 0) continue;
        int64_t steps = rep < 0 ? 2 : dsteps;
        double t2 = now_s();
        for (int64_t s = 0; s < steps && rc == 0; s++) {
            for (int64_t b = 0; b < B; b++) col[b] = ids[b + s];
            if (ttt_decode_step(m, c, col, lg) != TTT_OK) rc = -1;
        }
        if (rep >= 0) td[rep] = (now_s() - t2) / (double)steps; /* time per step (B tokens at once) */
    }
    free(lg), free(col);
    ttt_cache_free(c);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    args a;
    if (args_parse(&a, "bench", flags, argc, argv)) return 2;
    if (a.help) {
        help();
        return 0;
    }
    int quick = args_has(&a, "quick");
    const char *size = args_str(&a, "size", "125m");
    int big = strcmp(size, "1.3b") == 0;
    if (!big && strcmp(size, "125m") != 0) {
        fprintf(stderr, "ttt bench: --size must be 125m or 1.3b\n");
        return 2;
    }
    int64_t ctx[32], nctx;
    const char *cl = args_str(&a, "contexts", quick ? "128,256" : big ? "512,1024,2048,4096,8192"
                                                              : "512,1024,2048,4096,8192,16384,32768");
    nctx = parse_list(cl, ctx, 32);
    if (nctx <= 0) {
        fprintf(stderr, "ttt bench: --contexts must be a comma-separated list of at most 32 integers in "
                        "1..1048576, got '%s'\n", cl);
        return 2;
    }
    int64_t Bbig, reps, dsteps, tctx, thr;
    if (args_int(&a, "batch", 4, 1, 1024, &Bbig) || args_int(&a, "reps", big ? 1 : 3, 1, 100, &reps) ||
        args_int(&a, "decode-steps", quick ? 4 : 16, 1, 10000, &dsteps) ||
        args_int(&a, "train-context", quick ? 128 : 2048, 1, 1 << 20, &tctx) || args_int(&a, "threads", 0, 0, 4096, &thr))
        return 2;
    const char *skip = args_str(&a, "skip", "");
    int do_prefill = !strstr(skip, "prefill"), do_decode = !strstr(skip, "decode"), do_train = !strstr(skip, "train");
    int do_bf16 = !strstr(skip, "bf16") && (do_prefill || do_decode);
    const char *outdir = args_str(&a, "out", "results/bench");
    ttt_options mo;
    ttt_options_default(&mo);
    mo.threads = (int)thr;
    if (thr > 0) omp_set_num_threads((int)thr);
    /* the models of --models: every family's bench entries, in registration order */
    const ttt_family_bench *kinds[MAX_KINDS];
    char all[512], known[512];
    int NKINDS = bench_models(kinds, MAX_KINDS, all, known, sizeof all);
    const char *models = args_str(&a, "models", all);
    int want[MAX_KINDS] = {0};
    { /* --models: a comma-separated list of known models, each at most once */
        const char *p = models;
        for (;;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            int found = -1;
            for (int k = 0; k < NKINDS; k++)
                if (strlen(kinds[k]->key) == len && strncmp(kinds[k]->key, p, len) == 0) found = k;
            if (found < 0 || want[found]) {
                fprintf(stderr, "ttt bench: --models: '%.*s' is %s (expected a comma-separated list of %s)\n",
                        (int)len, p, found < 0 ? "not a model family" : "given twice", known);
                return 2;
            }
            want[found] = 1;
            if (!e) break;
            p = e + 1;
        }
    }
    if (strchr(outdir, '\'')) { /* the chart step quotes it for the shell */
        fprintf(stderr, "ttt bench: --out must not contain a single quote, got '%s'\n", outdir);
        return 2;
    }
    if (ttt_mkdir_p(outdir) != TTT_OK) return cli_fail("bench");
    char cmd[2 * 4096 + 128];

    /* the source tree this binary was built in (DIR/build/ttt -> DIR): its git commit and its
     * chart script; never the working directory's, which could be anyone's */
    char root[4096] = "";
    {
        ssize_t k = readlink("/proc/self/exe", root, sizeof root - 1);
        root[k > 0 ? k : 0] = 0;
        for (int up = 0; up < 2; up++) {
            char *sl = strrchr(root, '/');
            if (sl) *sl = 0;
        }
        char probe[4200];
        snprintf(probe, sizeof probe, "%s/scripts/plot_bench.py", root);
        if (!*root || strchr(root, '\'') || access(probe, R_OK) != 0) root[0] = 0;
    }

    /* provenance */
    char commit[64] = "unknown";
    snprintf(cmd, sizeof cmd, "git -C '%s' rev-parse --short HEAD 2>/dev/null", root);
    FILE *gp = *root ? popen(cmd, "r") : NULL;
    if (gp) {
        if (fgets(commit, sizeof commit, gp)) commit[strcspn(commit, "\n")] = 0;
        pclose(gp);
    }
    struct utsname un;
    uname(&un);
    const char *ct = getenv("OPENBLAS_CORETYPE");
    printf("ttt bench %s: commit %s, %d threads, build \"%s\", %s %s, OPENBLAS_CORETYPE=%s\n", TTT_VERSION, commit,
           omp_get_max_threads(), TTT_BUILD_FLAGS, un.sysname, un.machine, ct ? ct : "(unset)");

    outputs o = {0};
    o.first = 1;
    /* both files appear complete at the end of the run or not at all (atomic writers) */
    ttt_atomic_file acsv, ajson;
    char *p = ttt_path_join(outdir, "bench.csv");
    ttt_status os = p ? ttt_atomic_open(&acsv, p) : TTT_ERR_NOMEM;
    free(p);
    if (os != TTT_OK) return cli_fail("bench");
    p = ttt_path_join(outdir, "bench.json");
    os = p ? ttt_atomic_open(&ajson, p) : TTT_ERR_NOMEM;
    free(p);
    if (os != TTT_OK) {
        ttt_atomic_abort(&acsv);
        return cli_fail("bench");
    }
    o.csv = acsv.fp;
    o.json = ajson.fp;
    fprintf(o.csv, "model,measure,batch,context,s_per_token_median,s_per_token_min,s_per_token_max,tokens_per_s,"
                   "fraction,fraction_of\n");

    /* ceilings */
    o.fma = measure_fma();
    o.gemm = measure_gemm(quick ? 512 : 2048);
    stream_bufs st = {0};
    o.bw = measure_bandwidth(&st);
    o.bf16 = do_bf16 ? measure_bf16() : 0;
    printf("ceilings: fp32 FMA %.1f GFLOP/s, GEMM (2048^3, the library's matmul) %.1f GFLOP/s, stream triad %.1f GB/s",
           o.fma, o.gemm, o.bw);
    if (o.bf16 > 0) printf(", bf16 dot (vdpbf16ps) %.1f GFLOP/s", o.bf16);
    printf("\n\n");
    fprintf(o.json, "{\"commit\": \"%s\", \"threads\": %d, \"build\": \"%s\", \"openblas_coretype\": \"%s\", "
            "\"ceilings\": {\"fma_gflops\": %.2f, \"gemm_gflops\": %.2f, \"stream_gbs\": %.2f, \"bf16_gflops\": %.2f}, "
            "\"results\": [",
            commit, omp_get_max_threads(), TTT_BUILD_FLAGS, ct ? ct : "", o.fma, o.gemm, o.bw, o.bf16);
    printf("%-12s %-12s %3s %7s   %-16s %-20s %s\n", "model", "measure", "B", "context", "time/token", "[min .. max]",
           "throughput, fraction");

    int rc = 0;
    for (int k = 0; k < NKINDS && rc == 0; k++) {
        if (!want[k]) continue;
        ttt_config cfg;
        ttt_config_preset(kinds[k]->preset[quick ? 2 : big ? 1 : 0], &cfg);
        ttt_model *m;
        if (ttt_model_create(&cfg, 1, &mo, &m) != TTT_OK) {
            rc = cli_fail("bench");
            break;
        }
        const char *name = kinds[k]->key;
        { /* the FMA and bandwidth ceilings again, next to this model's rows: the highest so far */
            double fma = measure_fma(), bw = do_decode ? measure_bandwidth(&st) : 0;
            if (fma > o.fma) o.fma = fma;
            if (bw > o.bw) o.bw = bw;
            printf("(now: FMA %.1f GFLOP/s, triad %.1f GB/s; ceilings used: %.1f GFLOP/s, %.1f GB/s)\n", fma, bw,
                   o.fma, o.bw);
        }
        double wbytes = 4.0 * (double)ttt_param_numel_total(m); /* fp32 weights read per decode step */
        ttt_rng r;
        ttt_rng_seed(&r, 7);
        int64_t maxT = ctx[nctx - 1] > tctx ? ctx[nctx - 1] : tctx;
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)(Bbig * (maxT + dsteps + 1))); /* <= 2^40 */
        if (!ids) {
            fprintf(stderr, "ttt bench: out of memory for %lld x %lld token ids\n", (long long)Bbig,
                    (long long)(maxT + dsteps + 1));
            ttt_model_free(m);
            rc = 1;
            break;
        }
        for (int64_t i = 0; i < Bbig * (maxT + dsteps + 1); i++) ids[i] = (int32_t)(ttt_rng_u64(&r) % (uint64_t)cfg.vocab_size);
        for (int bi = 0; bi < 2 && rc == 0; bi++) {
            int64_t B = bi ? Bbig : 1;
            if (bi && B == 1) break;
            for (int64_t ci = 0; ci < nctx && rc == 0; ci++) {
                int64_t T = ctx[ci];
                if (B > 1 && T > 4096) continue; /* larger batches: contexts up to 4k */
                if (!do_prefill && !do_decode) break;
                int nrep = T >= 8192 ? 1 : (int)reps;
                double tp[100], td[100];
                if (measure_prefill_decode(m, &cfg, ids, B, T, nrep, do_decode ? dsteps : 0, tp, td)) {
                    rc = cli_fail("bench");
                    break;
                }
                if (do_prefill) {
                    stat3 s = stats(tp, nrep);
                    double gf = flops_per_token(&cfg, (double)T / 2) / s.med / 1e9;
                    emit(&o, name, "prefill", B, T, s, gf / o.fma, "FMA peak", 1.0 / s.med);
                }
                if (do_decode) {
                    stat3 s = stats(td, nrep);
                    double gbs = wbytes / s.med / 1e9; /* the weights are read once per step */
                    emit(&o, name, "decode", B, T, s, gbs / o.bw, "bandwidth", (double)B / s.med);
                }
            }
            if (do_train && rc == 0) {
                int64_t T = tctx;
                double tt[100];
                int nrep = (int)reps;
                for (int rep = -1; rep < nrep && rc == 0; rep++) {
                    double t0 = now_s();
                    if (ttt_zero_grad(m) != TTT_OK || ttt_forward_backward(m, ids, NULL, B, T, 0, 1.0, NULL) != TTT_OK) {
                        rc = cli_fail("bench");
                        break;
                    }
                    if (rep >= 0) tt[rep] = (now_s() - t0) / (double)(B * T);
                }
                if (rc == 0) {
                    stat3 s = stats(tt, nrep);
                    double gf = 3 * flops_per_token(&cfg, (double)T / 2) / s.med / 1e9; /* backward ≈ 2× forward */
                    emit(&o, name, "train", B, T, s, gf / o.fma, "FMA peak", 1.0 / s.med);
                }
            }
        }
        if (do_bf16 && rc == 0) { /* bf16 weights (inference): batch 1 at 2k context */
            int64_t T = ctx[nctx - 1] < 2048 ? ctx[nctx - 1] : 2048;
            ttt_options bo = mo;
            bo.bf16_weights = 1;
            double tp[100], td[100];
            if (ttt_model_set_options(m, &bo) != TTT_OK ||
                measure_prefill_decode(m, &cfg, ids, 1, T, (int)reps, do_decode ? dsteps : 0, tp, td)) {
                rc = cli_fail("bench");
            } else {
                if (do_prefill) {
                    stat3 s = stats(tp, (int)reps);
                    double gf = flops_per_token(&cfg, (double)T / 2) / s.med / 1e9;
                    if (o.bf16 > 0) emit(&o, name, "prefill-bf16", 1, T, s, gf / o.bf16, "bf16 peak", 1.0 / s.med);
                    else emit(&o, name, "prefill-bf16", 1, T, s, gf / o.fma, "FMA peak", 1.0 / s.med);
                }
                if (do_decode) {
                    stat3 s = stats(td, (int)reps);
                    double gbs = wbytes / 2 / s.med / 1e9; /* bf16 copies: half the bytes */
                    emit(&o, name, "decode-bf16", 1, T, s, gbs / o.bw, "bandwidth", 1.0 / s.med);
                }
            }
            ttt_model_set_options(m, &mo);
        }
        free(ids);
        ttt_model_free(m);
    }
    stream_free(&st);
    fprintf(o.json, "\n], \"fma_gflops_max\": %.2f, \"stream_gbs_max\": %.2f, \"peak_memory_mib\": %.1f}\n", o.fma, o.bw,
            ttt_peak_rss_bytes() / 1048576.0);
    if (rc == 0) {
        if (ttt_atomic_commit(&acsv) != TTT_OK) {
            ttt_atomic_abort(&ajson);
            return cli_fail("bench");
        }
        if (ttt_atomic_commit(&ajson) != TTT_OK) return cli_fail("bench");
    } else {
        ttt_atomic_abort(&acsv);
        ttt_atomic_abort(&ajson);
    }
    if (rc == 0) {
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/scripts/plot_bench.py' '%s/bench.csv' '%s' 2>&1", root, outdir,
                 outdir);
        if (!*root)
            fprintf(stderr, "ttt bench: charts not drawn (scripts/plot_bench.py is not next to this binary's build "
                            "directory)\n");
        else if (system(cmd) != 0)
            fprintf(stderr, "ttt bench: charts not drawn (needs python3-matplotlib)\n");
        printf("\nresults: %s/bench.csv, %s/bench.json, charts in %s/\n", outdir, outdir, outdir);
    }
    return rc;
}
