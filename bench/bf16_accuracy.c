/* bf16_accuracy.c: the bf16 weight option (ttt_options.bf16_weights) against float32 on a
 * model and a token file, through the public API: per window of L tokens, the logits of both
 * (max and mean |Δlogit|, max |logit|), the mean next-token loss of each and so the perplexity
 * difference; then the speed of both: prefill (ttt_forward) tokens/s and decode ms per token
 * after a prompt, the two alternated (A B A B ...) and the medians reported. Not part of the
 * test suite; results in docs/gemm.md.
 *
 *   build/bench/bf16_accuracy MODEL_DIR FILE.tok [CONTEXT (512)] [WINDOWS (16)]
 * Environment: THREADS (default: OpenMP's), SPEED_L (prefill length for the speed part,
 * default 2048), STEPS (decode steps, default 32), SPEED=0 skips the speed part. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ttt.h"
#include "ttt_tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long env_long(const char *name, long def) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static ttt_model *load(const char *dir, int bf16, int threads) {
    ttt_options o;
    ttt_options_default(&o);
    o.threads = threads;
    o.bf16_weights = bf16;
    ttt_model *m = NULL;
    if (ttt_model_load(dir, &o, &m) != TTT_OK) {
        fprintf(stderr, "%s: %s\n", dir, ttt_last_error());
        exit(1);
    }
    return m;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR FILE.tok [CONTEXT] [WINDOWS]\n", argv[0]);
        return 2;
    }
    int64_t L = argc > 3 ? atol(argv[3]) : 512, W = argc > 4 ? atol(argv[4]) : 16;
    int threads = (int)env_long("THREADS", 0);
    ttt_tokfile tf;
    if (ttt_tokfile_read(argv[2], &tf) != TTT_OK) {
        fprintf(stderr, "%s\n", ttt_last_error());
        return 1;
    }
    ttt_model *m32 = load(argv[1], 0, threads), *m16 = load(argv[1], 1, threads);
    int64_t V = ttt_config_vocab_rows(ttt_model_config(m32));
    if (tf.vocab_size > ttt_model_config(m32)->vocab_size) {
        fprintf(stderr, "%s has vocabulary %lld, the model %lld\n", argv[2], (long long)tf.vocab_size,
                (long long)ttt_model_config(m32)->vocab_size);
        return 1;
    }
    if (W * L > tf.n_tokens) W = tf.n_tokens / L;
    float *a = malloc(sizeof(float) * (size_t)(L * V)), *b = malloc(sizeof(float) * (size_t)(L * V));
    double maxd = 0, sumd = 0, maxl = 0, l32 = 0, l16 = 0, maxdl = 0;
    for (int64_t w = 0; w < W; w++) {
        const int32_t *ids = tf.ids + w * L;
        double la, lb;
        if (ttt_forward(m32, ids, 1, L, a, &la) != TTT_OK || ttt_forward(m16, ids, 1, L, b, &lb) != TTT_OK) {
            fprintf(stderr, "%s\n", ttt_last_error());
            return 1;
        }
        for (int64_t i = 0; i < L * V; i++) {
            double d = fabs((double)a[i] - (double)b[i]);
            maxd = fmax(maxd, d), sumd += d, maxl = fmax(maxl, fabs((double)a[i]));
        }
        l32 += la, l16 += lb, maxdl = fmax(maxdl, fabs(la - lb));
    }
    l32 /= (double)W, l16 /= (double)W;
    printf("model %s, %s: %lld windows of %lld tokens, threads %d\n", argv[1], argv[2], (long long)W, (long long)L,
           threads);
    printf("  logits: max |Δ| %.4g, mean |Δ| %.4g (max |logit| %.3g)\n", maxd, sumd / (double)(W * L * V), maxl);
    printf("  loss: float32 %.6f, bf16 %.6f (Δ %+.2e; worst window %.2e); perplexity %.4f vs %.4f (Δ %+.3f%%)\n",
           l32, l16, l16 - l32, maxdl, exp(l32), exp(l16), 100 * (exp(l16) / exp(l32) - 1));
    fflush(stdout);
    if (!env_long("SPEED", 1)) return 0;
    /* speed: prefill (forward) of SPEED_L tokens and decode steps, float32 and bf16 alternated */
    int64_t SL = env_long("SPEED_L", 2048), steps = env_long("STEPS", 32), reps = 3;
    if (SL > tf.n_tokens - 1) SL = tf.n_tokens - 1;
    float *lg = realloc(a, sizeof(float) * (size_t)(SL * V));
    if (!lg) return 1;
    double tp[2][8], td[2][8];
    for (int r = -1; r < reps; r++) /* r = -1: warm-up (buffers, first touch, the bf16 copy) */
        for (int k = 0; k < 2; k++) {
            ttt_model *m = k ? m16 : m32;
            double t0 = now();
            if (ttt_forward(m, tf.ids, 1, SL, NULL, NULL) != TTT_OK) return 1;
            double t1 = now();
            ttt_cache *c;
            if (ttt_cache_create(m, 1, &c) != TTT_OK || ttt_prefill(m, c, tf.ids, 64, NULL) != TTT_OK) return 1;
            double t2 = now();
            for (int64_t s = 0; s < steps; s++)
                if (ttt_decode_step(m, c, tf.ids + 64 + s, lg) != TTT_OK) return 1;
            double t3 = now();
            ttt_cache_free(c);
            if (r >= 0) tp[k][r] = t1 - t0, td[k][r] = (t3 - t2) / (double)steps;
        }
    for (int k = 0; k < 2; k++) {
        qsort(tp[k], (size_t)reps, sizeof(double), cmp_d);
        qsort(td[k], (size_t)reps, sizeof(double), cmp_d);
        printf("  %s: prefill %lld tokens %.1f tokens/s; decode %.2f ms/token (%.1f tokens/s)\n",
               k ? "bf16   " : "float32", (long long)SL, (double)SL / tp[k][reps / 2], 1e3 * td[k][reps / 2],
               1.0 / td[k][reps / 2]);
    }
    free(lg), free(b);
    ttt_model_free(m32), ttt_model_free(m16);
    ttt_tokfile_free(&tf);
    return 0;
}
