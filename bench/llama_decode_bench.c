/* llama_decode_bench.c: `make bench-llama-decode`: decode latency per token after a prompt,
 * through the public API: a freshly initialised model of a preset (default llama-125m), B = 1;
 * for each context length P: ttt_prefill of P random tokens (timed, no logits), then STEPS
 * calls of ttt_decode_step (each timed, logits of the step computed), after one untimed
 * warm-up step. Prints one line per context: prefill tokens/s, median and mean ms per decoded
 * token, the cache size. Not a test.
 *   llama_decode_bench [STEPS [P ...]]   (environment: PRESET=name, default llama-125m) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ttt.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int fail(const char *what) {
    fprintf(stderr, "llama_decode_bench: %s: %s\n", what, ttt_last_error());
    return 1;
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 20;
    const char *preset = getenv("PRESET") ? getenv("PRESET") : "llama-125m";
    long long ctx_default[] = {1024, 16384};
    int nctx = argc > 2 ? argc - 2 : 2;
    if (steps < 1) {
        fprintf(stderr, "usage: llama_decode_bench [STEPS [P ...]]\n");
        return 2;
    }
    ttt_config c;
    if (ttt_config_preset(preset, &c) != TTT_OK) return fail("preset");
    ttt_model *m;
    ttt_options o;
    ttt_options_default(&o);
    if (ttt_model_create(&c, 1, &o, &m) != TTT_OK) return fail("model");
    int64_t V = c.vocab_size;
    float *logits = malloc(sizeof(float) * (size_t)V);
    double *t = malloc(sizeof(double) * (size_t)steps);
    printf("%s, B=1, %d decode steps per context\n", preset, steps);
    printf("%8s %14s %12s %12s %12s\n", "context", "prefill tok/s", "median ms", "mean ms", "cache MiB");
    for (int k = 0; k < nctx; k++) {
        long long P = argc > 2 ? atoll(argv[2 + k]) : ctx_default[k];
        if (P < 1) continue;
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)P);
        for (long long i = 0; i < P; i++) ids[i] = (int32_t)((uint64_t)(i * 2654435761u) % (uint64_t)V);
        ttt_cache *cache;
        if (ttt_cache_create(m, 1, &cache) != TTT_OK) return fail("cache");
        double t0 = now();
        if (ttt_prefill(m, cache, ids, P, NULL) != TTT_OK) return fail("prefill");
        double tp = now() - t0;
        int32_t tok = ids[P - 1];
        if (ttt_decode_step(m, cache, &tok, logits) != TTT_OK) return fail("decode"); /* warm-up */
        double sum = 0;
        for (int s = 0; s < steps; s++) {
            tok = (int32_t)((tok * 31 + 7) % V);
            double ts = now();
            if (ttt_decode_step(m, cache, &tok, logits) != TTT_OK) return fail("decode");
            t[s] = now() - ts;
            sum += t[s];
        }
        qsort(t, (size_t)steps, sizeof *t, cmp);
        printf("%8lld %14.1f %12.2f %12.2f %12.1f\n", P, (double)P / tp, 1e3 * t[steps / 2],
               1e3 * sum / steps, ttt_cache_bytes(cache) / 1048576.0);
        fflush(stdout);
        ttt_cache_free(cache);
        free(ids);
    }
    free(logits);
    free(t);
    ttt_model_free(m);
    return 0;
}
