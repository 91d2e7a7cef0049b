/* decode_multi_bench.c: `make bench-decode-multi`: one decode step of n sequences at once
 * (ttt_decode_multi, the running batch of `ttt serve`) against the same n sequences stepped one
 * after the other (ttt_decode_step on twin caches), through the public API. A freshly
 * initialised model of a preset (default llama-125m); sequence i is prefilled with P + 7 i
 * random tokens, so every sequence is at its own position (TTT: mostly at different places in
 * the mini-batch; set SAME=1 for positions P + 16 i, one place). The two ways alternate step by
 * step, after one untimed warm-up step each; prints the medians over STEPS and their ratio.
 * Not a test.
 *   decode_multi_bench [N [STEPS [P]]]   (environment: PRESET=name, SAME=1) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ttt.h"
#include "ttt_state.h"

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
    fprintf(stderr, "decode_multi_bench: %s: %s\n", what, ttt_last_error());
    return 1;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 8, steps = argc > 2 ? atoi(argv[2]) : 10;
    long long P = argc > 3 ? atoll(argv[3]) : 512;
    const char *preset = getenv("PRESET") ? getenv("PRESET") : "llama-125m";
    int same = getenv("SAME") && atoi(getenv("SAME"));
    if (n < 1 || n > 4096 || steps < 1 || P < 1 || P > 1000000) {
        fprintf(stderr, "usage: decode_multi_bench [N (1..4096) [STEPS (>= 1) [P (1..1000000)]]]\n");
        return 2;
    }
    ttt_config c;
    if (ttt_config_preset(preset, &c) != TTT_OK) return fail("preset");
    ttt_model *m;
    ttt_options o;
    ttt_options_default(&o);
    if (ttt_model_create(&c, 1, &o, &m) != TTT_OK) return fail("model");
    int64_t V = ttt_config_vocab_rows(&c), stride = same ? 16 : 7;
    ttt_cache **a = calloc((size_t)n, sizeof *a), **b = calloc((size_t)n, sizeof *b);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(P + stride * n)), *col = malloc(sizeof(int32_t) * (size_t)n);
    float *la = malloc(sizeof(float) * (size_t)(n * V)), *lb = malloc(sizeof(float) * (size_t)V);
    double *tm = malloc(sizeof(double) * (size_t)steps), *tl = malloc(sizeof(double) * (size_t)steps);
    if (!a || !b || !ids || !col || !la || !lb || !tm || !tl) return fail("out of memory");
    for (int i = 0; i < n; i++) {
        int64_t len = P + stride * i;
        for (int64_t t = 0; t < len; t++) ids[t] = (int32_t)((uint64_t)((t + 31 * i) * 2654435761u) % (uint64_t)c.vocab_size);
        if (ttt_cache_create(m, 1, &a[i]) != TTT_OK || ttt_cache_create(m, 1, &b[i]) != TTT_OK) return fail("cache");
        if (ttt_prefill(m, a[i], ids, len, NULL) != TTT_OK || ttt_prefill(m, b[i], ids, len, NULL) != TTT_OK)
            return fail("prefill");
    }
    int64_t differ = 0;
    for (int s = -1; s < steps; s++) {
        for (int i = 0; i < n; i++) col[i] = (int32_t)((uint64_t)((s + 2) * 40503u + (uint64_t)i * 977u) % (uint64_t)c.vocab_size);
        double t0 = now();
        if (ttt_decode_multi(m, a, n, col, la) != TTT_OK) return fail("decode_multi");
        double t1 = now();
        for (int i = 0; i < n; i++)
            if (ttt_decode_step(m, b[i], col + i, lb) != TTT_OK) return fail("decode_step");
        double t2 = now();
        if (s >= 0) tm[s] = t1 - t0, tl[s] = t2 - t1;
        /* the last sequence's logits, batched against alone */
        for (int64_t v = 0; v < V; v++)
            if (la[(int64_t)(n - 1) * V + v] != lb[v]) differ++;
    }
    qsort(tm, (size_t)steps, sizeof *tm, cmp);
    qsort(tl, (size_t)steps, sizeof *tl, cmp);
    double mm = tm[steps / 2], ml = tl[steps / 2];
    printf("%s, %d sequences at positions %lld + %lld i, median of %d steps: decode_multi %.2f ms, "
           "loop of decode_step %.2f ms, %.2fx\n",
           preset, n, P, (long long)stride, steps, 1e3 * mm, 1e3 * ml, ml / mm);
    printf("  logits of the last sequence batched vs alone: %lld of %lld differ\n", (long long)differ,
           (long long)(V * (steps + 1)));
    for (int i = 0; i < n; i++) ttt_cache_free(a[i]), ttt_cache_free(b[i]);
    free(a), free(b), free(ids), free(col), free(la), free(lb), free(tm), free(tl);
    ttt_model_free(m);
    return 0;
}
