/* ttt_scan_bench.c: `make bench-ttt-scan`: the TTT scan of one layer alone (float32), the fast
 * kernels against the reference ones, A/B interleaved in one process (each repetition times
 * fast then reference on the same inputs; medians reported): forward for inference (no
 * cache of intermediates), forward for training (state checkpoints every 4 mini-batches),
 * backward (recomputing each group), and the cached decode step (one token per call and
 * sequence, from the first position). GFLOP/s counts the dual form's matrix products (see
 * flops_* below); cpu/wall (process CPU time over wall time) tells how much of the machine
 * the runs had. Not a test.
 *   ttt_scan_bench [linear|mlp [L [REPS]]]   environment: F (head dim, 64), NH (heads, 12),
 *   B (sequences, 1), THREADS (OpenMP's default), DECODE (decode tokens, 256), REF=0 (fast
 *   kernels only), HUGE=1 (transparent huge pages for the arrays) */
#undef TTT_REAL
#define TTT_REAL 32
#include <omp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "layers/ttt_scan.h"
#include "ops/kernels.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process (all threads): on a busy machine, wall time / CPU time shows
 * how much of the time the benchmark actually ran */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* FMA peak of one thread in GFLOP/s of CPU time: 12 independent chains of 16-lane FMAs
 * (AVX-512 where the CPU has it, else whatever the compiler makes of 16-float vectors) */
typedef float v16f __attribute__((vector_size(64)));
__attribute__((target("avx512f,fma"))) static double fma_peak_avx512(long n) {
    v16f a[12], x = (v16f){0} + 0.999f, y = (v16f){0} + 0.001f;
    for (int i = 0; i < 12; i++) a[i] = (v16f){0} + (float)i;
    double t0 = cpu_now();
    for (long k = 0; k < n; k++)
        for (int i = 0; i < 12; i++) a[i] = __builtin_ia32_vfmaddps512_mask(a[i], x, y, 0xFFFF, 4);
    double t1 = cpu_now();
    v16f t = a[0];
    for (int i = 1; i < 12; i++) t += a[i]; /* every chain is used, so none is dropped */
    volatile float sink = t[0] + t[15];
    (void)sink;
    return 12.0 * 32.0 * (double)n / (t1 - t0) * 1e-9;
}

static long env_long(const char *name, long def) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* zeroed, 2 MiB aligned; HUGE=1: transparent huge pages asked for (madvise) */
static float *zalloc(int64_t n) {
    size_t bytes = (sizeof(float) * (size_t)(n > 0 ? n : 1) + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    void *p = NULL;
    if (posix_memalign(&p, 2u << 20, bytes) != 0) abort();
    if (env_long("HUGE", 0)) madvise(p, bytes, MADV_HUGEPAGE);
    memset(p, 0, bytes);
    return p;
}

static float *rnd(ttt_rng *r, int64_t n, float mean, float std) {
    float *p = zalloc(n);
    for (int64_t i = 0; i < n; i++) p[i] = mean + std * (float)ttt_rng_normal(r);
    return p;
}

/* FLOPs of one mini-batch of n rows (2 per multiply-add), matrix products only.
 * Linear forward: K·W, Q·W, Q·Kᵀ, (E⊙A)·G, Kᵀ·G  = 6nf² + 4n²f.
 * MLP forward: K·W1, X2·W2, G2·W2ᵀ, Q·W1, X̄2·W2, two commits = 14nfF; Q·Kᵀ, M2·G2 = 4n²f;
 * X̄2·X2ᵀ, M1·G1 = 4n²F. Backward (its own products, without the recomputation): Linear
 * 12nf² + 10n²f, MLP 30nfF + 10n²f + 10n²F (counted from the reference backward). */
static double flops_fwd(int mlp, double n, double f, double F) {
    return mlp ? 14 * n * f * F + 4 * n * n * f + 4 * n * n * F : 6 * n * f * f + 4 * n * n * f;
}
static double flops_bwd(int mlp, double n, double f, double F) {
    return mlp ? 30 * n * f * F + 10 * n * n * f + 10 * n * n * F : 12 * n * f * f + 10 * n * n * f;
}

int main(int argc, char **argv) {
    int mlp = argc > 1 && strcmp(argv[1], "mlp") == 0;
    int64_t L = argc > 2 ? atol(argv[2]) : 2048;
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    int64_t f = env_long("F", 64), nh = env_long("NH", 12), B = env_long("B", 1), mb = 16;
    int64_t ndec = env_long("DECODE", 256);
    int with_ref = (int)env_long("REF", 1);
    int nthreads = (int)env_long("THREADS", 0);
    if (nthreads > 0) omp_set_num_threads(nthreads);
    nthreads = omp_get_max_threads();
    if (L < 1 || reps < 1 || f < 2 || nh < 1 || B < 1) {
        fprintf(stderr, "usage: ttt_scan_bench [linear|mlp [L [REPS]]]\n");
        return 2;
    }
    __builtin_cpu_init();
    double peak = __builtin_cpu_supports("avx512f") ? fma_peak_avx512(20000000) : 0;
    int64_t D = nh * f, F = mlp ? 4 * f : f, N = B * L;
    ttt_inner_dims id = {f, F, mb, mlp};
    int64_t S = ttt_state_size(&id), nmb = (L + mb - 1) / mb, group = 4;
    int64_t ngroups = (nmb + group - 1) / group;
    ttt_rng r;
    ttt_rng_seed(&r, 1234);
    float *Q = rnd(&r, N * D, 0, 1), *K = rnd(&r, N * D, 0, 1), *V = rnd(&r, N * D, 0, 1);
    float *lr = rnd(&r, N * nh, 0, 0.1f), tau[16];
    for (int64_t i = 0; i < N * nh; i++) lr[i] = (mlp ? 0.1f : 1.0f) * (0.3f + 0.4f * (lr[i] > 0)) / (float)f;
    for (int i = 0; i < 16; i++) tau[i] = 1.0f / (float)(i + 1);
    float *lnw = rnd(&r, nh * f, 1, 0.1f), *lnb = rnd(&r, nh * f, 0, 0.1f);
    float *W1 = rnd(&r, nh * f * F, 0, 0.02f), *b1 = rnd(&r, nh * F, 0, 0.0f);
    float *W2 = rnd(&r, nh * F * f, 0, 0.02f), *b2 = rnd(&r, nh * f, 0, 0.0f);
    float *Z = zalloc(N * D), *dZ = rnd(&r, N * D, 0, 1);
    float *dQ = zalloc(N * D), *dK = zalloc(N * D);
    float *dV = zalloc(N * D), *dlr = zalloc(N * nh);
    float *dtau = zalloc(B * nh * mb), *dln = zalloc(B * nh * 2 * f);
    float *dW0 = zalloc(B * nh * S);
    float *ckpt = zalloc(B * nh * ngroups * S);
    int64_t se = ttt_scan_scratch_elems_f32(&id, group);
    float *scratch = zalloc(se * nthreads);
    float *state = zalloc(B * nh * S), *sums = zalloc(B * nh * S);
    /* one decode step's rows, [B, 1, D] */
    float *qd = zalloc(B * D), *kd = zalloc(B * D), *vd = zalloc(B * D), *lrd = zalloc(B * nh), *zd = zalloc(B * D);

    ttt_scan_args_f32 a;
    memset(&a, 0, sizeof a);
    a.id = id, a.B = B, a.L = L, a.nh = nh, a.D = D, a.Q = Q, a.K = K, a.V = V, a.lr = lr, a.tau = tau;
    a.ln_w = lnw, a.ln_b = lnb, a.W1 = W1, a.b1 = b1, a.W2 = W2, a.b2 = b2, a.Z = Z;
    a.scratch = scratch, a.scratch_elems = se, a.nthreads = nthreads;

    double fl_f = 0, fl_b = 0;
    for (int64_t t = 0; t < L; t += mb) {
        double n = (double)(L - t < mb ? L - t : mb);
        fl_f += flops_fwd(mlp, n, (double)f, (double)F);
        fl_b += flops_bwd(mlp, n, (double)f, (double)F);
    }
    fl_f *= (double)(B * nh), fl_b *= (double)(B * nh);
    /* decode: per token ≈ the primal step's products (2 passes over the state for Linear) */
    double fl_d = (double)(B * nh) * (mlp ? 14.0 * f * F : 8.0 * f * f);

    int nk = with_ref ? 2 : 1;
    double *t_inf[2], *t_fwd[2], *t_bwd[2], *t_dec[2], cpu_sum[2][4] = {{0}}, wall_sum[2][4] = {{0}};
    for (int k = 0; k < 2; k++) {
        t_inf[k] = calloc((size_t)reps, sizeof(double)), t_fwd[k] = calloc((size_t)reps, sizeof(double));
        t_bwd[k] = calloc((size_t)reps, sizeof(double)), t_dec[k] = calloc((size_t)reps, sizeof(double));
    }
    for (int rep = -1; rep < reps; rep++) { /* rep −1: warm-up */
        for (int k = 0; k < nk; k++) {
            ttt_reference_kernels = k;
            /* inference forward */
            a.group = 0, a.ckpt = NULL, a.mbc = NULL, a.state = NULL, a.sums = NULL, a.pos0 = 0, a.L = L;
            double c0 = cpu_now(), t0 = now();
            ttt_scan_forward_f32(&a);
            double c1 = cpu_now(), t1 = now();
            /* training forward with checkpoints, then backward */
            a.group = group, a.ckpt = ckpt;
            ttt_scan_forward_f32(&a);
            double c2 = cpu_now(), t2 = now();
            ttt_scan_backward_f32(&a, dZ, dQ, dK, dV, dlr, dtau, dln, dW0);
            double c3 = cpu_now(), t3 = now();
            /* decode: one token per call from W0, positions 0..ndec−1 */
            a.group = 0, a.ckpt = NULL, a.L = 1, a.state = state, a.sums = sums;
            for (int64_t task = 0; task < B * nh; task++) {
                int64_t h = task % nh;
                memcpy(state + task * S, W1 + h * f * F, sizeof(float) * (size_t)(f * F));
                memcpy(state + task * S + f * F, b1 + h * F, sizeof(float) * (size_t)F);
                if (mlp) {
                    memcpy(state + task * S + f * F + F, W2 + h * F * f, sizeof(float) * (size_t)(F * f));
                    memcpy(state + task * S + f * F + F + F * f, b2 + h * f, sizeof(float) * (size_t)f);
                }
            }
            memset(sums, 0, sizeof(float) * (size_t)(B * nh * S));
            a.Q = qd, a.K = kd, a.V = vd, a.lr = lrd, a.Z = zd;
            double c4 = 0, t4 = 0, c5 = 0, t5 = 0;
            for (int64_t p = 0; p < ndec && p < L; p++) {
                for (int64_t bi = 0; bi < B; bi++) { /* token p of every sequence */
                    int64_t row = bi * L + p;
                    memcpy(qd + bi * D, Q + row * D, sizeof(float) * (size_t)D);
                    memcpy(kd + bi * D, K + row * D, sizeof(float) * (size_t)D);
                    memcpy(vd + bi * D, V + row * D, sizeof(float) * (size_t)D);
                    memcpy(lrd + bi * nh, lr + row * nh, sizeof(float) * (size_t)nh);
                }
                a.pos0 = p;
                double cs = cpu_now(), ts = now();
                ttt_scan_forward_f32(&a);
                c5 += cpu_now() - cs, t5 += now() - ts;
            }
            a.Q = Q, a.K = K, a.V = V, a.lr = lr, a.Z = Z, a.L = L, a.pos0 = 0, a.state = NULL, a.sums = NULL;
            if (rep >= 0) {
                t_inf[k][rep] = t1 - t0, t_fwd[k][rep] = t2 - t1, t_bwd[k][rep] = t3 - t2;
                t_dec[k][rep] = (t5 - t4) / (double)(ndec < L ? ndec : L);
                double cs[4] = {c1 - c0, c2 - c1, c3 - c2, c5 - c4}, ws[4] = {t1 - t0, t2 - t1, t3 - t2, t5 - t4};
                for (int p = 0; p < 4; p++) cpu_sum[k][p] += cs[p], wall_sum[k][p] += ws[p];
            }
        }
    }
    printf("TTT-%s scan, B=%lld L=%lld heads=%lld f=%lld b=%lld, %d threads, %d reps (medians)\n",
           mlp ? "MLP" : "Linear", (long long)B, (long long)L, (long long)nh, (long long)f, (long long)mb,
           nthreads, reps);
    double peak2 = __builtin_cpu_supports("avx512f") ? fma_peak_avx512(20000000) : 0;
    printf("FMA peak of one thread, GFLOP/s of CPU time: %.1f before, %.1f after the runs\n", peak, peak2);
    peak = 0.5 * (peak + peak2);
    printf("%-22s %12s %10s %12s %10s %9s %10s %9s\n", "phase", "fast ms", "GFLOP/s", "ref ms", "GFLOP/s", "speed-up",
           "cpu/wall", "of peak");
    const char *names[4] = {"forward (inference)", "forward (training)", "backward", "decode step (us/token)"};
    double *tt[4][2] = {{t_inf[0], t_inf[1]}, {t_fwd[0], t_fwd[1]}, {t_bwd[0], t_bwd[1]}, {t_dec[0], t_dec[1]}};
    double fl[4] = {fl_f, fl_f, fl_b + fl_f, fl_d};
    for (int p = 0; p < 4; p++) {
        double m0 = median(tt[p][0], reps), m1 = with_ref ? median(tt[p][1], reps) : 0;
        double sc = p == 3 ? 1e6 : 1e3;
        printf("%-22s %12.3f %10.1f", names[p], m0 * sc, fl[p] / m0 * 1e-9);
        if (with_ref)
            printf(" %12.3f %10.1f %8.1fx", m1 * sc, fl[p] / m1 * 1e-9, m1 / m0);
        else
            printf(" %12s %10s %9s", "", "", "");
        /* the fast runs' FLOPs per CPU second against one thread's peak (CPU time too) */
        double cw = cpu_sum[0][p] / wall_sum[0][p];
        printf(" %10.2f %8.0f%%\n", cw, peak > 0 ? 100.0 * fl[p] / m0 / cw * 1e-9 / peak : 0.0);
    }
    printf("(backward GFLOP/s counts its products plus the group recomputation's forward; cpu/wall:\n"
           " process CPU time over wall time of the fast runs, %d at most: below that, the machine\n"
           " was busy with something else; of peak: the fast runs' FLOPs per CPU second over one\n"
           " thread's FMA peak in CPU time, which on a shared machine is the fair measure)\n", nthreads);
    return 0;
}
