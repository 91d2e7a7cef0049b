/* fuzz_state.c: libFuzzer harness for the state-file reader (ttt_cache_load_ex, and
 * ttt_state_describe): the bytes as a state file, loaded into a tiny TTT-Linear model and into
 * a tiny Llama model (whose state's shapes depend on the position). What it accepts must be a
 * cache a decode step can continue: batch in [1, TTT_STATE_MAX_BATCH], position >= 1 (and
 * within the Llama model's context), extras of the promised sizes with ids in the vocabulary;
 * one decode step then runs on it. A refused file leaves *out NULL and the extras empty.
 *
 * Seeds: TTT_FUZZ_SEED_OUT=DIR fuzz_state writes valid states of both models (made by
 * ttt_cache_save_ex, extras included) into DIR and exits (mk/fuzz.mk does this before fuzzing). */
#include <stdint.h>

#include "fuzz_util.h"
#include "model/model.h"
#include "ttt.h"
#include "ttt_state.h"

static ttt_model *models[2];

static ttt_model *tiny(const char *preset) {
    ttt_config c;
    if (ttt_config_preset(preset, &c) != TTT_OK) abort();
    c.num_hidden_layers = 1, c.hidden_size = 8, c.num_attention_heads = 2, c.intermediate_size = 8;
    c.vocab_size = 11;
    if (c.arch == TTT_ARCH_LLAMA) c.num_key_value_heads = 1, c.max_position_embeddings = 64;
    ttt_options o;
    ttt_options_default(&o);
    o.threads = 1;
    ttt_model *m;
    if (ttt_model_create(&c, 0, &o, &m) != TTT_OK) {
        fprintf(stderr, "model: %s\n", ttt_last_error());
        abort();
    }
    return m;
}

static void write_seeds(const char *dir) {
    for (int k = 0; k < 2; k++) {
        ttt_model *m = models[k];
        int64_t B = 2, L = 5 + 9 * k;
        int32_t ids[2 * 14];
        for (int64_t i = 0; i < B * L; i++) ids[i] = (int32_t)(3 + i % 8);
        float logits[2 * 11];
        uint64_t rng[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        ttt_cache *c;
        if (ttt_cache_create(m, B, &c) != TTT_OK || ttt_prefill_last(m, c, ids, L, logits) != TTT_OK) abort();
        ttt_state_extra x = {ids, logits, rng};
        char path[512];
        snprintf(path, sizeof path, "%s/%s.st", dir, k ? "llama" : "ttt");
        if (ttt_cache_save_ex(c, path, &x) != TTT_OK) {
            fprintf(stderr, "seed: %s\n", ttt_last_error());
            exit(1);
        }
        ttt_cache_free(c);
        ttt_cache *back;
        if (ttt_cache_load(m, path, &back) != TTT_OK) { /* the seed must be accepted */
            fprintf(stderr, "seed not accepted: %s\n", ttt_last_error());
            exit(1);
        }
        ttt_cache_free(back);
    }
    exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    models[0] = tiny("ttt-linear-tiny");
    models[1] = tiny("llama-tiny");
    const char *out = getenv("TTT_FUZZ_SEED_OUT");
    if (out) write_seeds(out);
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    const char *p = fuzz_file("state.safetensors", data, n);
    FILE *devnull = fopen("/dev/null", "w");
    if (!devnull) abort();
    (void)ttt_state_describe(p, devnull);
    fclose(devnull);
    for (int k = 0; k < 2; k++) {
        ttt_model *m = models[k];
        ttt_cache *c = (ttt_cache *)1;
        ttt_state_extra x = {(int32_t *)1, (float *)1, (uint64_t *)1};
        if (ttt_cache_load_ex(m, p, &c, &x) != TTT_OK) {
            if (c || x.tokens || x.logits || x.rng) abort(); /* a refusal hands nothing out */
            continue;
        }
        int64_t pos = ttt_cache_position(c), limit = ttt_config_max_context(ttt_model_config(m));
        if (!c || pos < 1 || (limit > 0 && pos > limit)) abort();
        if (x.tokens)
            for (int64_t i = 0; i < pos; i++)
                if (x.tokens[i] < 0 || x.tokens[i] >= 11) abort();
        /* the cache continues: one decode step (small caches only, to keep the fuzzing fast) */
        if (c->B < 1 || c->B > TTT_STATE_MAX_BATCH) abort();
        if (pos < 64 && c->B <= 8) {
            int32_t id[8] = {3, 4, 5, 6, 7, 8, 9, 10};
            if (ttt_decode_step(m, c, id, NULL) != TTT_OK) abort();
        }
        ttt_cache_free(c);
        ttt_state_extra_free(&x);
    }
    return 0;
}
