/* test_llama_errors.c: bad Llama model directories and inputs through the ttt command: a
 * clear message naming the file and the field or tensor, exit status 1 or 2, never a crash.
 * Configs: heads not a multiple of num_key_value_heads, an unsupported rope_scaling type, an odd
 * head_dim, a head_dim the tensors do not have, biases the file lacks, another activation,
 * zero kv heads (the rope_scaling fields one by one: test_llama_hf.c); tensors: a missing
 * layer tensor, k_proj of the wrong shape, lm_head missing (untied config) or unexpected
 * (tied config); a token id outside the vocabulary. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "test.h"

/* a copy of a valid tiny Llama (tied: llama-tiny, or untied) in the scratch dir */
static const char *copy_base(const char *name, int untied) {
    static char base[2][1024];
    const char *b = base[untied];
    char *out;
    if (!b[0]) {
        snprintf(base[untied], sizeof base[untied], "%s", tmp_path(untied ? "llama_err_untied" : "llama_err_tied"));
        if (run_cmd(&out, "%s init --preset llama-tiny %s --out %s", test_ttt_bin, untied ? "--untied" : "",
                    base[untied]) != 0)
            test_fail("init failed: %s", out);
        free(out);
    }
    const char *dir = tmp_path(name);
    run_cmd(&out, "rm -rf %s && cp -r %s %s", dir, b, dir);
    free(out);
    return dir;
}

/* set field `key` of DIR/config.json to the JSON text `value` (added if absent) */
static void set_field(const char *dir, const char *key, const char *value) {
    char path[1100], pat[128];
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *t = read_whole(path, NULL);
    if (!t) return;
    size_t cap = strlen(t) + strlen(value) + 256;
    char *o = malloc(cap);
    char *at = strstr(t, pat);
    if (at) { /* the value runs to the next ',' or newline (scalars and null only) */
        char *end = at + strlen(pat);
        while (*end && *end != ',' && *end != '\n') end++;
        snprintf(o, cap, "%.*s %s%s", (int)(at + strlen(pat) - t), t, value, end);
    } else {
        snprintf(o, cap, "{\"%s\": %s, %s", key, value, strchr(t, '{') + 1);
    }
    FILE *fp = fopen(path, "wb");
    if (fp) {
        fputs(o, fp);
        fclose(fp);
    }
    free(t);
    free(o);
}

/* rewrite DIR/model.safetensors without the tensor `drop` */
static int drop_tensor(const char *dir, const char *drop) {
    char path[1100];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_file f;
    if (st_open(&f, path) != TTT_OK) return 0;
    st_entry *e = calloc((size_t)f.n, sizeof *e);
    float **data = calloc((size_t)f.n, sizeof *data);
    int k = 0;
    for (int i = 0; i < f.n; i++) {
        if (strcmp(f.t[i].name, drop) == 0) continue;
        data[k] = malloc(sizeof(float) * (size_t)f.t[i].numel);
        st_read_f32(&f, &f.t[i], data[k], f.t[i].numel);
        e[k] = (st_entry){f.t[i].name, ST_F32, f.t[i].ndim, {0}, data[k], ST_SRC_F32};
        memcpy(e[k].shape, f.t[i].shape, sizeof e[k].shape);
        k++;
    }
    int ok = k == f.n - 1 && st_write(path, e, k) == TTT_OK;
    for (int i = 0; i < k; i++) free(data[i]);
    free(data);
    free(e);
    st_close(&f);
    return ok;
}

TEST(test_llama_errors_config) {
    int ok = 1;
    char *out;
    const char *d = copy_base("lc_ok", 0);
    EXPECT(run_cmd(&out, "%s forward --model %s --random 1x5", test_ttt_bin, d) == 0, "valid model rejected: %s", out);
    free(out);
    d = copy_base("lc1", 0);
    set_field(d, "num_key_value_heads", "3");
    ok &= expect_cli_error("config.json|\"num_attention_heads\" 4 is not a multiple of \"num_key_value_heads\" 3",
                       "forward --model %s --random 1x5", d);
    d = copy_base("lc2", 0);
    set_field(d, "rope_scaling", "{\"type\": \"yarn\", \"factor\": 2.0}");
    ok &= expect_cli_error("config.json|rope_scaling|\"yarn\" is not supported", "forward --model %s --random 1x5", d);
    d = copy_base("lc3", 0);
    set_field(d, "head_dim", "7");
    ok &= expect_cli_error("config.json|head_dim|even", "info --model %s", d);
    d = copy_base("lc3b", 0);
    set_field(d, "head_dim", "8"); /* valid, but q_proj of the file is [64, 64] */
    ok &= expect_cli_error("q_proj.weight|[32, 64]", "info --model %s", d);
    d = copy_base("lc4", 0);
    set_field(d, "attention_bias", "true");
    ok &= expect_cli_error("q_proj.bias|missing", "info --model %s", d);
    d = copy_base("lc5", 0);
    set_field(d, "hidden_act", "\"gelu\"");
    ok &= expect_cli_error("config.json|hidden_act|silu", "info --model %s", d);
    d = copy_base("lc6", 0);
    set_field(d, "num_key_value_heads", "0");
    ok &= expect_cli_error("config.json|num_key_value_heads", "info --model %s", d);
    d = copy_base("lc7", 0);
    set_field(d, "num_attention_heads", "3"); /* 64 / 3 */
    set_field(d, "head_dim", "null");
    ok &= expect_cli_error("config.json|not divisible", "info --model %s", d);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_llama_errors_tensors) {
    int ok = 1;
    /* a tensor missing from the file */
    const char *d = copy_base("lt1", 0);
    EXPECT(drop_tensor(d, "model.layers.1.mlp.up_proj.weight"), "rewriting the model file: %s", ttt_last_error());
    ok &= expect_cli_error("model.safetensors|'model.layers.1.mlp.up_proj.weight' is missing|[176, 64]",
                       "forward --model %s --random 1x5", d);
    /* the config asks for more layers than the file has */
    d = copy_base("lt2", 0);
    set_field(d, "num_hidden_layers", "3");
    ok &= expect_cli_error("model.safetensors|model.layers.2.|missing", "info --model %s", d);
    /* fewer kv heads in the config: k_proj of the file has the wrong shape */
    d = copy_base("lt3", 0);
    set_field(d, "num_key_value_heads", "1");
    ok &= expect_cli_error("model.safetensors|'model.layers.0.self_attn.k_proj.weight' has shape [32, 64], expected [16, 64]",
                       "forward --model %s --random 1x5", d);
    /* head untied in the config but absent from the file, and the other way round */
    d = copy_base("lt4", 0);
    set_field(d, "tie_word_embeddings", "false");
    ok &= expect_cli_error("model.safetensors|'lm_head.weight' is missing", "info --model %s", d);
    d = copy_base("lt5", 1);
    set_field(d, "tie_word_embeddings", "true");
    ok &= expect_cli_error("model.safetensors|unexpected tensor 'lm_head.weight'", "info --model %s", d);
    /* a token id outside the vocabulary (97) */
    d = copy_base("lt6", 0);
    const char *in = tmp_path("llama_bad_ids.safetensors");
    int64_t ids[6] = {1, 2, 3, 97, 4, 5};
    st_entry e = {"input_ids", ST_I64, 2, {2, 3}, ids, ST_SRC_RAW};
    EXPECT(st_write(in, &e, 1) == TTT_OK, "%s", ttt_last_error());
    ok &= expect_cli_error("token id 97|batch 1, position 0|vocab_size", "forward --model %s --input %s", d, in);
    return ok ? TEST_PASS : TEST_FAIL;
}
