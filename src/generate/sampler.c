/* sampler.c: next-token sampling: greedy, or softmax(logits / T) restricted to the top-k and
 * then to the smallest top-p set (ordered by probability, ties by id), drawn with a seeded
 * splitmix64/xoshiro stream. The candidates are ordered by a stable radix sort of the logits
 * (O(V), no comparator context), the same order as sorting by (logit descending, id
 * ascending). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "ttt_generate.h"

struct ttt_sampler {
    ttt_rng rng;
    int64_t V;
    int32_t *idx, *idx2; /* the candidate order, and the radix sort's other buffer */
    uint32_t *key, *key2;
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
    s->idx2 = malloc(sizeof(int32_t) * (size_t)V);
    s->key = malloc(sizeof(uint32_t) * (size_t)V);
    s->key2 = malloc(sizeof(uint32_t) * (size_t)V);
    s->p = malloc(sizeof(double) * (size_t)V);
    if (!s->idx || !s->idx2 || !s->key || !s->key2 || !s->p) {
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
    free(s->idx2);
    free(s->key);
    free(s->key2);
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

/* Order idx[0..V) by (logit descending, id ascending): the key of a finite float x is its bit
 * pattern made to compare as an unsigned integer in the order of -x (both zeros the same key, as
 * they compare equal), sorted by a stable LSD radix sort of 4 passes of 8 bits starting from the
 * ids in ascending order, so equal logits keep ascending ids. The callers reject non-finite
 * logits. */
static void order_candidates(ttt_sampler *smp, const float *logits, int64_t V) {
    uint32_t *k = smp->key, *k2 = smp->key2;
    int32_t *ix = smp->idx, *ix2 = smp->idx2;
    for (int64_t v = 0; v < V; v++) {
        float x = logits[v] == 0 ? 0.0f : logits[v];
        uint32_t b;
        memcpy(&b, &x, sizeof b);
        uint32_t asc = (b & 0x80000000u) ? ~b : b | 0x80000000u; /* ascending in x */
        k[v] = ~asc;                                            /* ascending in -x */
        ix[v] = (int32_t)v;
    }
    for (int shift = 0; shift < 32; shift += 8) {
        int64_t cnt[257] = {0};
        for (int64_t v = 0; v < V; v++) cnt[((k[v] >> shift) & 255u) + 1]++;
        if (cnt[((k[0] >> shift) & 255u) + 1] == V) continue; /* every key has this byte: nothing moves */
        for (int d = 0; d < 256; d++) cnt[d + 1] += cnt[d];
        for (int64_t v = 0; v < V; v++) {
            int64_t at = cnt[(k[v] >> shift) & 255u]++;
            k2[at] = k[v];
            ix2[at] = ix[v];
        }
        uint32_t *tk = k;
        k = k2, k2 = tk;
        int32_t *ti = ix;
        ix = ix2, ix2 = ti;
    }
    if (ix != smp->idx) memcpy(smp->idx, ix, sizeof(int32_t) * (size_t)V);
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
    order_candidates(smp, logits, V);
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
