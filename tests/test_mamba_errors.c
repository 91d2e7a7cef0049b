/* test_mamba_errors.c: bad Mamba configs and files through the ttt command get a clear error
 * (naming the file and the field or tensor) and exit status 1 or 2, never a crash: configs in
 * the Hugging Face format and in mamba_ssm's original format, missing or misshapen tensors,
 * the embedding's padded row count, and token ids at or above vocab_size. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ttt.h"

static const char *hf_config =
    "{\"model_type\": \"mamba\", \"vocab_size\": 11, \"hidden_size\": 8, \"intermediate_size\": 16,"
    " \"state_size\": 4, \"num_hidden_layers\": 1, \"conv_kernel\": 4, \"expand\": 2, \"time_step_rank\": 2,"
    " \"use_bias\": false, \"use_conv_bias\": true, \"layer_norm_epsilon\": 1e-5,"
    " \"tie_word_embeddings\": true, \"hidden_act\": \"silu\"}";

static const char *ssm_config =
    "{\"d_model\": 8, \"n_layer\": 1, \"vocab_size\": 11, \"ssm_cfg\": {\"d_state\": 4, \"dt_rank\": 2},"
    " \"rms_norm\": true, \"residual_in_fp32\": true, \"fused_add_norm\": true,"
    " \"pad_vocab_size_multiple\": 8, \"tie_embeddings\": true}";

/* a valid tiny model directory (HF or mamba_ssm format) made through the library */
static const char *base_dir(int ssm) {
    static char dirs[2][1024];
    char *dir = dirs[ssm];
    if (dir[0]) return dir;
    snprintf(dir, sizeof dirs[0], "%s", tmp_path(ssm ? "mamba_err_base_ssm" : "mamba_err_base_hf"));
    ttt_config c;
    ttt_config_preset("mamba-tiny", &c);
    c.hidden_size = 8, c.intermediate_size = 16, c.state_size = 4, c.time_step_rank = 2;
    c.num_hidden_layers = 1, c.vocab_size = 11;
    c.mamba_ssm_format = ssm;
    c.pad_vocab_size_multiple = ssm ? 8 : 1;
    ttt_model *m;
    if (ttt_model_create(&c, 1, NULL, &m) != TTT_OK || ttt_model_save(m, dir, TTT_DTYPE_F32) != TTT_OK)
        test_fail("creating the base model: %s", ttt_last_error());
    ttt_model_free(m);
    char p[1100];
    snprintf(p, sizeof p, "%s/config.json", dir);
    const char *cfg = ssm ? ssm_config : hf_config;
    write_whole(p, cfg, strlen(cfg));
    return dir;
}

/* a copy of the base model with config text `config` (NULL: unchanged) and the first `from`
 * in the safetensors header replaced by `to` (NULL: unchanged) */
static const char *variant(const char *name, int ssm, const char *config, const char *from, const char *to) {
    const char *dir = tmp_path(name);
    char *out;
    run_cmd(&out, "rm -rf %s && cp -r %s %s", dir, base_dir(ssm), dir);
    free(out);
    char p[1100];
    if (config) {
        snprintf(p, sizeof p, "%s/config.json", dir);
        write_whole(p, config, strlen(config));
    }
    if (from) {
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        size_t len = 0;
        char *b = read_whole(p, &len);
        uint64_t hl = 0;
        for (int i = 7; i >= 0; i--) hl = (hl << 8) | (unsigned char)b[i];
        char *hdr = calloc(1, hl + 1);
        memcpy(hdr, b + 8, hl);
        char *at = strstr(hdr, from);
        if (!at) {
            test_fail("'%s' not in the header of %s", from, p);
        } else {
            size_t pre = (size_t)(at - hdr), nl = hl - strlen(from) + strlen(to);
            char *o = malloc(8 + nl + (len - 8 - hl));
            for (int i = 0; i < 8; i++) o[i] = (char)((uint64_t)nl >> (8 * i));
            memcpy(o + 8, hdr, pre);
            memcpy(o + 8 + pre, to, strlen(to));
            memcpy(o + 8 + pre + strlen(to), at + strlen(from), hl - pre - strlen(from));
            memcpy(o + 8 + nl, b + 8 + hl, len - 8 - hl);
            write_whole(p, o, 8 + nl + (len - 8 - hl));
            free(o);
        }
        free(hdr);
        free(b);
    }
    return dir;
}

/* the config text with `from` replaced by `to` */
static const char *edit(const char *cfg, const char *from, const char *to) {
    static char bufs[4][2048];
    static int k;
    char *buf = bufs[k++ % 4];
    const char *at = strstr(cfg, from);
    if (!at) {
        test_fail("'%s' not in the config", from);
        snprintf(buf, sizeof bufs[0], "%s", cfg);
        return buf;
    }
    snprintf(buf, sizeof bufs[0], "%.*s%s%s", (int)(at - cfg), cfg, to, at + strlen(from));
    return buf;
}

TEST(test_mamba_errors_config) {
    char *out;
    /* the base models load and run */
    EXPECT(run_cmd(&out, "%s forward --model %s --random 2x9 --grad --decode", test_ttt_bin, base_dir(0)) == 0,
           "forward on the base model: %s", out);
    free(out);
    EXPECT(run_cmd(&out, "%s forward --model %s --random 1x2", test_ttt_bin, base_dir(1)) == 0,
           "the mamba_ssm-format base model: %s", out);
    free(out);
    int ok = 1;
    /* Hugging Face format */
    ok &= expect_cli_error("config.json|intermediate_size|expand * hidden_size", "info --model %s",
                       variant("me1", 0, edit(hf_config, "\"intermediate_size\": 16", "\"intermediate_size\": 17"), NULL, NULL));
    ok &= expect_cli_error("config.json|\"state_size\"|positive", "info --model %s",
                       variant("me2", 0, edit(hf_config, "\"state_size\": 4", "\"state_size\": 0"), NULL, NULL));
    ok &= expect_cli_error("config.json|conv_kernel", "info --model %s",
                       variant("me3", 0, edit(hf_config, "\"conv_kernel\": 4", "\"conv_kernel\": 0"), NULL, NULL));
    ok &= expect_cli_error("config.json|\"hidden_act\"|silu", "info --model %s",
                       variant("me4", 0, edit(hf_config, "\"silu\"", "\"gelu\""), NULL, NULL));
    ok &= expect_cli_error("config.json|\"use_bias\"|true or false", "info --model %s",
                       variant("me5", 0, edit(hf_config, "\"use_bias\": false", "\"use_bias\": 0"), NULL, NULL));
    ok &= expect_cli_error("config.json|\"hidden_size\"|missing", "info --model %s",
                       variant("me6", 0, edit(hf_config, "\"hidden_size\": 8,", ""), NULL, NULL));
    ok &= expect_cli_error("config.json|\"time_step_rank\"|integer", "info --model %s",
                       variant("me7", 0, edit(hf_config, "\"time_step_rank\": 2", "\"time_step_rank\": \"big\""), NULL, NULL));
    /* the config must match the tensors: a larger dt rank changes x_proj's shape */
    ok &= expect_cli_error("model.safetensors|x_proj.weight|has shape [10, 16]|expected [11, 16]", "info --model %s",
                       variant("me8", 0, edit(hf_config, "\"time_step_rank\": 2", "\"time_step_rank\": 3"), NULL, NULL));
    ok &= expect_cli_error("model.safetensors|in_proj.bias|missing", "info --model %s",
                       variant("me9", 0, edit(hf_config, "\"use_bias\": false", "\"use_bias\": true"), NULL, NULL));
    /* mamba_ssm's original format */
    ok &= expect_cli_error("config.json|\"ssm_cfg\"|object", "info --model %s",
                       variant("ms1", 1, edit(ssm_config, "{\"d_state\": 4, \"dt_rank\": 2}", "3"), NULL, NULL));
    ok &= expect_cli_error("config.json|\"d_state\"|integer", "info --model %s",
                       variant("ms2", 1, edit(ssm_config, "\"d_state\": 4", "\"d_state\": 4.5"), NULL, NULL));
    ok &= expect_cli_error("config.json|\"rms_norm\"|LayerNorm", "info --model %s",
                       variant("ms3", 1, edit(ssm_config, "\"rms_norm\": true", "\"rms_norm\": false"), NULL, NULL));
    ok &= expect_cli_error("config.json|\"n_layer\"|missing", "info --model %s",
                       variant("ms4", 1, edit(ssm_config, "\"n_layer\": 1,", ""), NULL, NULL));
    ok &= expect_cli_error("config.json|pad_vocab_size_multiple|positive", "info --model %s",
                       variant("ms5", 1, edit(ssm_config, "\"pad_vocab_size_multiple\": 8", "\"pad_vocab_size_multiple\": 0"), NULL, NULL));
    /* the padded vocabulary: 11 rounded up to 16 rows; without padding the rows do not match */
    ok &= expect_cli_error("model.safetensors|backbone.embedding.weight|has shape [16, 8]|expected [11, 8]", "info --model %s",
                       variant("ms6", 1, edit(ssm_config, "\"pad_vocab_size_multiple\": 8", "\"pad_vocab_size_multiple\": 1"), NULL, NULL));
    /* a Hugging Face file under an original-format config: the embedding's name differs */
    ok &= expect_cli_error("model.safetensors|backbone.embedding.weight|missing", "info --model %s",
                       variant("ms7", 0, ssm_config, NULL, NULL));
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_mamba_errors_tensors) {
    int ok = 1;
    ok &= expect_cli_error("model.safetensors|backbone.layers.0.mixer.A_log|missing", "info --model %s",
                       variant("mt1", 0, NULL, "backbone.layers.0.mixer.A_log", "backbone.layers.0.mixer.A_lug"));
    ok &= expect_cli_error("model.safetensors|backbone.norm_f.weight|missing", "info --model %s",
                       variant("mt2", 0, NULL, "backbone.norm_f.weight", "backbone.norm_g.weight"));
    /* an extra tensor: renaming conv1d.bias leaves an unexpected one after the missing one */
    ok &= expect_cli_error("model.safetensors|conv1d.bias|missing", "info --model %s",
                       variant("mt3", 0, NULL, "mixer.conv1d.bias", "mixer.conv1d.bies"));
    ok &= expect_cli_error("model.safetensors|unexpected tensor|conv1d.bias", "info --model %s",
                       variant("mt4", 0, edit(hf_config, "\"use_conv_bias\": true", "\"use_conv_bias\": false"), NULL, NULL));
    /* an untied config needs lm_head.weight */
    ok &= expect_cli_error("model.safetensors|lm_head.weight|missing", "info --model %s",
                       variant("mt5", 0, edit(hf_config, "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false"), NULL, NULL));
    return ok ? TEST_PASS : TEST_FAIL;
}

/* token ids at or above vocab_size are rejected, also when the embedding has padded rows */
TEST(test_mamba_errors_token_ids) {
    const char *in = tmp_path("mamba_err_ids.safetensors");
    char hdr[] = "{\"input_ids\":{\"dtype\":\"I64\",\"shape\":[1,3],\"data_offsets\":[0,24]}}";
    size_t hl = strlen(hdr);
    char buf[256];
    for (int i = 0; i < 8; i++) buf[i] = (char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    int64_t ids[3] = {1, 11, 2}; /* vocab_size 11; the mamba_ssm embedding has 16 rows */
    memcpy(buf + 8 + hl, ids, sizeof ids);
    write_whole(in, buf, 8 + hl + sizeof ids);
    int ok = 1;
    ok &= expect_cli_error("token id 11|position 1|[0, 11)|vocab_size", "forward --model %s --input %s", base_dir(0), in);
    ok &= expect_cli_error("token id 11|position 1|[0, 11)|vocab_size", "forward --model %s --input %s", base_dir(1), in);
    return ok ? TEST_PASS : TEST_FAIL;
}
