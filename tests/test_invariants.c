/* test_invariants.c: the forward-pass invariants of design.md 6.4 on small models:
 * decode == full forward (any prefill length, chunked prefill), causality, ttt_base_lr = 0
 * switches learning off, F16/BF16 files load to the rounded model, results independent of the
 * thread count, and the parameter counts of the paper's shapes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "model/params.h"
#include "models.h"
#include "test.h"

static const char *backbones[] = {"mamba", "tf"}, *inners[] = {"linear", "mlp"};

/* logits of prefill(P) then single-token decode (and optionally a chunk split) vs forward */
static int decode_matches(ttt_model *m, const int32_t *ids, int64_t B, int64_t L, const float *ref,
                          int64_t P, int64_t chunk, double atol, const char *what) {
    int64_t V = ttt_model_config(m)->vocab_size;
    ttt_cache *c;
    EXPECT(ttt_cache_create(m, B, &c) == TTT_OK, "%s", ttt_last_error());
    float *got = malloc(sizeof(float) * (size_t)(B * L * V)), *tmp = malloc(sizeof(float) * (size_t)(B * L * V));
    int32_t *col = malloc(sizeof(int32_t) * (size_t)(B * L));
    int ok = 1;
    int64_t t = 0;
    while (t < L && ok) {
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
    EXPECT(ttt_cache_position(c) == L, "%s: cache position %lld, expected %lld", what,
           (long long)ttt_cache_position(c), (long long)L);
    char w[256];
    snprintf(w, sizeof w, "%s: prefill %lld (chunks of %lld) + decode vs forward", what, (long long)P, (long long)chunk);
    if (ok) ok = check_close_f(w, got, ref, B * L * V, atol, 0);
    /* reset gives a fresh state */
    ttt_cache_reset(c);
    EXPECT(ttt_cache_position(c) == 0, "reset");
    free(got);
    free(tmp);
    free(col);
    ttt_cache_free(c);
    return ok;
}

static int decode_case(ttt_config *c, ttt_precision prec, double atol, const char *what) {
    const int64_t B = 2, L = 37;
    ttt_model *m = make_model(c, prec, 7);
    EXPECT(m, "model");
    int64_t V = c->vocab_size;
    int32_t ids[B * L];
    random_ids(ids, B * L, V, 3);
    float *ref = malloc(sizeof(float) * (size_t)(B * L * V));
    EXPECT(ttt_forward(m, ids, B, L, ref, NULL) == TTT_OK, "%s", ttt_last_error());
    int ok = 1;
    const int64_t Ps[] = {0, 1, 5, 15, 16, 17, 32, 36, 37};
    for (size_t i = 0; i < sizeof Ps / sizeof Ps[0]; i++) ok &= decode_matches(m, ids, B, L, ref, Ps[i], 1000, atol, what);
    /* chunked prefill whose chunks start inside a mini-batch */
    ok &= decode_matches(m, ids, B, L, ref, 37, 5, atol, what);
    ok &= decode_matches(m, ids, B, L, ref, 30, 13, atol, what);
    free(ref);
    ttt_model_free(m);
    return ok;
}

TEST(test_decode_equals_forward_f64) {
    int ok = 1;
    for (int bb = 0; bb < 2; bb++)
        for (int in = 0; in < 2; in++) {
            ttt_config c;
            tiny_config(&c, backbones[bb], inners[in]);
            char what[64];
            snprintf(what, sizeof what, "%s/%s", backbones[bb], inners[in]);
            ok &= decode_case(&c, TTT_PREC_F64, 1e-10, what);
        }
    /* other mini-batch size and conv width, untied head */
    ttt_config c;
    tiny_config(&c, "mamba", "linear");
    c.mini_batch_size = 4;
    c.conv_kernel = 3;
    c.tie_word_embeddings = 0;
    ok &= decode_case(&c, TTT_PREC_F64, 1e-10, "mamba/linear b=4 K=3 untied");
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_decode_equals_forward_f32) {
    int ok = 1;
    for (int in = 0; in < 2; in++) {
        ttt_config c;
        tiny_config(&c, "mamba", inners[in]);
        ok &= decode_case(&c, TTT_PREC_F32, 1e-4, inners[in]);
    }
    return ok ? TEST_PASS : TEST_FAIL;
}

/* outputs for positions < P do not depend on tokens at positions >= P */
TEST(test_causality) {
    for (int bb = 0; bb < 2; bb++) {
        ttt_config c;
        tiny_config(&c, backbones[bb], "mlp");
        ttt_model *m = make_model(&c, TTT_PREC_F64, 11);
        EXPECT(m, "model");
        const int64_t L = 37, P = 21, V = c.vocab_size;
        int32_t ids[L], ids2[L];
        random_ids(ids, L, V, 5);
        memcpy(ids2, ids, sizeof ids);
        random_ids(ids2 + P, L - P, V, 6); /* different future */
        float *a = malloc(sizeof(float) * (size_t)(L * V)), *b = malloc(sizeof(float) * (size_t)(L * V)),
              *p = malloc(sizeof(float) * (size_t)(P * V));
        EXPECT(ttt_forward(m, ids, 1, L, a, NULL) == TTT_OK, "%s", ttt_last_error());
        EXPECT(ttt_forward(m, ids2, 1, L, b, NULL) == TTT_OK, "%s", ttt_last_error());
        EXPECT(ttt_forward(m, ids, 1, P, p, NULL) == TTT_OK, "%s", ttt_last_error());
        EXPECT(check_close_f("changed future", b, a, P * V, 1e-12, 0), "causality");
        EXPECT(check_close_f("shorter sequence", p, a, P * V, 1e-12, 0), "causality");
        double d = 0;
        for (int64_t i = P * V; i < L * V; i++) d = fmax(d, fabs(a[i] - b[i]));
        EXPECT(d > 1e-3, "the future tokens changed nothing (max diff %.3e)", d);
        free(a);
        free(b);
        free(p);
        ttt_model_free(m);
    }
    return TEST_PASS;
}

/* ttt_base_lr = 0: no inner learning. With the Transformer backbone each position then
 * depends only on its own token and its RoPE position p mod b, so a token repeated 16
 * positions later gets the same logits; with learning it does not. */
TEST(test_base_lr_zero_switches_learning_off) {
    for (int in = 0; in < 2; in++) {
        ttt_config c;
        tiny_config(&c, "tf", inners[in]);
        const int64_t L = 40, V = c.vocab_size;
        int32_t ids[L];
        random_ids(ids, L, V, 9);
        for (int64_t t = 16; t < L; t++) ids[t] = ids[t - 16];
        double diff[2];
        for (int k = 0; k < 2; k++) {
            c.ttt_base_lr = k == 0 ? 0.0 : (in ? 0.1 : 1.0);
            ttt_model *m = make_model(&c, TTT_PREC_F64, 13);
            EXPECT(m, "model");
            float *lg = malloc(sizeof(float) * (size_t)(L * V));
            EXPECT(ttt_forward(m, ids, 1, L, lg, NULL) == TTT_OK, "%s", ttt_last_error());
            diff[k] = 0;
            for (int64_t t = 16; t < L; t++)
                for (int64_t v = 0; v < V; v++) diff[k] = fmax(diff[k], fabs(lg[t * V + v] - lg[(t - 16) * V + v]));
            free(lg);
            ttt_model_free(m);
        }
        EXPECT(diff[0] < 1e-6, "%s: with ttt_base_lr 0 repeated tokens differ by %.3e", inners[in], diff[0]);
        EXPECT(diff[1] > 1e-2, "%s: with learning the repeat changed only %.3e", inners[in], diff[1]);
    }
    return TEST_PASS;
}

/* F16 and BF16 files load to the F32 model rounded to those types, exactly */
TEST(test_half_precision_files) {
    ttt_config c;
    tiny_config(&c, "mamba", "mlp");
    ttt_model *m = make_model(&c, TTT_PREC_F32, 21);
    EXPECT(m, "model");
    const int64_t L = 20, V = c.vocab_size;
    int32_t ids[L];
    random_ids(ids, L, V, 2);
    const ttt_file_dtype dts[] = {TTT_DTYPE_BF16, TTT_DTYPE_F16};
    for (int k = 0; k < 2; k++) {
        const char *dir = tmp_path(k ? "half_f16" : "half_bf16");
        EXPECT(ttt_model_save(m, dir, dts[k]) == TTT_OK, "%s", ttt_last_error());
        ttt_model *h;
        EXPECT(ttt_model_load(dir, NULL, &h) == TTT_OK, "%s", ttt_last_error());
        /* round the f32 model's parameters the same way */
        ttt_model *r = make_model(&c, TTT_PREC_F32, 21);
        for (int64_t i = 0; i < ttt_param_count(m); i++) {
            int64_t sh[8], n = 1;
            int nd = ttt_param_shape(m, i, sh);
            for (int q = 0; q < nd; q++) n *= sh[q];
            float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
            ttt_param_get(m, i, a);
            for (int64_t j = 0; j < n; j++) a[j] = k ? f16_to_f32(f32_to_f16(a[j])) : bf16_to_f32(f32_to_bf16(a[j]));
            ttt_param_get(h, i, b);
            EXPECT(check_bits(ttt_param_name(m, i), a, b, sizeof(float) * (size_t)n), "loaded values");
            ttt_param_set(r, i, a);
            free(a);
            free(b);
        }
        float *la = malloc(sizeof(float) * (size_t)(L * V)), *lb = malloc(sizeof(float) * (size_t)(L * V)),
              *l32 = malloc(sizeof(float) * (size_t)(L * V));
        EXPECT(ttt_forward(h, ids, 1, L, la, NULL) == TTT_OK, "%s", ttt_last_error());
        EXPECT(ttt_forward(r, ids, 1, L, lb, NULL) == TTT_OK, "%s", ttt_last_error());
        EXPECT(ttt_forward(m, ids, 1, L, l32, NULL) == TTT_OK, "%s", ttt_last_error());
        EXPECT(check_bits("logits of the loaded half model vs the rounded f32 model", la, lb, sizeof(float) * (size_t)(L * V)), "bits");
        /* and close to the unrounded model, within the rounding (bf16 has 8 bits of mantissa) */
        EXPECT(check_rel_max(k ? "f16 vs f32 logits" : "bf16 vs f32 logits", la, l32, L * V, k ? 5e-3 : 1e-1), "close");
        free(la);
        free(lb);
        free(l32);
        ttt_model_free(h);
        ttt_model_free(r);
    }
    ttt_model_free(m);
    return TEST_PASS;
}

/* bit-identical results for 1, 2 and 3 threads: forward, gradients, decode */
static int threads_case(int reference) {
    /* large enough that every parallel loop runs threaded (ops parallelise above
     * TTT_PAR_MIN_WORK = 32768 elements of work) */
    ttt_config c;
    tiny_config(&c, "mamba", "mlp");
    c.num_attention_heads = 4;
    c.hidden_size = 128;
    c.intermediate_size = 192;
    c.vocab_size = 211;
    ttt_model *m = make_model(&c, TTT_PREC_F32, 31);
    EXPECT(m, "model");
    const int64_t B = 3, L = 130, V = c.vocab_size;
    EXPECT(B * L * c.hidden_size >= 32768 && B * L * V >= 32768, "shapes below the threading threshold");
    int32_t ids[3 * 130];
    random_ids(ids, B * L, V, 4);
    int64_t total = ttt_param_numel_total(m);
    float *lg[3], *gr[3], *dec[3];
    for (int k = 0; k < 3; k++) {
        set_opts(m, k + 1, 4, reference);
        lg[k] = malloc(sizeof(float) * (size_t)(B * L * V));
        gr[k] = malloc(sizeof(float) * (size_t)total);
        dec[k] = malloc(sizeof(float) * (size_t)(B * V));
        EXPECT(ttt_forward(m, ids, B, L, lg[k], NULL) == TTT_OK, "%s", ttt_last_error());
        EXPECT(ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, ids, NULL, B, L, 0, 1.0, NULL) == TTT_OK, "%s",
               ttt_last_error());
        int64_t off = 0;
        for (int64_t i = 0; i < ttt_param_count(m); i++) {
            int64_t sh[8], n = 1;
            int nd = ttt_param_shape(m, i, sh);
            for (int q = 0; q < nd; q++) n *= sh[q];
            ttt_grad_get(m, i, gr[k] + off);
            off += n;
        }
        ttt_cache *cc;
        EXPECT(ttt_cache_create(m, B, &cc) == TTT_OK, "cache");
        int32_t *pre = malloc(sizeof(int32_t) * (size_t)(B * 100));
        for (int64_t b = 0; b < B; b++) memcpy(pre + b * 100, ids + b * L, sizeof(int32_t) * 100);
        EXPECT(ttt_prefill(m, cc, pre, 100, NULL) == TTT_OK && ttt_decode_step(m, cc, ids, dec[k]) == TTT_OK, "decode");
        free(pre);
        ttt_cache_free(cc);
    }
    int ok = 1;
    for (int k = 1; k < 3; k++) {
        ok &= check_bits("logits", lg[0], lg[k], sizeof(float) * (size_t)(B * L * V));
        ok &= check_bits("gradients", gr[0], gr[k], sizeof(float) * (size_t)total);
        ok &= check_bits("decode logits", dec[0], dec[k], sizeof(float) * (size_t)(B * V));
    }
    for (int k = 0; k < 3; k++) free(lg[k]), free(gr[k]), free(dec[k]);
    ttt_model_free(m);
    return ok;
}

TEST(test_threads_bit_identical) {
    EXPECT(threads_case(0), "fast kernels");
    EXPECT(threads_case(1), "reference kernels");
    return TEST_PASS;
}

/* design.md 3.3: parameter counts of the paper's models (tied embeddings, counted once) */
TEST(test_param_counts_paper_sizes) {
    const struct {
        const char *preset;
        int64_t count;
    } want[] = {{"ttt-linear-125m", 110424144},   {"ttt-mlp-125m", 114589776},
                {"ttt-linear-125m-tf", 110276688}, {"ttt-linear-350m", 337684224},
                {"ttt-mlp-350m", 348792576},       {"ttt-linear-760m", 733608192},
                {"ttt-mlp-760m", 758528256},       {"ttt-linear-1.3b", 1285639296},
                {"ttt-mlp-1.3b", 1307856000},      {"ttt-linear-1.3b-tf", 1284852864}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        ttt_config c;
        EXPECT(ttt_config_preset(want[i].preset, &c) == TTT_OK, "%s", ttt_last_error());
        param_table t;
        ttt_lm_offs o;
        EXPECT(ttt_params_build(&t, &o, &c) == TTT_OK, "%s", ttt_last_error());
        int64_t n = 0;
        for (int64_t k = 0; k < t.n; k++) n += t.p[k].numel;
        ttt_params_free(&t, &o);
        EXPECT(n == want[i].count, "%s: %lld parameters, expected %lld", want[i].preset, (long long)n,
               (long long)want[i].count);
    }
    return TEST_PASS;
}
