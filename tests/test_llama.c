/* test_llama.c: the Llama baseline on tiny models: finite-difference gradients of every
 * tensor in float64 (grouped-query, multi-query and plain multi-head attention, tied and
 * untied head, a masked per-sequence loss, a context longer than one attention tile);
 * prefill of P tokens then decode equals the full forward (several P, chunked prefills, a
 * cache that grows several times); causality; bit-identical results for 1, 2 and 3 threads.
 *
 * FD tolerance as in test_grad.c: |analytic − fd| <= 1e-7 + 1e-5·|fd| (h = 1e-5, float64). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/model.h"
#include "models.h"
#include "test.h"

/* a tiny Llama: D, nh query heads, nkv kv heads, SwiGLU I, layers, vocab V */
static void llama_config(ttt_config *c, int64_t D, int64_t nh, int64_t nkv, int64_t I, int64_t layers,
                         int64_t V, int tied) {
    ttt_config_preset("llama-tiny", c);
    c->hidden_size = D;
    c->num_attention_heads = nh;
    c->num_key_value_heads = nkv;
    c->intermediate_size = I;
    c->num_hidden_layers = layers;
    c->vocab_size = V;
    c->tie_word_embeddings = tied;
}

/* ------------------------------------------------------------------------------------------ */
/* gradients                                                                                   */

static int model_fd(const ttt_config *c, int64_t B, int64_t L, int masked, const char *what) {
    return fd_check_config(c, 17, B, L, masked, 0, what);
}

TEST(test_llama_grad_fd_f64) {
    ttt_config c;
    int ok = 1;
    llama_config(&c, 16, 4, 2, 24, 2, 53, 1);
    ok &= model_fd(&c, 2, 11, 0, "GQA 4 heads / 2 kv, tied, B=2 L=11");
    llama_config(&c, 16, 2, 2, 24, 2, 53, 0);
    ok &= model_fd(&c, 2, 9, 0, "MHA 2 heads, untied, B=2 L=9");
    llama_config(&c, 24, 4, 1, 20, 1, 31, 0);
    c.rope_theta = 500.0;
    ok &= model_fd(&c, 2, 13, 1, "MQA 4 heads / 1 kv, untied, masked per-seq loss");
    /* several query and key tiles (64 × 128) in one sequence */
    llama_config(&c, 8, 2, 1, 12, 1, 23, 1);
    ok &= model_fd(&c, 1, 150, 0, "GQA 2 heads / 1 kv, L=150 (several tiles)");
    return ok ? TEST_PASS : TEST_FAIL;
}

/* ------------------------------------------------------------------------------------------ */
/* decode                                                                                      */

/* logits of prefills of `chunk` tokens up to P, then single-token decode, vs forward */
static int decode_matches(ttt_model *m, const int32_t *ids, int64_t B, int64_t L, const float *ref,
                          int64_t P, int64_t chunk, double atol, const char *what) {
    int64_t V = ttt_model_config(m)->vocab_size;
    ttt_cache *c;
    EXPECT(ttt_cache_create(m, B, &c) == TTT_OK, "%s", ttt_last_error());
    float *got = malloc(sizeof(float) * (size_t)(B * L * V)), *tmp = malloc(sizeof(float) * (size_t)(B * L * V));
    int32_t *col = malloc(sizeof(int32_t) * (size_t)(B * L));
    int ok = 1;
    for (int64_t t = 0; t < L && ok;) {
        int64_t n = t < P ? (P - t < chunk ? P - t : chunk) : 1;
        for (int64_t b = 0; b < B; b++) memcpy(col + b * n, ids + b * L + t, sizeof(int32_t) * (size_t)n);
        if (ttt_prefill(m, c, col, n, tmp) != TTT_OK) {
            test_fail("%s: prefill: %s", what, ttt_last_error());
            ok = 0;
            break;
        }
        for (int64_t b = 0; b < B; b++) memcpy(got + (b * L + t) * V, tmp + b * n * V, sizeof(float) * (size_t)(n * V));
        t += n;
    }
    if (ok && ttt_cache_position(c) != L) {
        test_fail("%s: cache position %lld, expected %lld", what, (long long)ttt_cache_position(c), (long long)L);
        ok = 0;
    }
    /* the cache holds K and V of every layer for at least L positions, and not 4× more */
    const ttt_config *cf = ttt_model_config(m);
    size_t per_pos = (size_t)(2 * cf->num_hidden_layers * B * cf->num_key_value_heads *
                              (cf->hidden_size / cf->num_attention_heads)) * (m->elem);
    if (ok && !(ttt_cache_bytes(c) >= per_pos * (size_t)L && ttt_cache_bytes(c) < per_pos * (size_t)(4 * L + 64))) {
        test_fail("%s: cache of %zu bytes for %lld positions (%zu bytes each)", what, ttt_cache_bytes(c),
                  (long long)L, per_pos);
        ok = 0;
    }
    char w[256];
    snprintf(w, sizeof w, "%s: prefill %lld (chunks of %lld) + decode vs forward", what, (long long)P, (long long)chunk);
    if (ok) ok = check_close_f(w, got, ref, B * L * V, atol, 0);
    /* after a reset the cache starts a fresh sequence */
    ttt_cache_reset(c);
    if (ok && ttt_cache_position(c) != 0) ok = 0, test_fail("%s: reset", what);
    if (ok && P == 0) {
        for (int64_t b = 0; b < B; b++) col[b] = ids[b * L];
        ok = ttt_decode_step(m, c, col, tmp) == TTT_OK;
        for (int64_t b = 0; ok && b < B; b++)
            ok = check_close_f("first token after reset", tmp + b * V, ref + b * L * V, V, atol, 0);
    }
    free(got);
    free(tmp);
    free(col);
    ttt_cache_free(c);
    return ok;
}

static int decode_case(const ttt_config *c, ttt_precision prec, int64_t B, int64_t L, const int64_t *Ps,
                       int nP, const int64_t (*chunks)[2], int nchunks, double atol, const char *what) {
    ttt_model *m = make_model(c, prec, 7);
    EXPECT(m, "model");
    int64_t V = c->vocab_size;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(B * L));
    random_ids(ids, B * L, V, 3);
    float *ref = malloc(sizeof(float) * (size_t)(B * L * V));
    int ok = ttt_forward(m, ids, B, L, ref, NULL) == TTT_OK;
    if (!ok) test_fail("%s", ttt_last_error());
    for (int i = 0; ok && i < nP; i++) ok &= decode_matches(m, ids, B, L, ref, Ps[i], 1 << 20, atol, what);
    for (int i = 0; ok && i < nchunks; i++) ok &= decode_matches(m, ids, B, L, ref, chunks[i][0], chunks[i][1], atol, what);
    free(ids);
    free(ref);
    ttt_model_free(m);
    return ok;
}

static const int64_t Ps[] = {0, 1, 5, 16, 17, 36};
static const int64_t chunks[][2] = {{37, 5}, {30, 13}, {36, 1}};

TEST(test_llama_decode_equals_forward_f64) {
    ttt_config c;
    int ok = 1;
    llama_config(&c, 32, 4, 2, 48, 2, 53, 1);
    ok &= decode_case(&c, TTT_PREC_F64, 2, 37, Ps, 6, chunks, 3, 1e-11, "GQA tied");
    llama_config(&c, 32, 2, 2, 48, 2, 53, 0);
    ok &= decode_case(&c, TTT_PREC_F64, 1, 37, Ps, 6, chunks, 3, 1e-11, "MHA untied");
    /* several tiles, the cache growing 64 -> 128 -> 256 positions, prefills across the growth */
    static const int64_t Pl[] = {0, 63, 64, 65, 150};
    static const int64_t cl[][2] = {{200, 45}, {199, 64}};
    llama_config(&c, 16, 2, 1, 24, 2, 29, 1);
    ok &= decode_case(&c, TTT_PREC_F64, 2, 200, Pl, 5, cl, 2, 1e-11, "GQA L=200");
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_llama_decode_equals_forward_f32) {
    ttt_config c;
    llama_config(&c, 32, 4, 2, 48, 2, 53, 1);
    return decode_case(&c, TTT_PREC_F32, 2, 37, Ps, 6, chunks, 3, 2e-5, "f32 GQA") ? TEST_PASS : TEST_FAIL;
}

/* outputs at positions < P do not depend on tokens at positions >= P (across tiles) */
TEST(test_llama_causality) {
    ttt_config c;
    llama_config(&c, 16, 4, 2, 24, 2, 53, 1);
    ttt_model *m = make_model(&c, TTT_PREC_F64, 11);
    EXPECT(m, "model");
    const int64_t L = 150, P = 70, V = c.vocab_size;
    int32_t ids[150], ids2[150];
    random_ids(ids, L, V, 5);
    memcpy(ids2, ids, sizeof ids);
    random_ids(ids2 + P, L - P, V, 6);
    float *a = malloc(sizeof(float) * (size_t)(L * V)), *b = malloc(sizeof(float) * (size_t)(L * V)),
          *p = malloc(sizeof(float) * (size_t)(P * V));
    EXPECT(ttt_forward(m, ids, 1, L, a, NULL) == TTT_OK, "%s", ttt_last_error());
    EXPECT(ttt_forward(m, ids2, 1, L, b, NULL) == TTT_OK, "%s", ttt_last_error());
    EXPECT(ttt_forward(m, ids, 1, P, p, NULL) == TTT_OK, "%s", ttt_last_error());
    int ok = check_close_f("changed future", b, a, P * V, 1e-12, 0);
    ok &= check_close_f("shorter sequence", p, a, P * V, 1e-12, 0);
    double d = 0;
    for (int64_t i = P * V; i < L * V; i++) d = fmax(d, fabs(a[i] - b[i]));
    if (!(d > 1e-3)) ok = 0, test_fail("the future tokens changed nothing (max diff %.3e)", d);
    free(a), free(b), free(p);
    ttt_model_free(m);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* ------------------------------------------------------------------------------------------ */
/* threads                                                                                     */

/* bit-identical for 1, 2 and 3 threads: forward, gradients, prefill + decode; returns 1 if so */
static int threads_case(int reference) {
    ttt_config c;
    llama_config(&c, 128, 4, 2, 192, 2, 211, 1);
    ttt_model *m = make_model(&c, TTT_PREC_F32, 31);
    if (!m) return 0;
    enum { B = 2, L = 150, PRE = 100 };
    const int64_t V = c.vocab_size;
    /* attention (B·nh·L·L/2·f), the projections and the head all cross the 32768 threshold */
    if (!((int64_t)B * 4 * L * (L / 2) * 32 >= 32768 && (int64_t)B * L * 128 >= 32768)) {
        test_fail("shapes below the threading threshold");
        ttt_model_free(m);
        return 0;
    }
    int32_t ids[B * L];
    random_ids(ids, B * L, V, 4);
    int64_t total = ttt_param_numel_total(m);
    float *lg[3], *gr[3], *dec[3];
    int ok = 1;
    for (int k = 0; k < 3; k++) {
        set_opts(m, k + 1, 4, reference);
        lg[k] = malloc(sizeof(float) * (size_t)(B * L * V));
        gr[k] = malloc(sizeof(float) * (size_t)total);
        dec[k] = malloc(sizeof(float) * (size_t)((PRE + 1) * B * V));
        ok &= ttt_forward(m, ids, B, L, lg[k], NULL) == TTT_OK;
        ok &= ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, ids, NULL, B, L, 0, 1.0, NULL) == TTT_OK;
        int64_t off = 0;
        for (int64_t i = 0; i < ttt_param_count(m); i++) {
            int64_t sh[8], n = 1;
            int nd = ttt_param_shape(m, i, sh);
            for (int q = 0; q < nd; q++) n *= sh[q];
            ttt_grad_get(m, i, gr[k] + off);
            off += n;
        }
        ttt_cache *cc;
        ok &= ttt_cache_create(m, B, &cc) == TTT_OK;
        int32_t pre[B * PRE], nxt[B];
        for (int64_t b = 0; b < B; b++) {
            memcpy(pre + b * PRE, ids + b * L, sizeof(int32_t) * PRE);
            nxt[b] = ids[b * L + PRE];
        }
        ok &= ttt_prefill(m, cc, pre, PRE, dec[k]) == TTT_OK && ttt_decode_step(m, cc, nxt, dec[k] + B * PRE * V) == TTT_OK;
        ttt_cache_free(cc);
        if (!ok) test_fail("%d threads: %s", k + 1, ttt_last_error());
    }
    for (int k = 1; k < 3 && ok; k++) {
        ok &= check_bits("logits", lg[0], lg[k], sizeof(float) * (size_t)(B * L * V));
        ok &= check_bits("gradients", gr[0], gr[k], sizeof(float) * (size_t)total);
        ok &= check_bits("prefill + decode logits", dec[0], dec[k], sizeof(float) * (size_t)((PRE + 1) * B * V));
    }
    for (int k = 0; k < 3; k++) free(lg[k]), free(gr[k]), free(dec[k]);
    ttt_model_free(m);
    return ok;
}

TEST(test_llama_threads_bit_identical) {
    EXPECT(threads_case(0), "fast kernels");
    EXPECT(threads_case(1), "reference kernels");
    return TEST_PASS;
}
