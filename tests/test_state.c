/* test_state.c: state files (include/ttt_state.h). A cache saved and loaded again continues bit
 * for bit like the cache that was never saved, and like the full forward over every token
 * (every family, both precisions); the file's size is constant in the position for TTT and
 * Mamba and grows by exactly the keys and values of one position per token for the
 * Transformer; a state of another family, precision, configuration or weights is refused
 * naming what differs; damaged files are refused; XXH64 against the published vectors; and
 * `ttt generate --save-state / --load-state`: N tokens, save, M tokens from the state give the
 * same state file, byte for byte, as N + M tokens in one run, for every family. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models.h"
#include "test.h"
#include "ttt_generate.h"
#include "ttt_state.h"

TEST(test_state_xxh64_vectors) {
    /* the reference implementation's values (xxhsum, python-xxhash) */
    EXPECT(ttt_xxh64("", 0, 0) == 0xEF46DB3751D8E999ULL, "xxh64('') = %016llx", (unsigned long long)ttt_xxh64("", 0, 0));
    EXPECT(ttt_xxh64("abc", 3, 0) == 0x44BC2CF5AD770999ULL, "xxh64('abc') = %016llx",
           (unsigned long long)ttt_xxh64("abc", 3, 0));
    const char *s = "Nobody inspects the spammish repetition"; /* 39 bytes: stripes, words and a tail */
    EXPECT(ttt_xxh64(s, strlen(s), 0) == 0xFBCEA83C8A378BF1ULL, "xxh64('%s') = %016llx", s,
           (unsigned long long)ttt_xxh64(s, strlen(s), 0));
    return TEST_PASS;
}

/* in helpers that return 1 (ok) or 0 (failed, reported) */
#define CHECK(cond, ...) \
    do { \
        if (!(cond)) { \
            test_fail(__VA_ARGS__); \
            return 0; \
        } \
    } while (0)

static ttt_model *model_of(const char *preset, ttt_precision prec, uint64_t seed) {
    ttt_config c;
    if (ttt_config_preset(preset, &c) != TTT_OK) return NULL;
    return make_model(&c, prec, seed);
}

static long file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

/* prefill P tokens of B = 2 sequences, decode to position pos, save; load into a new cache;
 * both caches continue with the remaining tokens of L = 40 (a prefill of 5, then decode
 * steps): their logits must be bit for bit equal, and within atol of the full forward's */
static int roundtrip(const char *preset, ttt_precision prec, double atol, long *size_at, const int64_t *pos_list,
                     int npos) {
    ttt_model *m = model_of(preset, prec, 11);
    CHECK(m, "%s: %s", preset, ttt_last_error());
    const ttt_config *c = ttt_model_config(m);
    const int64_t B = 2, L = 40, P = 13;
    int64_t V = ttt_config_vocab_rows(c);
    int32_t ids[2 * 40], col[2];
    random_ids(ids, B * L, c->vocab_size, 12);
    float *ref = malloc(sizeof(float) * (size_t)(B * L * V)), *l1 = malloc(sizeof(float) * (size_t)(B * 5 * V)),
          *l2 = malloc(sizeof(float) * (size_t)(B * 5 * V));
    CHECK(ttt_forward(m, ids, B, L, ref, NULL) == TTT_OK, "%s", ttt_last_error());
    for (int k = 0; k < npos; k++) {
        int64_t pos = pos_list[k];
        ttt_cache *c1, *c2;
        int32_t pre[2 * 13];
        for (int64_t b = 0; b < B; b++) memcpy(pre + b * P, ids + b * L, sizeof(int32_t) * (size_t)P);
        CHECK(ttt_cache_create(m, B, &c1) == TTT_OK, "%s", ttt_last_error());
        CHECK(ttt_prefill(m, c1, pre, P, NULL) == TTT_OK, "%s", ttt_last_error());
        for (int64_t t = P; t < pos; t++) {
            for (int64_t b = 0; b < B; b++) col[b] = ids[b * L + t];
            CHECK(ttt_decode_step(m, c1, col, NULL) == TTT_OK, "%s", ttt_last_error());
        }
        const char *f = tmp_path("state_rt.safetensors");
        CHECK(ttt_cache_save(c1, f) == TTT_OK, "%s: save: %s", preset, ttt_last_error());
        size_at[k] = file_size(f);
        CHECK(ttt_cache_load(m, f, &c2) == TTT_OK, "%s: load at %lld: %s", preset, (long long)pos, ttt_last_error());
        CHECK(ttt_cache_position(c2) == pos, "%s: position %lld after load, saved at %lld", preset,
               (long long)ttt_cache_position(c2), (long long)pos);
        /* continue: a prefill of 5 tokens, then decode steps to the end */
        int32_t nx[2 * 5];
        for (int64_t b = 0; b < B; b++) memcpy(nx + b * 5, ids + b * L + pos, sizeof(int32_t) * 5);
        CHECK(ttt_prefill(m, c1, nx, 5, l1) == TTT_OK && ttt_prefill(m, c2, nx, 5, l2) == TTT_OK, "%s",
               ttt_last_error());
        char w[128];
        snprintf(w, sizeof w, "%s: prefill after a load at %lld", preset, (long long)pos);
        if (!check_bits(w, l1, l2, sizeof(float) * (size_t)(B * 5 * V))) return 0;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < 5; i++) {
                snprintf(w, sizeof w, "%s: loaded at %lld, sequence %lld, position %lld vs forward", preset, (long long)pos,
                         (long long)b, (long long)(pos + i));
                if (!check_close_f(w, l2 + (b * 5 + i) * V, ref + (b * L + pos + i) * V, V, atol, 0)) return 0;
            }
        for (int64_t t = pos + 5; t < L; t++) {
            for (int64_t b = 0; b < B; b++) col[b] = ids[b * L + t];
            CHECK(ttt_decode_step(m, c1, col, l1) == TTT_OK && ttt_decode_step(m, c2, col, l2) == TTT_OK, "%s",
                   ttt_last_error());
            snprintf(w, sizeof w, "%s: loaded at %lld, decode at %lld", preset, (long long)pos, (long long)t);
            if (!check_bits(w, l1, l2, sizeof(float) * (size_t)(B * V))) return 0;
            for (int64_t b = 0; b < B; b++)
                if (!check_close_f(w, l2 + b * V, ref + (b * L + t) * V, V, atol, 0)) return 0;
        }
        ttt_cache_free(c1), ttt_cache_free(c2);
    }
    free(ref), free(l1), free(l2);
    ttt_model_free(m);
    return 1;
}

TEST(test_state_roundtrip_every_family) {
    const char *presets[] = {"ttt-linear-tiny", "ttt-mlp-tiny", "ttt-linear-tiny-tf", "ttt-mlp-tiny-tf", "llama-tiny",
                             "mamba-tiny"};
    /* positions inside a mini-batch (13, 22), at its end (16) and just past it (17, 33) */
    const int64_t pos[] = {13, 16, 17, 22, 33};
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        long sz[5];
        EXPECT(roundtrip(presets[i], TTT_PREC_F32, 2e-4, sz, pos, 5), "%s (f32)", presets[i]);
        int llama = strncmp(presets[i], "llama", 5) == 0;
        ttt_config c;
        ttt_config_preset(presets[i], &c);
        /* the Transformer's state grows by K and V of one position (layers x 2 x B x kv_heads x
         * head_dim floats) per token; the others' does not change */
        int64_t hd = !llama ? 0 : c.head_dim ? c.head_dim : c.hidden_size / c.num_attention_heads;
        long per_pos = llama ? (long)(c.num_hidden_layers * 2 * 2 * c.num_key_value_heads * hd * 4) : 0;
        for (int k = 1; k < 5; k++) {
            /* the header's digits (position, shapes) may change its length by a few bytes, padded to 8 */
            long d = sz[k] - sz[0] - per_pos * (long)(pos[k] - pos[0]);
            EXPECT(d >= -16 && d <= 16, "%s: state of %ld bytes at position %lld, %ld at %lld: expected a difference of "
                   "%ld (+- header padding)", presets[i], sz[k], (long long)pos[k], sz[0], (long long)pos[0],
                   per_pos * (long)(pos[k] - pos[0]));
        }
    }
    long sz[2];
    const int64_t p2[] = {17, 22};
    EXPECT(roundtrip("ttt-linear-tiny", TTT_PREC_F64, 1e-9, sz, p2, 2), "ttt-linear-tiny (f64)");
    EXPECT(roundtrip("llama-tiny", TTT_PREC_F64, 1e-9, sz, p2, 2), "llama-tiny (f64)");
    EXPECT(roundtrip("mamba-tiny", TTT_PREC_F64, 1e-9, sz, p2, 2), "mamba-tiny (f64)");
    return TEST_PASS;
}

/* a saved state of model A (7 tokens) in f, and the error of loading it into m */
static int refused(ttt_model *m, const char *f, const char *needle, const char *what) {
    ttt_cache *c = NULL;
    ttt_status s = ttt_cache_load(m, f, &c);
    CHECK(s != TTT_OK && c == NULL, "%s: the state was accepted", what);
    CHECK(strstr(ttt_last_error(), needle), "%s: the message '%s' does not say '%s'", what, ttt_last_error(), needle);
    return 1;
}

static const char *save_of(ttt_model *m, const char *name, int64_t B, int64_t L) {
    int32_t ids[64];
    random_ids(ids, B * L, ttt_model_config(m)->vocab_size, 3);
    ttt_cache *c;
    const char *f = tmp_path(name);
    if (ttt_cache_create(m, B, &c) != TTT_OK || ttt_prefill(m, c, ids, L, NULL) != TTT_OK || ttt_cache_save(c, f) != TTT_OK) {
        test_fail("save %s: %s", name, ttt_last_error());
        return NULL;
    }
    ttt_cache_free(c);
    return f;
}

static const char *patched(const char *src, const char *out, const char *from, const char *to);

TEST(test_state_refuses_other_models) {
    ttt_model *a = model_of("ttt-linear-tiny", TTT_PREC_F32, 1);
    EXPECT(a, "%s", ttt_last_error());
    const char *f = save_of(a, "state_a.safetensors", 1, 7);
    EXPECT(f, "save");
    /* the same model loads it */
    ttt_cache *c;
    EXPECT(ttt_cache_load(a, f, &c) == TTT_OK && ttt_cache_position(c) == 7, "%s", ttt_last_error());
    ttt_cache_free(c);
    /* same configuration, other weights (another seed; then one changed parameter) */
    ttt_model *b = model_of("ttt-linear-tiny", TTT_PREC_F32, 2);
    if (!refused(b, f, "same configuration but other weights", "other weights")) return TEST_FAIL;
    ttt_model_free(b);
    int64_t i = ttt_param_count(a) - 1;
    int64_t shp[8], n = 1;
    int nd = ttt_param_shape(a, i, shp);
    for (int d = 0; d < nd; d++) n *= shp[d];
    float *p = malloc(sizeof(float) * (size_t)n);
    ttt_param_get(a, i, p);
    float keep = p[n / 2];
    p[n / 2] = nextafterf(keep, 1e30f); /* one bit of one weight */
    ttt_param_set(a, i, p);
    if (!refused(a, f, "other weights", "one weight changed by one ulp")) return TEST_FAIL;
    p[n / 2] = keep;
    ttt_param_set(a, i, p);
    free(p);
    EXPECT(ttt_cache_load(a, f, &c) == TTT_OK, "the weight restored: %s", ttt_last_error());
    ttt_cache_free(c);
    /* another configuration: the field is named */
    ttt_config cc;
    ttt_config_preset("ttt-linear-tiny", &cc);
    cc.intermediate_size = 64;
    b = make_model(&cc, TTT_PREC_F32, 1);
    if (!refused(b, f, "intermediate_size 176 in the state, 64 in this model", "other intermediate size")) return TEST_FAIL;
    ttt_model_free(b);
    ttt_config_preset("ttt-linear-tiny", &cc);
    cc.ttt_base_lr = 0.5;
    b = make_model(&cc, TTT_PREC_F32, 1);
    if (!refused(b, f, "ttt_base_lr", "other inner learning rate")) return TEST_FAIL;
    ttt_model_free(b);
    /* another family, another precision */
    b = model_of("mamba-tiny", TTT_PREC_F32, 1);
    if (!refused(b, f, "family \"ttt\", this model is Mamba", "Mamba")) return TEST_FAIL;
    ttt_model_free(b);
    b = model_of("llama-tiny", TTT_PREC_F32, 1);
    if (!refused(b, f, "family \"ttt\"", "Llama")) return TEST_FAIL;
    ttt_model_free(b);
    b = model_of("ttt-linear-tiny", TTT_PREC_F64, 1);
    if (!refused(b, f, "computes in float64", "float64")) return TEST_FAIL;
    ttt_model_free(b);
    /* a TTT state's tensors do not depend on the position: another position is caught by the
     * state checksum */
    char pos7[] = "\"position\":\"7\"";
    const char *t = patched(f, "state_pos", pos7, "\"position\":\"8\"");
    EXPECT(t, "no position in %s", f);
    if (!refused(a, t, "do not match its state_checksum", "position 7 -> 8")) return TEST_FAIL;
    /* position 0 has nothing to save */
    EXPECT(ttt_cache_create(a, 1, &c) == TTT_OK, "create");
    EXPECT(ttt_cache_save(c, tmp_path("state_empty")) == TTT_ERR_ARG && strstr(ttt_last_error(), "position 0"), "%s",
           ttt_last_error());
    ttt_cache_free(c);
    ttt_model_free(a);
    return TEST_PASS;
}

/* replace the first occurrence of `from` in the file by `to` (same length) into tmp_path(out) */
static const char *patched(const char *src, const char *out, const char *from, const char *to) {
    size_t n;
    char *d = read_whole(src, &n);
    if (!d) return NULL;
    size_t k = strlen(from);
    char *p = NULL;
    for (size_t i = 0; i + k <= n && !p; i++)
        if (memcmp(d + i, from, k) == 0) p = d + i;
    if (!p || k != strlen(to)) {
        free(d);
        return NULL;
    }
    memcpy(p, to, strlen(to));
    const char *o = tmp_path(out);
    write_whole(o, d, n);
    free(d);
    return o;
}

TEST(test_state_bad_files) {
    ttt_model *m = model_of("llama-tiny", TTT_PREC_F32, 1);
    EXPECT(m, "%s", ttt_last_error());
    const char *f = save_of(m, "state_l.safetensors", 2, 9);
    EXPECT(f, "save");
    size_t n;
    char *d = read_whole(f, &n);
    EXPECT(d, "read");
    /* truncated: every cut refused (the safetensors reader checks the offsets) */
    const size_t cuts[] = {0, 4, 8, 20, n / 2, n - 4, n - 1};
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        const char *t = tmp_path("state_cut");
        write_whole(t, d, cuts[k]);
        ttt_cache *c = NULL;
        EXPECT(ttt_cache_load(m, t, &c) != TTT_OK && !c, "cut at %zu bytes of %zu accepted", cuts[k], n);
    }
    char hash[64];
    snprintf(hash, sizeof hash, "\"config_hash\":\"%016llx\"", (unsigned long long)ttt_config_hash(ttt_model_config(m)));
    struct {
        const char *from, *to, *needle;
    } cases[] = {
        {"\"position\":\"9\"", "\"position\":\"8\"", "has shape [2, 2, 9, 16], expected [2, 2, 8, 16]"},
        {"\"position\":\"9\"", "\"position\":\"0\"", "position must be an integer in [1, 2^40]"},
        {"\"position\":\"9\"", "\"position\":\"x\"", "position must be an integer"},
        {"\"batch\":\"2\"", "\"batch\":\"1\"", "expected [1, 2, 9, 16]"},
        {"\"batch\":\"2\"", "\"batch\":\"0\"", "batch must be an integer in [1, 4096]"},
        {"\"state_format\":\"ttt-state\"", "\"state_format\":\"ttt-stat?\"", "not a ttt state file"},
        {"\"state_version\":\"1\"", "\"state_version\":\"2\"", "this ttt reads version 1"},
        {"\"family\":\"llama\"", "\"family\":\"mamba\"", "family \"mamba\""},
        {"\"precision\":\"float32\"", "\"precision\":\"float64\"", "computes in float32"},
        {"\"config_hash\":\"", "\"config_hasx\":\"", "has no \"config_hash\""},
        {hash, "\"config_hash\":\"0123456789abcdeF\"", "16 lowercase hex digits"},
        {hash, "\"config_hash\":\"0123456789abcdef\"", "another configuration (config hash 0123456789abcdef"},
        {"layers.1.attn.v", "layers.1.attn.w", "no tensor \"layers.1.attn.v\""},
        {"layers.0.attn.k", "layers.0.attn.q", "no tensor \"layers.0.attn.k\""},
        {"\"dtype\":\"F32\"", "\"dtype\":\"I32\"", "is I32, expected F32"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *t = patched(f, "state_bad", cases[k].from, cases[k].to);
        EXPECT(t, "case %zu: '%s' not in the file", k, cases[k].from);
        if (!refused(m, t, cases[k].needle, cases[k].to)) return TEST_FAIL;
    }
    /* one bit of a value flipped (still finite): the state checksum */
    d[n - 12] ^= 1;
    const char *t = tmp_path("state_flip");
    write_whole(t, d, n);
    if (!refused(m, t, "do not match its state_checksum", "a flipped bit")) return TEST_FAIL;
    d[n - 12] ^= 1;
    /* a NaN in the keys */
    float nan = NAN;
    memcpy(d + n - 8, &nan, 4);
    t = tmp_path("state_nan");
    write_whole(t, d, n);
    if (!refused(m, t, "is nan", "a NaN")) return TEST_FAIL;
    free(d);
    /* a model file is not a state */
    const char *md = tmp_path("state_model_dir");
    EXPECT(ttt_model_save(m, md, TTT_DTYPE_F32) == TTT_OK, "%s", ttt_last_error());
    char mf[1200];
    snprintf(mf, sizeof mf, "%s/model.safetensors", md);
    if (!refused(m, mf, "not a ttt state file", "model.safetensors")) return TEST_FAIL;
    /* the description of a good file */
    char *out;
    FILE *fp = fopen(tmp_path("state_desc.txt"), "w");
    EXPECT(fp && ttt_state_describe(f, fp) == TTT_OK, "%s", ttt_last_error());
    fclose(fp);
    out = read_whole(tmp_path("state_desc.txt"), NULL);
    EXPECT(out && strstr(out, "batch: 2 sequences") && strstr(out, "position: 9 tokens") && strstr(out, "family: llama") &&
           strstr(out, "cache: 4 tensors, 9216 bytes") &&
           strstr(out, "state_checksum: "), "%s", out ? out : "(none)");
    free(out);
    ttt_model_free(m);
    return TEST_PASS;
}

/* ttt_state_bytes against the shapes worked by hand */
TEST(test_state_bytes_by_hand) {
    struct {
        const char *preset;
        int64_t B, pos;
        uint64_t bytes;
    } cases[] = {
        /* 2 layers x (pre-conv and Q/K conv histories 2 x 3 x 64, W1 4 x 16 x 16 + b1 4 x 16, twice
         * with the gradient sums) x B floats */
        {"ttt-linear-tiny", 1, 7, 2 * (2 * 3 * 64 + 2 * (4 * 16 * 16 + 4 * 16)) * 4},
        {"ttt-linear-tiny", 3, 900, 3 * 2 * (2 * 3 * 64 + 2 * (4 * 16 * 16 + 4 * 16)) * 4},
        /* MLP: W1 16 x 64, b1 64, W2 64 x 16, b2 16 per head */
        {"ttt-mlp-tiny", 1, 5, 2 * (2 * 3 * 64 + 2 * 4 * (16 * 64 + 64 + 64 * 16 + 16)) * 4},
        /* Transformer backbone: no convolutions */
        {"ttt-linear-tiny-tf", 2, 5, 2 * 2 * (2 * (4 * 16 * 16 + 4 * 16)) * 4},
        /* 2 layers x K, V [B, 2 kv heads, pos, 16] */
        {"llama-tiny", 2, 9, 2 * 2 * 2 * 2 * 9 * 16 * 4},
        {"llama-tiny", 1, 1000, 2 * 2 * 2 * 1000 * 16 * 4},
        /* 2 layers x (conv history 3 x 128, h 128 x 16) */
        {"mamba-tiny", 1, 12345, 2 * (3 * 128 + 128 * 16) * 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ttt_config c;
        uint64_t b = 0;
        EXPECT(ttt_config_preset(cases[i].preset, &c) == TTT_OK, "%s", ttt_last_error());
        EXPECT(ttt_state_bytes(&c, cases[i].B, cases[i].pos, &b) == TTT_OK, "%s", ttt_last_error());
        EXPECT(b == cases[i].bytes, "%s, batch %lld, position %lld: %llu bytes, by hand %llu", cases[i].preset,
               (long long)cases[i].B, (long long)cases[i].pos, (unsigned long long)b, (unsigned long long)cases[i].bytes);
    }
    ttt_config c;
    uint64_t b;
    ttt_config_preset("llama-tiny", &c);
    EXPECT(ttt_state_bytes(&c, 0, 5, &b) == TTT_ERR_ARG && ttt_state_bytes(&c, 1, 0, &b) == TTT_ERR_ARG, "bad sizes");
    return TEST_PASS;
}

static const char *gpt2_tokenizer(void) {
    static const char *p = "data/tok/r50k_base.tiktoken";
    struct stat st;
    return stat(p, &st) == 0 ? p : NULL;
}

/* N + M tokens in one run vs N, save, M from the state: the same final state byte for byte */
TEST(test_state_generate_continuation) {
    const char *tk = gpt2_tokenizer();
    if (!tk) return test_skip("data/tok/r50k_base.tiktoken is absent (make data fetches it)");
    const char *presets[] = {"ttt-linear-tiny", "ttt-mlp-tiny", "llama-tiny", "mamba-tiny"};
    char *out;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        char md[1100], full[1100], a[1100], b[1100];
        snprintf(md, sizeof md, "%s", tmp_path(presets[i]));
        snprintf(full, sizeof full, "%.1000s.full", md);
        snprintf(a, sizeof a, "%.1000s.a", md);
        snprintf(b, sizeof b, "%.1000s.b", md);
        EXPECT(run_cmd(&out, "%s init --preset %s --vocab 50257 --bos 50256 --eos 50256 --out %s", test_ttt_bin,
                       presets[i], md) == 0, "%s", out);
        free(out);
        /* (the continuation takes the saved random stream: no --seed) */
        const char *g = "%s generate --model %s --tokenizer %s --quiet --temperature 0.9 --top-p 0.95";
        char base[3000];
        snprintf(base, sizeof base, g, test_ttt_bin, md, tk);
        EXPECT(run_cmd(&out, "%s --seed 5 --prompt 'The state of' --max-tokens 9 --save-state %s", base, full) == 0, "%s", out);
        free(out);
        EXPECT(run_cmd(&out, "%s --seed 5 --prompt 'The state of' --max-tokens 4 --save-state %s", base, a) == 0, "%s", out);
        free(out);
        EXPECT(run_cmd(&out, "%s --load-state %s --max-tokens 5 --save-state %s", base, a, b) == 0, "%s", out);
        EXPECT(strlen(out) > 1, "%s: the continuation printed nothing", presets[i]);
        free(out);
        size_t n1, n2;
        char *d1 = read_whole(full, &n1), *d2 = read_whole(b, &n2);
        EXPECT(d1 && d2 && n1 == n2 && memcmp(d1, d2, n1) == 0,
               "%s: the state after 4 + 5 tokens (%zu bytes) differs from the state after 9 (%zu bytes)", presets[i], n2, n1);
        free(d1), free(d2);
        if (i > 0) continue;
        /* a prompt appended to a state: positions add up */
        EXPECT(run_cmd(&out, "%s --load-state %s --prompt ' and more' --max-tokens 3 --save-state %s", base, a, b) == 0,
               "%s", out);
        free(out);
        EXPECT(run_cmd(&out, "%s info --state %s", test_ttt_bin, b) == 0, "%s", out);
        /* 'The state of' is 3 tokens + BOS, 4 generated, ' and more' 2, 3 generated */
        EXPECT(strstr(out, "position: 13 tokens"), "%s: %s", presets[i], out);
        free(out);
    }
    /* refused: a state of another model, and after the weights file changed */
    const char *md = tmp_path("ttt-linear-tiny"), *other = tmp_path("state_other");
    char a[1100];
    snprintf(a, sizeof a, "%s.a", md);
    EXPECT(run_cmd(&out, "%s init --preset ttt-linear-tiny --vocab 50257 --bos 50256 --eos 50256 --seed 9 --out %s",
                   test_ttt_bin, other) == 0, "%s", out);
    free(out);
    if (!expect_cli_error("same configuration but other weights", "generate --model %s --tokenizer %s --load-state %s",
                          other, tk, a))
        return TEST_FAIL;
    EXPECT(run_cmd(&out, "%s init --preset ttt-linear-tiny --vocab 50257 --bos 50256 --eos 50256 --seed 9 --out %s",
                   test_ttt_bin, md) == 0, "%s", out);
    free(out);
    if (!expect_cli_error("other weights", "generate --model %s --tokenizer %s --load-state %s", md, tk, a))
        return TEST_FAIL;
    if (!expect_cli_error("--batch 1", "generate --model %s --tokenizer %s --prompt x --batch 2 --save-state %s", md, tk, a))
        return TEST_FAIL;
    /* a state of two sequences (the library writes any batch) */
    {
        ttt_model *mm;
        EXPECT(ttt_model_load(md, NULL, &mm) == TTT_OK, "%s", ttt_last_error());
        ttt_cache *c2;
        int32_t ids2[6] = {1, 2, 3, 4, 5, 6};
        EXPECT(ttt_cache_create(mm, 2, &c2) == TTT_OK && ttt_prefill(mm, c2, ids2, 3, NULL) == TTT_OK &&
               ttt_cache_batch(c2) == 2, "%s", ttt_last_error());
        ttt_state_extra x2 = {ids2, NULL, NULL};
        EXPECT(ttt_cache_save_ex(c2, tmp_path("state_b2"), &x2) == TTT_OK, "%s", ttt_last_error());
        ttt_cache_free(c2);
        ttt_model_free(mm);
    }
    if (!expect_cli_error("holds 2 sequences", "generate --model %s --tokenizer %s --load-state %s --prompt x", md, tk,
                          tmp_path("state_b2")))
        return TEST_FAIL;
    if (!expect_cli_error("state_nonexistent", "generate --model %s --tokenizer %s --load-state %s", md, tk,
                          tmp_path("state_nonexistent")))
        return TEST_FAIL;
    return TEST_PASS;
}

/* ttt_decode_multi over 5 single-sequence caches at positions 3, 5, 19, 61, 35 (TTT: three of
 * them at the same place in a mini-batch, so they decode as one batch; Mamba: all five; the
 * Transformer: all five at their own positions, the one at 61 growing its key/value cache past
 * 64 positions on the way) against
 * ttt_decode_step on twin caches, for 6 steps: equal within TOL relative to the largest logit
 * (0: bit for bit, as ttt_state.h promises, the products of a batch taking the matrix-vector
 * path, whose sums do not depend on the other rows). */
static int multi_matches(const char *preset, ttt_precision prec, double tol, double *worst) {
    ttt_model *m = model_of(preset, prec, 21);
    CHECK(m, "%s: %s", preset, ttt_last_error());
    const int64_t n = 5, pre[5] = {3, 5, 19, 61, 35};
    int64_t V = ttt_config_vocab_rows(ttt_model_config(m)), Vt = ttt_model_config(m)->vocab_size;
    ttt_cache *a[5], *b[5];
    int32_t ids[64];
    for (int64_t i = 0; i < n; i++) {
        random_ids(ids, pre[i], Vt, 30 + (uint64_t)i);
        CHECK(ttt_cache_create(m, 1, &a[i]) == TTT_OK && ttt_cache_create(m, 1, &b[i]) == TTT_OK, "%s", ttt_last_error());
        CHECK(ttt_prefill(m, a[i], ids, pre[i], NULL) == TTT_OK && ttt_prefill(m, b[i], ids, pre[i], NULL) == TTT_OK,
              "%s", ttt_last_error());
    }
    float *la = malloc(sizeof(float) * (size_t)(n * V)), *lb = malloc(sizeof(float) * (size_t)V);
    *worst = 0;
    for (int step = 0; step < 6; step++) {
        int32_t col[5];
        random_ids(col, n, Vt, 100 + (uint64_t)step);
        CHECK(ttt_decode_multi(m, a, n, col, la) == TTT_OK, "%s: %s", preset, ttt_last_error());
        for (int64_t i = 0; i < n; i++) {
            CHECK(ttt_decode_step(m, b[i], col + i, lb) == TTT_OK, "%s", ttt_last_error());
            CHECK(ttt_cache_position(a[i]) == ttt_cache_position(b[i]), "%s: cache %lld at %lld, its twin at %lld", preset,
                  (long long)i, (long long)ttt_cache_position(a[i]), (long long)ttt_cache_position(b[i]));
            double mx = 0, dmax = 0;
            int64_t at = 0;
            for (int64_t v = 0; v < V; v++) {
                double r = fabs((double)lb[v]), e = fabs((double)la[i * V + v] - (double)lb[v]);
                if (r > mx) mx = r;
                if (e > dmax) dmax = e, at = v;
            }
            double rel = dmax / (mx > 0 ? mx : 1);
            if (rel > *worst) *worst = rel;
            CHECK(rel <= tol, "%s: step %d, cache %lld (position %lld): logit %lld is %.9g, alone %.9g (%.3g of the "
                  "largest, tolerance %.1g)", preset, step, (long long)i, (long long)ttt_cache_position(b[i]), (long long)at,
                  (double)la[i * V + at], (double)lb[at], rel, tol);
        }
    }
    for (int64_t i = 0; i < n; i++) ttt_cache_free(a[i]), ttt_cache_free(b[i]);
    free(la), free(lb);
    ttt_model_free(m);
    return 1;
}

TEST(test_state_decode_multi_every_family) {
    const char *presets[] = {"ttt-linear-tiny", "ttt-mlp-tiny", "ttt-linear-tiny-tf", "llama-tiny", "mamba-tiny"};
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        double w32, w64;
        EXPECT(multi_matches(presets[i], TTT_PREC_F32, 0, &w32), "%s (f32)", presets[i]);
        EXPECT(multi_matches(presets[i], TTT_PREC_F64, 0, &w64), "%s (f64)", presets[i]);
        printf("  %-20s worst difference %.2g (f32), %.2g (f64) of the largest logit\n", presets[i], w32, w64);
    }
    /* bad calls */
    ttt_model *m = model_of("mamba-tiny", TTT_PREC_F32, 1), *o = model_of("mamba-tiny", TTT_PREC_F32, 2);
    ttt_cache *c[2], *two, *other;
    int32_t id[2] = {1, 2};
    EXPECT(ttt_cache_create(m, 1, &c[0]) == TTT_OK && ttt_cache_create(m, 2, &two) == TTT_OK &&
           ttt_cache_create(o, 1, &other) == TTT_OK, "create");
    c[1] = c[0];
    EXPECT(ttt_decode_multi(m, c, 2, id, NULL) == TTT_ERR_ARG && strstr(ttt_last_error(), "same cache"), "%s",
           ttt_last_error());
    c[1] = two;
    EXPECT(ttt_decode_multi(m, c, 2, id, NULL) == TTT_ERR_ARG && strstr(ttt_last_error(), "holds 2 sequences"), "%s",
           ttt_last_error());
    c[1] = other;
    EXPECT(ttt_decode_multi(m, c, 2, id, NULL) == TTT_ERR_ARG && strstr(ttt_last_error(), "another model"), "%s",
           ttt_last_error());
    EXPECT(ttt_decode_multi(m, c, 0, id, NULL) == TTT_OK, "n = 0: %s", ttt_last_error());
    ttt_cache *c2[2];
    EXPECT(ttt_cache_create(m, 1, &c2[0]) == TTT_OK && ttt_cache_create(m, 1, &c2[1]) == TTT_OK, "create");
    int32_t bad[2] = {1, 1 << 30};
    EXPECT(ttt_decode_multi(m, c2, 2, bad, NULL) == TTT_ERR_ARG && strstr(ttt_last_error(), "1073741824"), "%s",
           ttt_last_error());
    EXPECT(ttt_cache_position(c2[0]) == 0 && ttt_cache_position(c2[1]) == 0, "a refused step moved a cache");
    ttt_cache_free(c2[0]), ttt_cache_free(c2[1]);
    ttt_cache_free(c[0]), ttt_cache_free(two), ttt_cache_free(other);
    ttt_model_free(m), ttt_model_free(o);
    return TEST_PASS;
}
