/* test_generate.c: generation: the logits that drive decoding after a prefill equal the full
 * forward's (every model type, several prompt lengths), sampling (greedy, seeded determinism,
 * top-k / top-p draw only from their sets with the right frequencies), UTF-8 and stop-string
 * streaming, and `ttt generate` end to end with its bad-input errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/rng.h"
#include "models.h"
#include "test.h"
#include "ttt_generate.h"

/* prefill P tokens (logits of the last position only), then decode: every logit row equals
 * the full forward's row at the same position */
static int prefill_matches(const char *preset, ttt_precision prec, double atol) {
    ttt_config c;
    EXPECT(ttt_config_preset(preset, &c) == TTT_OK, "%s", ttt_last_error());
    ttt_options o;
    ttt_options_default(&o);
    o.precision = prec;
    ttt_model *m;
    EXPECT(ttt_model_create(&c, 3, &o, &m) == TTT_OK, "%s: %s", preset, ttt_last_error());
    randomize_params(m, 4);
    const int64_t B = 2, L = 40;
    int64_t V = ttt_config_vocab_rows(&c);
    int32_t ids[2 * 40], col[2];
    random_ids(ids, B * L, c.vocab_size, 5);
    float *ref = malloc(sizeof(float) * (size_t)(B * L * V)), *lg = malloc(sizeof(float) * (size_t)(B * V));
    EXPECT(ttt_forward(m, ids, B, L, ref, NULL) == TTT_OK, "%s: %s", preset, ttt_last_error());
    const int64_t Ps[] = {1, 7, 16, 17, 33};
    int ok = 1;
    for (size_t k = 0; k < sizeof Ps / sizeof Ps[0] && ok; k++) {
        int64_t P = Ps[k];
        ttt_cache *cc;
        EXPECT(ttt_cache_create(m, B, &cc) == TTT_OK, "%s", ttt_last_error());
        int32_t *pre = malloc(sizeof(int32_t) * (size_t)(B * P));
        for (int64_t b = 0; b < B; b++) memcpy(pre + b * P, ids + b * L, sizeof(int32_t) * (size_t)P);
        EXPECT(ttt_prefill_last(m, cc, pre, P, lg) == TTT_OK, "%s", ttt_last_error());
        free(pre);
        for (int64_t t = P - 1; t < L && ok; t++) {
            if (t >= P) {
                for (int64_t b = 0; b < B; b++) col[b] = ids[b * L + t];
                EXPECT(ttt_decode_step(m, cc, col, lg) == TTT_OK, "%s", ttt_last_error());
            }
            for (int64_t b = 0; b < B && ok; b++) {
                char w[96];
                snprintf(w, sizeof w, "%s: prefill %lld, position %lld, sequence %lld", preset, (long long)P, (long long)t,
                         (long long)b);
                ok = check_close_f(w, lg + b * V, ref + (b * L + t) * V, V, atol, 0);
            }
        }
        ttt_cache_free(cc);
    }
    free(ref), free(lg);
    ttt_model_free(m);
    return ok;
}

TEST(test_generate_prefill_logits_every_model) {
    const char *presets[] = {"ttt-linear-tiny", "ttt-mlp-tiny", "ttt-linear-tiny-tf", "ttt-mlp-tiny-tf", "llama-tiny",
                             "mamba-tiny"};
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        EXPECT(prefill_matches(presets[i], TTT_PREC_F64, 1e-9), "%s (f64)", presets[i]);
        EXPECT(prefill_matches(presets[i], TTT_PREC_F32, 2e-4), "%s (f32)", presets[i]);
    }
    return TEST_PASS;
}

TEST(test_sampler_greedy_and_determinism) {
    float lg[6] = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f, 0.0f};
    ttt_sampler *s, *t;
    EXPECT(ttt_sampler_create(6, 1, &s) == TTT_OK && ttt_sampler_create(6, 1, &t) == TTT_OK, "create");
    ttt_sampling g = {0, 0, 1};
    EXPECT(ttt_sample(s, lg, 6, &g) == 1, "greedy picks the lowest id among ties");
    ttt_sampling sp = {1.0, 0, 1.0};
    for (int i = 0; i < 200; i++) EXPECT(ttt_sample(s, lg, 6, &sp) == ttt_sample(t, lg, 6, &sp), "same seed, draw %d", i);
    ttt_sampler_free(s), ttt_sampler_free(t);
    ttt_sampling bad[] = {{-0.1, 0, 1}, {NAN, 0, 1}, {1, -1, 1}, {1, 0, 0}, {1, 0, 1.5}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) EXPECT(ttt_sampling_check(&bad[i]) == TTT_ERR_ARG, "bad %zu", i);
    return TEST_PASS;
}

/* The oracle of the candidate order: qsort by (logit descending, id ascending), then the same
 * softmax, top-k, top-p and draw as ttt_sample, from a copy of the sampler's random stream. */
static const float *oracle_lg;
static int oracle_cmp(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (oracle_lg[x] != oracle_lg[y]) return oracle_lg[x] > oracle_lg[y] ? -1 : 1;
    return (x > y) - (x < y);
}
static int32_t oracle_sample(ttt_rng *r, const float *lg, int64_t V, const ttt_sampling *s, int32_t *idx, double *p) {
    for (int64_t v = 0; v < V; v++) idx[v] = (int32_t)v;
    oracle_lg = lg;
    qsort(idx, (size_t)V, sizeof(int32_t), oracle_cmp);
    int64_t n = s->top_k > 0 && s->top_k < V ? s->top_k : V;
    double mx = lg[idx[0]], z = 0;
    for (int64_t i = 0; i < n; i++) z += p[i] = exp(((double)lg[idx[i]] - mx) / s->temperature);
    if (s->top_p < 1) {
        double cum = 0;
        int64_t keep = n;
        for (int64_t i = 0; i < n; i++)
            if ((cum += p[i] / z) >= s->top_p) {
                keep = i + 1;
                break;
            }
        n = keep, z = 0;
        for (int64_t i = 0; i < n; i++) z += p[i];
    }
    double u = ttt_rng_uniform(r) * z, acc = 0;
    for (int64_t i = 0; i < n; i++)
        if (u < (acc += p[i])) return idx[i];
    return idx[n - 1];
}

/* ttt_sample's radix-sorted candidates give the draws of the comparison sort, token for token:
 * logits with many ties (a few levels), both zeros, negatives, large and tiny magnitudes */
TEST(test_sampler_order_matches_sort) {
    const int64_t V = 3000;
    float *lg = malloc(sizeof(float) * V);
    int32_t *idx = malloc(sizeof(int32_t) * V);
    double *p = malloc(sizeof(double) * V);
    ttt_rng g;
    ttt_rng_seed(&g, 11);
    const ttt_sampling set[] = {{1.0, 0, 1.0}, {0.7, 0, 0.9}, {1.3, 50, 1.0}, {0.5, 7, 0.6}, {2.0, 0, 0.3}};
    int ok = 1;
    for (int round = 0; round < 6 && ok; round++) {
        for (int64_t v = 0; v < V; v++) {
            double u = ttt_rng_uniform(&g);
            float x = round % 2 ? (float)((int)(u * 9) - 4) * 0.5f : (float)(ttt_rng_normal(&g) * 3.0);
            if (v % 97 == 0) x = -0.0f;
            if (v % 89 == 0) x = 0.0f;
            if (round == 4 && v % 5 == 0) x = 1e-30f * (float)(v % 3) - 3e-38f;
            if (round == 5) x = v % 2 ? 1.0e4f : -1.0e4f;
            lg[v] = x;
        }
        for (size_t k = 0; k < sizeof set / sizeof set[0] && ok; k++) {
            ttt_sampler *s;
            EXPECT(ttt_sampler_create(V, 100 + k, &s) == TTT_OK, "create");
            for (int d = 0; d < 200; d++) {
                ttt_rng r;
                ttt_sampler_get_rng(s, r.s);
                int32_t want = oracle_sample(&r, lg, V, &set[k], idx, p), got = ttt_sample(s, lg, V, &set[k]);
                if (got != want) {
                    test_fail("round %d, setting %zu (T %g, top-k %lld, top-p %g), draw %d: sampled %d, the sort's "
                              "order gives %d (logits %g and %g)", round, k, set[k].temperature,
                              (long long)set[k].top_k, set[k].top_p, d, got, want, (double)lg[got], (double)lg[want]);
                    ok = 0;
                    break;
                }
            }
            ttt_sampler_free(s);
        }
    }
    free(lg), free(idx), free(p);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* frequencies of 40000 draws against the renormalised probabilities of the allowed set:
 * each within 5 standard deviations, and nothing outside the set */
static int frequencies(const float *lg, int V, ttt_sampling sp, const double *want, const char *what) {
    ttt_sampler *s;
    EXPECT(ttt_sampler_create(V, 42, &s) == TTT_OK, "create");
    int counts[16] = {0};
    const int n = 40000;
    for (int i = 0; i < n; i++) counts[ttt_sample(s, lg, V, &sp)]++;
    ttt_sampler_free(s);
    for (int v = 0; v < V; v++) {
        if (want[v] == 0) {
            EXPECT(counts[v] == 0, "%s: token %d is outside the allowed set but was drawn %d times", what, v, counts[v]);
            continue;
        }
        double mean = n * want[v], sd = sqrt(n * want[v] * (1 - want[v]));
        EXPECT(fabs(counts[v] - mean) <= 5 * sd, "%s: token %d drawn %d times, expected %.0f ± %.0f", what, v, counts[v],
               mean, 5 * sd);
    }
    return 1;
}

TEST(test_sampler_topk_topp_statistics) {
    /* probabilities at T = 1: exp(lg) / Z */
    const float lg[8] = {1.0f, 3.0f, 0.0f, 2.5f, 2.0f, -1.0f, 0.5f, 1.5f};
    double p[8], z = 0;
    for (int v = 0; v < 8; v++) z += p[v] = exp(lg[v]);
    for (int v = 0; v < 8; v++) p[v] /= z;
    /* top-3: tokens 1, 3, 4 */
    double w3[8] = {0}, z3 = p[1] + p[3] + p[4];
    w3[1] = p[1] / z3, w3[3] = p[3] / z3, w3[4] = p[4] / z3;
    EXPECT(frequencies(lg, 8, (ttt_sampling){1.0, 3, 1.0}, w3, "top-k 3"), "top-k");
    /* top-p 0.75: sorted probabilities 0.40, 0.24, 0.15, ... -> the first three reach 0.75 */
    double cum = p[1] + p[3];
    EXPECT(cum < 0.75 && cum + p[4] >= 0.75, "test probabilities");
    EXPECT(frequencies(lg, 8, (ttt_sampling){1.0, 0, 0.75}, w3, "top-p 0.75"), "top-p");
    /* temperature 0.5 with top-k 2 */
    double w2[8] = {0}, a = exp(2 * 3.0), b = exp(2 * 2.5);
    w2[1] = a / (a + b), w2[3] = b / (a + b);
    EXPECT(frequencies(lg, 8, (ttt_sampling){0.5, 2, 1.0}, w2, "T 0.5 top-k 2"), "temperature");
    return TEST_PASS;
}

TEST(test_text_stream) {
    ttt_text_stream ts;
    ttt_text_stream_init(&ts, NULL);
    size_t from, n;
    const char *e = "ab\xc3\xa9"; /* "abé" */
    n = ttt_text_stream_update(&ts, e, 3, 0, &from); /* é cut in half */
    EXPECT(n == 2 && from == 0, "incomplete character held back (%zu)", n);
    n = ttt_text_stream_update(&ts, e, 4, 0, &from);
    EXPECT(n == 2 && from == 2, "completed character released (%zu from %zu)", n, from);
    ttt_text_stream_free(&ts);
    ttt_text_stream_init(&ts, "STOP");
    n = ttt_text_stream_update(&ts, "hello ST", 8, 0, &from);
    EXPECT(n == 6, "a possible stop string is held back (%zu)", n);
    n = ttt_text_stream_update(&ts, "hello STx", 9, 0, &from);
    EXPECT(n == 3 && from == 6, "released when it is not the stop string (%zu)", n);
    n = ttt_text_stream_update(&ts, "hello STx STOP more", 19, 0, &from);
    EXPECT(ts.stopped && n == 1 && strcmp(ts.text, "hello STx ") == 0, "cut at the stop string: '%s'", ts.text);
    ttt_text_stream_free(&ts);
    return TEST_PASS;
}

/* ------------------------------------------------------------------------------------------ */

static const char *gpt2_tokenizer(void) {
    static const char *p = "data/tok/r50k_base.tiktoken";
    struct stat st;
    return stat(p, &st) == 0 ? p : NULL;
}

TEST(test_generate_cli) {
    const char *tk = gpt2_tokenizer();
    if (!tk) return test_skip("data/tok/r50k_base.tiktoken is absent (make data fetches it)");
    const char *md = tmp_path("gen_model");
    char *out, *o2;
    EXPECT(run_cmd(&out, "%s init --preset ttt-mlp-tiny --vocab 50257 --bos 50256 --eos 50256 --out %s", test_ttt_bin, md) == 0,
           "%s", out);
    free(out);
    /* greedy: deterministic */
    const char *g = "generate --model %s --tokenizer %s --prompt 'Hello world' --max-tokens 12 --temperature 0 --quiet";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, g, md, tk);
    EXPECT(run_cmd(&out, "%s %s", test_ttt_bin, cmd) == 0, "%s", out);
    EXPECT(run_cmd(&o2, "%s %s", test_ttt_bin, cmd) == 0, "%s", o2);
    EXPECT(strcmp(out, o2) == 0 && strlen(out) > 1, "greedy runs differ: '%s' vs '%s'", out, o2);
    free(out), free(o2);
    /* sampled: deterministic for a seed; batch of 2 uses two seeds */
    const char *s = "generate --model %s --tokenizer %s --prompt 'Hello' --max-tokens 10 --seed 7 --top-k 50 "
                    "--top-p 0.9 --batch 2 --quiet --threads %d";
    snprintf(cmd, sizeof cmd, s, md, tk, 1);
    EXPECT(run_cmd(&out, "%s %s", test_ttt_bin, cmd) == 0, "%s", out);
    snprintf(cmd, sizeof cmd, s, md, tk, 1);
    EXPECT(run_cmd(&o2, "%s %s", test_ttt_bin, cmd) == 0, "%s", o2);
    EXPECT(strcmp(out, o2) == 0, "seeded runs differ");
    EXPECT(strstr(out, "continuation 0 (seed 7)") && strstr(out, "continuation 1 (seed 8)"), "%s", out);
    free(out), free(o2);
    /* statistics line */
    EXPECT(run_cmd(&out, "%s generate --model %s --tokenizer %s --prompt 'a' --max-tokens 3", test_ttt_bin, md, tk) == 0,
           "%s", out);
    EXPECT(strstr(out, "prefill") && strstr(out, "decode") && strstr(out, "peak memory"), "%s", out);
    free(out);
    /* bad input */
    struct {
        const char *flags, *needle;
    } bad[] = {{"--prompt ''", "empty"},
               {"--prompt x --temperature -1", "temperature"},
               {"--prompt x --top-p 0", "top-p"},
               {"--prompt x --top-p 1.5", "top-p"},
               {"--prompt x --tokenizer /nonexistent.tiktoken", "nonexistent"},
               {"--prompt-file /nonexistent.txt", "nonexistent.txt"},
               {"", "--prompt"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = run_cmd(&out, "%s generate --model %s %s %s", test_ttt_bin, md,
                         strstr(bad[i].flags, "--tokenizer") ? "" : "--tokenizer data/tok/r50k_base.tiktoken", bad[i].flags);
        EXPECT(rc != 0 && rc < 128 && strstr(out, bad[i].needle), "'%s': status %d, output %s", bad[i].flags, rc, out);
        free(out);
    }
    /* a model whose config names no tokenizer, without --tokenizer */
    int rc = run_cmd(&out, "%s generate --model %s --prompt x", test_ttt_bin, md);
    EXPECT(rc != 0 && rc < 128 && strstr(out, "tokenizer"), "%s", out);
    free(out);
    /* the prompt limit of an attention model */
    const char *ld = tmp_path("gen_llama");
    EXPECT(run_cmd(&out, "%s init --preset llama-tiny --vocab 50257 --max-position 4 --out %s", test_ttt_bin, ld) == 0,
           "%s", out);
    free(out);
    rc = run_cmd(&out, "%s generate --model %s --tokenizer %s --prompt 'one two three four five six seven'", test_ttt_bin,
                 ld, tk);
    EXPECT(rc != 0 && rc < 128 && strstr(out, "max_position_embeddings"), "%s", out);
    free(out);
    return TEST_PASS;
}
