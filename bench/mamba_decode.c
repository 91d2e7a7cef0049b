/* mamba_decode.c: decode latency per token after a prompt of a given length, through the
 * public API only (ttt_prefill, then single-token ttt_decode_step calls). Written for the
 * Mamba baseline (constant-size cache: the time per token should not depend on the context),
 * it works for any model directory. Not part of the test suite.
 *
 *   make && cc -O2 -Iinclude bench/mamba_decode.c build/libttt.a -fopenmp \
 *        -lcjson -lpcre2-8 -lopenblas -lm -o build/mamba_decode
 *   build/mamba_decode MODEL_DIR [CONTEXT ...]        (default contexts: 1024 16384)
 *
 * Environment: STEPS (decode steps measured, default 20), CHUNK (prefill chunk, default 1024),
 * THREADS (default: OpenMP's). Prints one row per context: prefill tokens/s, decode ms per
 * token (mean ± std over the steps, after one warm-up step), the cache size, and the ratio of
 * each context's decode time to the first one's. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ttt.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long env_long(const char *name, long def) {
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 10) : def;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL_DIR [CONTEXT ...]\n", argv[0]);
        return 2;
    }
    long steps = env_long("STEPS", 20), chunk = env_long("CHUNK", 1024), threads = env_long("THREADS", 0);
    if (steps < 1 || chunk < 1) {
        fprintf(stderr, "STEPS and CHUNK must be >= 1\n");
        return 2;
    }
    ttt_options opt;
    ttt_options_default(&opt);
    opt.threads = (int)threads;
    ttt_model *m;
    if (ttt_model_load(argv[1], &opt, &m) != TTT_OK) {
        fprintf(stderr, "%s\n", ttt_last_error());
        return 1;
    }
    const ttt_config *cfg = ttt_model_config(m);
    int64_t rows = ttt_config_vocab_rows(cfg);
    long ctx_default[] = {1024, 16384};
    int nctx = argc > 2 ? argc - 2 : 2;
    float *logits = malloc(sizeof(float) * (size_t)rows);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)chunk);
    double *dt = malloc(sizeof(double) * (size_t)steps), first = 0;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    printf("model %s (%lld layers, width %lld), threads %d, %ld decode steps\n", argv[1],
           (long long)cfg->num_hidden_layers, (long long)cfg->hidden_size, opt.threads, steps);
    printf("%10s %14s %22s %12s %8s\n", "context", "prefill tok/s", "decode ms/token", "cache KiB", "ratio");
    for (int k = 0; k < nctx; k++) {
        long ctx = argc > 2 ? strtol(argv[2 + k], NULL, 10) : ctx_default[k];
        ttt_cache *c;
        if (ctx < 1 || ttt_cache_create(m, 1, &c) != TTT_OK) {
            fprintf(stderr, "context %ld: %s\n", ctx, ttt_last_error());
            return 1;
        }
        double t0 = now();
        for (long done = 0; done < ctx; done += chunk) {
            long n = ctx - done < chunk ? ctx - done : chunk;
            for (long i = 0; i < n; i++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                ids[i] = (int32_t)((rng >> 33) % (uint64_t)cfg->vocab_size);
            }
            if (ttt_prefill(m, c, ids, n, NULL) != TTT_OK) {
                fprintf(stderr, "prefill: %s\n", ttt_last_error());
                return 1;
            }
        }
        double tp = now() - t0;
        for (long s = -1; s < steps; s++) { /* s = -1: warm-up */
            int32_t id = (int32_t)(s < 0 ? 1 : (s * 7919) % cfg->vocab_size);
            double ts = now();
            if (ttt_decode_step(m, c, &id, logits) != TTT_OK) {
                fprintf(stderr, "decode: %s\n", ttt_last_error());
                return 1;
            }
            if (s >= 0) dt[s] = now() - ts;
        }
        double mean = 0, var = 0;
        for (long s = 0; s < steps; s++) mean += dt[s];
        mean /= (double)steps;
        for (long s = 0; s < steps; s++) var += (dt[s] - mean) * (dt[s] - mean);
        double sd = steps > 1 ? sqrt(var / (double)(steps - 1)) : 0;
        if (k == 0) first = mean;
        printf("%10ld %14.1f %13.3f ± %6.3f %12.1f %8.2f\n", ctx, (double)ctx / tp, 1e3 * mean, 1e3 * sd,
               ttt_cache_bytes(c) / 1024.0, mean / first);
        ttt_cache_free(c);
    }
    free(logits), free(ids), free(dt);
    ttt_model_free(m);
    return 0;
}
