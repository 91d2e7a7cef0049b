/* sampler.c: next-token sampling: greedy, or softmax(logits / T) restricted to the top-k and
 * then to the smallest top-p set (ordered by probability, ties by id), drawn with a seeded
 * splitmix64/xoshiro stream. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "ttt_generate.h"

struct ttt_sampler {
    ttt_rng rng;
    int64_t V;
    int32_t *idx;
    double *p;
};

ttt_status ttt_sampling_check(const ttt_sampling *s) {
    if (!(s->temperature >= 0) || !isfinite(s->temperature))
        return ttt_err(TTT_ERR_ARG, "temperature must be a finite number >= 0 (0 = greedy), got %g", s->temperature);
    if (s->top_k < 0) return ttt_err(TTT_ERR_ARG, "top-k must be >= 0 (0 = off), got %lld", (long long)s->top_k);
    if (!(s->top_p > 0 && s->top_p <= 1)) return ttt_err(TTT_ERR_ARG, "top-p must be in (0, 1], got %g", s->top_p);
    return TTT_OK;
}

ttt_status ttt_sampler_create(int64_t V, uint64_t seed, ttt_sampler **out) {
    ttt_sampler *s = calloc(1, sizeof *s);
    if (!s) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    s->V = V;
    s->idx = malloc(sizeof(int32_t) * (size_t)V);
    s->p = malloc(sizeof(double) * (size_t)V);
    if (!s->idx || !s->p) {
        ttt_sampler_free(s);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    ttt_rng_seed(&s->rng, seed);
    *out = s;
    return TTT_OK;
}

void ttt_sampler_free(ttt_sampler *s) {
    if (!s) return;
    free(s->idx);
    free(s->p);
    free(s);
}

void ttt_sampler_get_rng(const ttt_sampler *s, uint64_t state[4]) { memcpy(state, s->rng.s, sizeof s->rng.s); }

ttt_status ttt_sampler_set_rng(ttt_sampler *s, const uint64_t state[4]) {
    if (!(state[0] | state[1] | state[2] | state[3]))
        return ttt_err(TTT_ERR_ARG, "sampler: an all-zero xoshiro256** state never leaves zero");
    memcpy(s->rng.s, state, sizeof s->rng.s);
    return TTT_OK;
}

static const float *g_logits; /* qsort comparator context (sampling is single-threaded) */
static int by_logit(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (g_logits[x] != g_logits[y]) return g_logits[x] > g_logits[y] ? -1 : 1;
    return (x > y) - (x < y);
}

int32_t ttt_sample(ttt_sampler *smp, const float *logits, int64_t V, const ttt_sampling *s) {
    if (V > smp->V) V = smp->V;
    if (s->temperature == 0) {
        int32_t best = 0;
        for (int64_t v = 1; v < V; v++)
            if (logits[v] > logits[best]) best = (int32_t)v;
        return best;
    }
    /* candidates ordered by logit (then id) */
    int64_t n = V;
    for (int64_t v = 0; v < V; v++) smp->idx[v] = (int32_t)v;
    g_logits = logits;
    qsort(smp->idx, (size_t)V, sizeof(int32_t), by_logit);
    if (s->top_k > 0 && s->top_k < n) n = s->top_k;
    double mx = logits[smp->idx[0]], z = 0;
    for (int64_t i = 0; i < n; i++) {
        smp->p[i] = exp(((double)logits[smp->idx[i]] - mx) / s->temperature);
        z += smp->p[i];
    }
    if (s->top_p < 1) { /* smallest prefix with cumulative probability >= top_p */
        double cum = 0;
        int64_t keep = n;
        for (int64_t i = 0; i < n; i++) {
            cum += smp->p[i] / z;
            if (cum >= s->top_p) {
                keep = i + 1;
                break;
            }
        }
        n = keep;
        z = 0;
        for (int64_t i = 0; i < n; i++) z += smp->p[i];
    }
    double u = ttt_rng_uniform(&smp->rng) * z, acc = 0;
    for (int64_t i = 0; i < n; i++) {
        acc += smp->p[i];
        if (u < acc) return smp->idx[i];
    }
    return smp->idx[n - 1];
}
