/* cmd_bench.c: `ttt bench`: the paper's latency comparison on this CPU. For TTT-Linear,
 * TTT-MLP, the Transformer and Mamba at the paper's 125M-class shapes (random weights) it
 * measures (a) prefill time per token at contexts 512 .. 32k, (b) decode time per token after
 * a prompt of those lengths, (c) a training step (forward + backward) per token at 2k, at
 * batch 1 and a larger batch; and in the same run the machine's ceilings (an FMA loop, a large
 * GEMM through the library's own matmul, a stream triad, a bf16 dot loop; FMA and triad
 * measured again before each model, the highest so far used), printing every result as a
 * fraction of them (src/cli/bench_ceilings.c); bf16-weight prefill and decode and a bf16
 * mixed-precision training step, with their speed-up over float32. With --model DIR the same
 * rows are measured on the model of a directory (its own weights and shapes) instead of the
 * presets. Warm-up, repetitions,
 * median and spread; thread count, build and git commit are recorded; output: a table on stdout, CSV and JSON, PNG charts (scripts/plot_bench.py). */
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
#include "cli/bench_ceilings.h"
#include "cli/commands.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/rng.h"
#include "io/fsutil.h"
#include "model/family.h"
#include "ttt.h"

#ifndef TTT_BUILD_FLAGS
#define TTT_BUILD_FLAGS "unknown"
#endif

/* ------------------------------------------------------------------------------------------ */
/* model cost (per token, forward): FLOPs and weight bytes                                    */

/* forward FLOPs per token when each query attends to `keys` earlier tokens (the attention
 * term; T/2 on average over a prefill of T tokens): the family's blocks, plus the head */
static double flops_per_token(const ttt_config *c, double keys) {
    double D = (double)c->hidden_size, V = (double)ttt_config_vocab_rows(c);
    return ttt_family_of(c)->block_flops(c, keys) + 2 * D * V;
}

/* the same for a prefill of T tokens (ttt_prefill_last): the head makes the logits of the last
 * position only, 2·D·V once per sequence, so 2·D·V / T per token */
static double prefill_flops_per_token(const ttt_config *c, int64_t T) {
    double D = (double)c->hidden_size, V = (double)ttt_config_vocab_rows(c);
    return ttt_family_of(c)->block_flops(c, (double)T / 2) + 2 * D * V / (double)T;
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

/* one row; speedup > 0: the row's bf16 speed-up over the same measure in float32 */
static void emit(outputs *o, const char *model, const char *what, int64_t B, int64_t T, stat3 s, double frac,
                 const char *frac_of, double tps, double speedup) {
    char sp[32] = "";
    if (speedup > 0) snprintf(sp, sizeof sp, "  %.2fx fp32", speedup);
    printf("%-12s %-12s %3lld %7lld   %9.3f ms/token  [%.3f .. %.3f]  %8.1f tokens/s  %5.1f%% of %s%s\n", model, what,
           (long long)B, (long long)T, 1e3 * s.med, 1e3 * s.lo, 1e3 * s.hi, tps, 100 * frac, frac_of, sp);
    fflush(stdout);
    if (speedup > 0) snprintf(sp, sizeof sp, "%.4f", speedup);
    if (o->csv)
        fprintf(o->csv, "%s,%s,%lld,%lld,%.6e,%.6e,%.6e,%.2f,%.4f,%s,%s\n", model, what, (long long)B, (long long)T,
                s.med, s.lo, s.hi, tps, frac, frac_of, sp), fflush(o->csv);
    if (o->json) {
        fprintf(o->json, "%s\n  {\"model\": \"%s\", \"measure\": \"%s\", \"batch\": %lld, \"context\": %lld, "
                "\"s_per_token_median\": %.6e, \"s_per_token_min\": %.6e, \"s_per_token_max\": %.6e, "
                "\"tokens_per_s\": %.2f, \"fraction\": %.4f, \"fraction_of\": \"%s\", \"speedup_vs_fp32\": %s}",
                o->first ? "" : ",", model, what, (long long)B, (long long)T, s.med, s.lo, s.hi, tps, frac, frac_of,
                speedup > 0 ? sp : "null");
        o->first = 0;
        fflush(o->json);
    }
}

static const flag_spec flags[] = {{"models", 1},  {"size", 1},    {"contexts", 1}, {"batch", 1}, {"reps", 1},
                                  {"decode-steps", 1}, {"train-context", 1}, {"out", 1}, {"threads", 1},
                                  {"skip", 1}, {"quick", 0}, {"model", 1}, {NULL, 0}};

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
    printf("       ttt bench --model DIR\n");
    printf("                 [--contexts 512,1024,...,32768] [--batch N] [--reps N] [--decode-steps N]\n"
           "                 [--train-context 2048] [--skip prefill,decode,train,bf16] [--out DIR] [--quick]\n\n"
           "Measures the machine's ceilings (fp32 FMA loop, a large GEMM, stream triad, bf16 dot loop)\n"
           "and, for each model at the paper's shapes with random weights: prefill time per token at each\n"
           "context, decode time per token after a prompt of that length, and a training step per token\n"
           "at --train-context, at batch 1 and at --batch (default 4, prefill and training up to 4k);\n"
           "then, at batch 1, prefill and decode with bfloat16 weights (the --bf16 of forward and generate)\n"
           "at 2k context and a bf16 mixed-precision training step (the --bf16 of train) at --train-context,\n"
           "each with its speed-up over the float32 row of the same shape (--skip bf16 leaves them out).\n"
           "Median of --reps (default 3; contexts >= 8k: 1)\n"
           "after a warm-up, with the spread. The FMA loop and the triad are measured again before each\n"
           "model (this shared machine moves by 30 percent over minutes); the highest so far is the ceiling\n"
           "each row's fraction uses. Output: a table on\n"
           "stdout, DIR/bench.csv, DIR/bench.json and DIR/*.png (scripts/plot_bench.py), DIR defaulting\n"
           "to results/bench. --size 1.3b uses the 1.3B shapes, one repetition, contexts up to 8k.\n"
           "--quick: tiny models and short contexts (a smoke run). A default run takes about 30 minutes\n"
           "on 2 cores.\n"
           "--model DIR: the same rows for the model of directory DIR (loaded as by eval and generate; the\n"
           "model column is the directory's name) instead of the presets; --models and --size do not\n"
           "apply. For a Transformer the default contexts stop at its max_position_embeddings.\n");
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

/* nrep training steps (forward + backward, gradients zeroed first) of B x T tokens after a
 * warm-up one; tt[rep]: seconds per token */
static int measure_train(ttt_model *m, const int32_t *ids, int64_t B, int64_t T, int nrep, double *tt) {
    for (int rep = -1; rep < nrep; rep++) {
        double t0 = now_s();
        if (ttt_zero_grad(m) != TTT_OK || ttt_forward_backward(m, ids, NULL, B, T, 0, 1.0, NULL) != TTT_OK) return -1;
        if (rep >= 0) tt[rep] = (now_s() - t0) / (double)(B * T);
    }
    return 0;
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
    int do_bf16 = !strstr(skip, "bf16") && (do_prefill || do_decode || do_train);
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
    /* --model DIR: one loaded model instead of the presets, checked before anything is measured */
    const char *mdir = args_str(&a, "model", NULL);
    ttt_model *given = NULL;
    char label[48] = "";
    if (mdir) {
        if (args_has(&a, "models") || args_has(&a, "size")) {
            fprintf(stderr, "ttt bench: --model DIR measures that model; --models and --size choose presets and "
                            "cannot be combined with it\n");
            return 2;
        }
        if (ttt_model_load(mdir, &mo, &given) != TTT_OK) return cli_fail("bench");
        /* the directory's last name, as a plain CSV and JSON field */
        size_t l = strlen(mdir);
        while (l > 1 && mdir[l - 1] == '/') l--;
        size_t b = l;
        while (b > 0 && mdir[b - 1] != '/') b--;
        size_t k = 0;
        for (; b < l && k + 1 < sizeof label; b++)
            label[k++] = (mdir[b] == '"' || mdir[b] == '\\' || mdir[b] == ',' || (unsigned char)mdir[b] < 0x20) ? '_'
                                                                                                              : mdir[b];
        label[k] = 0;
        if (!k) snprintf(label, sizeof label, "model");
        const ttt_config *gc = ttt_model_config(given);
        int64_t M = gc->max_position_embeddings;
        if (gc->arch == TTT_ARCH_LLAMA && M > 0) { /* positions past the table are refused */
            if (!args_has(&a, "contexts")) {
                int64_t keep = 0;
                for (int64_t i = 0; i < nctx; i++)
                    if (ctx[i] + dsteps + 1 <= M) ctx[keep++] = ctx[i];
                if (!keep) ctx[keep++] = M - dsteps - 1 > 0 ? M - dsteps - 1 : 1;
                nctx = keep;
            }
            if (!args_has(&a, "train-context") && tctx > M) tctx = M;
        }
    }
    if (strchr(outdir, '\'')) { /* the chart step quotes it for the shell */
        fprintf(stderr, "ttt bench: --out must not contain a single quote, got '%s'\n", outdir);
        ttt_model_free(given);
        return 2;
    }
    if (ttt_mkdir_p(outdir) != TTT_OK) {
        ttt_model_free(given);
        return cli_fail("bench");
    }
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
    if (os != TTT_OK) {
        ttt_model_free(given);
        return cli_fail("bench");
    }
    p = ttt_path_join(outdir, "bench.json");
    os = p ? ttt_atomic_open(&ajson, p) : TTT_ERR_NOMEM;
    free(p);
    if (os != TTT_OK) {
        ttt_atomic_abort(&acsv);
        ttt_model_free(given);
        return cli_fail("bench");
    }
    o.csv = acsv.fp;
    o.json = ajson.fp;
    fprintf(o.csv, "model,measure,batch,context,s_per_token_median,s_per_token_min,s_per_token_max,tokens_per_s,"
                   "fraction,fraction_of,speedup_vs_fp32\n");

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
    for (int k = 0; k < (given ? 1 : NKINDS) && rc == 0; k++) {
        if (!given && !want[k]) continue;
        ttt_config cfg;
        if (given) cfg = *ttt_model_config(given);
        else ttt_config_preset(kinds[k]->preset[quick ? 2 : big ? 1 : 0], &cfg);
        { /* a Transformer refuses positions past max_position_embeddings: room for the longest */
            int64_t need = (ctx[nctx - 1] > tctx ? ctx[nctx - 1] : tctx) + dsteps + 1;
            if (cfg.max_position_embeddings < need) cfg.max_position_embeddings = need;
        }
        ttt_model *m = given;
        if (!given && ttt_model_create(&cfg, 1, &mo, &m) != TTT_OK) {
            rc = cli_fail("bench");
            break;
        }
        const char *name = given ? label : kinds[k]->key;
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
        /* the bf16 rows: prefill and decode at 2k context (or the longest below it), batch 1;
         * their speed-up is over the float32 rows of the same shape (0: not measured) */
        const int64_t T16 = ctx[nctx - 1] < 2048 ? ctx[nctx - 1] : 2048;
        struct {
            double prefill, decode, train;
        } t32 = {0, 0, 0};
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
                    if (B == 1 && T == T16) t32.prefill = s.med;
                    double gf = prefill_flops_per_token(&cfg, T) / s.med / 1e9;
                    emit(&o, name, "prefill", B, T, s, gf / o.fma, "FMA peak", 1.0 / s.med, 0);
                }
                if (do_decode) {
                    stat3 s = stats(td, nrep);
                    if (B == 1 && T == T16) t32.decode = s.med;
                    double gbs = wbytes / s.med / 1e9; /* the weights are read once per step */
                    emit(&o, name, "decode", B, T, s, gbs / o.bw, "bandwidth", (double)B / s.med, 0);
                }
            }
            if (do_train && rc == 0) {
                double tt[100];
                if (measure_train(m, ids, B, tctx, (int)reps, tt)) {
                    rc = cli_fail("bench");
                    break;
                }
                stat3 s = stats(tt, (int)reps);
                if (B == 1) t32.train = s.med;
                double gf = 3 * flops_per_token(&cfg, (double)tctx / 2) / s.med / 1e9; /* backward ≈ 2× forward */
                emit(&o, name, "train", B, tctx, s, gf / o.fma, "FMA peak", 1.0 / s.med, 0);
            }
        }
        if (do_bf16 && rc == 0) { /* bf16 weights (inference), and bf16 training: batch 1 */
            ttt_options bo = mo;
            bo.bf16_weights = 1;
            double tp[100], td[100];
            int inf = do_prefill || do_decode;
            if (ttt_model_set_options(m, &bo) != TTT_OK ||
                (inf && measure_prefill_decode(m, &cfg, ids, 1, T16, (int)reps, do_decode ? dsteps : 0, tp, td))) {
                rc = cli_fail("bench");
            } else {
                double peak = o.bf16 > 0 ? o.bf16 : o.fma;
                const char *peak_of = o.bf16 > 0 ? "bf16 peak" : "FMA peak";
                if (do_prefill) {
                    stat3 s = stats(tp, (int)reps);
                    double gf = prefill_flops_per_token(&cfg, T16) / s.med / 1e9;
                    emit(&o, name, "prefill-bf16", 1, T16, s, gf / peak, peak_of, 1.0 / s.med, t32.prefill / s.med);
                }
                if (do_decode) {
                    stat3 s = stats(td, (int)reps);
                    double gbs = wbytes / 2 / s.med / 1e9; /* bf16 copies: half the bytes */
                    emit(&o, name, "decode-bf16", 1, T16, s, gbs / o.bw, "bandwidth", 1.0 / s.med, t32.decode / s.med);
                }
            }
            if (rc == 0 && do_train) { /* bf16 mixed-precision training step */
                bo.bf16_weights = 0, bo.bf16_train = 1;
                double tt[100];
                if (ttt_model_set_options(m, &bo) != TTT_OK || measure_train(m, ids, 1, tctx, (int)reps, tt)) {
                    rc = cli_fail("bench");
                } else {
                    stat3 s = stats(tt, (int)reps);
                    double gf = 3 * flops_per_token(&cfg, (double)tctx / 2) / s.med / 1e9;
                    emit(&o, name, "train-bf16", 1, tctx, s, gf / (o.bf16 > 0 ? o.bf16 : o.fma),
                         o.bf16 > 0 ? "bf16 peak" : "FMA peak", 1.0 / s.med, t32.train / s.med);
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
