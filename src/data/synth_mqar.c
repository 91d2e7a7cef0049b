/* synth_mqar.c: the MQAR generator (synth.h). Follows Zoology's multiquery_ar: keys from
 * [1, V/2) and values from [V/2, V), each sampled without replacement; the K pairs first;
 * then key i queried at position 2K + 2 g_i with the gaps sampled without replacement from
 * P(g) ∝ (g+1)^(a−1), g < (L−2K)/2; the other positions random tokens of the whole
 * vocabulary. One deliberate difference: in a token file the target of a position is the
 * next token, so the answer v_i stands in the stream right after its query (Zoology's input
 * there is a random token and the answer lives only in its label array); as each key is
 * queried once, seeing an answer after it was predicted tells nothing about the others.
 * Random numbers: xoshiro256** (core/rng.h), one stream per example; the gap weights are
 * integers (2^40 · P(g), at least 1) in a Fenwick tree, so drawing without replacement is
 * exact and the same on every platform. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/synth.h"

ttt_status synth_mqar_check(const synth_mqar_opts *o) {
    if (o->pairs < 1) return ttt_err(TTT_ERR_ARG, "--pairs must be >= 1, got %lld", (long long)o->pairs);
    if (o->seq_len < 1 || o->seq_len % 2 != 0)
        return ttt_err(TTT_ERR_ARG, "--seq-len must be a positive even number (pairs and queries take two tokens "
                       "each), got %lld", (long long)o->seq_len);
    int64_t need;
    if (!ttt_i64_mul_ok(o->pairs, 4, &need) || need > o->seq_len)
        return ttt_err(TTT_ERR_ARG, "--pairs %lld needs --seq-len >= 4 x %lld = %.0f (the %lld key-value pairs take "
                       "2K tokens and their queries need 2K more), got --seq-len %lld", (long long)o->pairs,
                       (long long)o->pairs, 4.0 * (double)o->pairs, (long long)o->pairs, (long long)o->seq_len);
    if (o->vocab < 4 || o->vocab > (int64_t)INT32_MAX + 1)
        return ttt_err(TTT_ERR_ARG, "--vocab must be in [4, 2^31], got %lld", (long long)o->vocab);
    int64_t nkeys = o->vocab / 2 - 1, nvals = o->vocab - o->vocab / 2;
    if (o->pairs > nkeys || o->pairs > nvals)
        return ttt_err(TTT_ERR_ARG, "--vocab %lld has %lld key ids [1, %lld) and %lld value ids [%lld, %lld): too "
                       "few for --pairs %lld distinct keys (give --vocab >= %.0f)", (long long)o->vocab,
                       (long long)nkeys, (long long)(o->vocab / 2), (long long)nvals, (long long)(o->vocab / 2),
                       (long long)o->vocab, (long long)o->pairs, 2.0 * (double)o->pairs + 2);
    if (o->examples < 1) return ttt_err(TTT_ERR_ARG, "--examples must be >= 1, got %lld", (long long)o->examples);
    int64_t tokens;
    if (!ttt_i64_mul_ok(o->examples, o->seq_len + 1, &tokens) || tokens > SYNTH_MQAR_MAX_TOKENS)
        return ttt_err(TTT_ERR_ARG, "--examples %lld of --seq-len %lld + 1 tokens is %.0f tokens; one file holds at "
                       "most %lld", (long long)o->examples, (long long)o->seq_len,
                       (double)o->examples * ((double)o->seq_len + 1), (long long)SYNTH_MQAR_MAX_TOKENS);
    if (!(o->power_a > 0) || !isfinite(o->power_a))
        return ttt_err(TTT_ERR_ARG, "--power-a must be a finite number > 0 (Zoology: 0.01), got %g", o->power_a);
    return TTT_OK;
}

/* uniform integer in [0, n), n >= 1 (the 128-bit product: bias below n / 2^64) */
static uint64_t below(ttt_rng *r, uint64_t n) { return (uint64_t)(((unsigned __int128)ttt_rng_u64(r) * n) >> 64); }

/* k distinct integers of [lo, lo + n) in a uniformly random order (Floyd's sampling into an
 * open-addressing set of `cap` slots, cap a power of two > 2k, then a Fisher-Yates shuffle) */
static void distinct(ttt_rng *r, int64_t lo, int64_t n, int64_t k, int32_t *out, int64_t *set, int64_t cap) {
    for (int64_t i = 0; i < cap; i++) set[i] = -1;
    int64_t m = 0;
    for (int64_t j = n - k; j < n; j++) {
        int64_t t = (int64_t)below(r, (uint64_t)j + 1), pick = t;
        for (int pass = 0; pass < 2; pass++) { /* t taken: take j (never taken before) */
            uint64_t h = (uint64_t)pick * 0x9e3779b97f4a7c15ull & (uint64_t)(cap - 1);
            while (set[h] >= 0 && set[h] != pick) h = (h + 1) & (uint64_t)(cap - 1);
            if (set[h] == pick) {
                pick = j;
                continue;
            }
            set[h] = pick;
            break;
        }
        out[m++] = (int32_t)(lo + pick);
    }
    for (int64_t i = k - 1; i > 0; i--) {
        int64_t j = (int64_t)below(r, (uint64_t)i + 1);
        int32_t x = out[i];
        out[i] = out[j];
        out[j] = x;
    }
}

/* Fenwick tree over n integer weights (1-based f[1..n]) */
static void fen_add(uint64_t *f, int64_t n, int64_t i, int64_t d) {
    for (int64_t x = i + 1; x <= n; x += x & -x) f[x] += (uint64_t)d;
}
/* the index i whose cumulative range holds u (0 <= u < total) */
static int64_t fen_find(const uint64_t *f, int64_t n, uint64_t u) {
    int64_t pos = 0, step = 1;
    while (step * 2 <= n) step *= 2;
    for (; step > 0; step /= 2)
        if (pos + step <= n && f[pos + step] <= u) {
            pos += step;
            u -= f[pos];
        }
    return pos; /* 0-based index pos */
}

ttt_status synth_mqar(const synth_mqar_opts *o, ttt_tokfile *out) {
    memset(out, 0, sizeof *out);
    TRY(synth_mqar_check(o));
    const int64_t K = o->pairs, L = o->seq_len, V = o->vocab, N = o->examples, S = L + 1;
    const int64_t space = (L - 2 * K) / 2; /* gaps g < space; space >= K */
    int64_t cap = 4;
    while (cap <= 2 * K) cap *= 2;
    out->ids = malloc(sizeof(int32_t) * (size_t)(N * S));
    out->mask = calloc((size_t)(N * S), 1);
    out->doc_start = malloc(sizeof(int64_t) * (size_t)N);
    int32_t *keys = malloc(sizeof(int32_t) * (size_t)K), *vals = malloc(sizeof(int32_t) * (size_t)K);
    int64_t *set = malloc(sizeof(int64_t) * (size_t)cap), *gap = malloc(sizeof(int64_t) * (size_t)K);
    uint64_t *w = malloc(sizeof(uint64_t) * (size_t)space), *fen = calloc((size_t)space + 1, sizeof(uint64_t));
    if (!out->ids || !out->mask || !out->doc_start || !keys || !vals || !set || !gap || !w || !fen) {
        free(keys), free(vals), free(set), free(gap), free(w), free(fen);
        ttt_tokfile_free(out);
        return ttt_err(TTT_ERR_NOMEM, "synth mqar: out of memory for %lld examples of %lld tokens", (long long)N,
                       (long long)S);
    }
    /* w_g = max(1, round(2^40 · p_g)),  p_g = (g+1)^(a−1) / Σ_h (h+1)^(a−1)   (Zoology's power law) */
    double z = 0;
    for (int64_t g = 0; g < space; g++) z += pow((double)(g + 1), o->power_a - 1);
    uint64_t total = 0;
    for (int64_t g = 0; g < space; g++) {
        double x = ldexp(pow((double)(g + 1), o->power_a - 1) / z, 40);
        w[g] = x < 1 ? 1 : (uint64_t)llround(x);
        total += w[g];
        fen_add(fen, space, g, (int64_t)w[g]);
    }
    for (int64_t e = 0; e < N; e++) {
        ttt_rng r;
        ttt_rng_seed(&r, o->seed * 0x9e3779b97f4a7c15ull ^ ((uint64_t)e * 0xd1b54a32d192ed03ull + 0x632be59bd9b4e019ull));
        int32_t *x = out->ids + e * S;
        uint8_t *mk = out->mask + e * S;
        out->doc_start[e] = e * S;
        distinct(&r, 1, V / 2 - 1, K, keys, set, cap);
        distinct(&r, V / 2, V - V / 2, K, vals, set, cap);
        for (int64_t i = 0; i < K; i++) x[2 * i] = keys[i], x[2 * i + 1] = vals[i];
        for (int64_t t = 2 * K; t < S; t++) x[t] = (int32_t)below(&r, (uint64_t)V);
        /* the gaps, one after the other among those left (each drawn weight removed) */
        uint64_t left = total;
        for (int64_t i = 0; i < K; i++) {
            int64_t g = fen_find(fen, space, below(&r, left));
            gap[i] = g;
            fen_add(fen, space, g, -(int64_t)w[g]);
            left -= w[g];
        }
        for (int64_t i = 0; i < K; i++) {
            fen_add(fen, space, gap[i], (int64_t)w[gap[i]]);
            int64_t q = 2 * K + 2 * gap[i];
            x[q] = keys[i];
            x[q + 1] = vals[i];
            mk[q + 1] = 1;
        }
    }
    free(keys), free(vals), free(set), free(gap), free(w), free(fen);
    out->version = 2;
    out->width = V <= 65536 ? 2 : 4;
    out->n_tokens = N * S;
    out->n_docs = N;
    out->bos_id = -1;
    out->eos_id = -1;
    out->vocab_size = V;
    snprintf(out->tokenizer, sizeof out->tokenizer, "%s", SYNTH_MQAR_TOKENIZER);
    return TTT_OK;
}
