/* test_errors.c: bad input gets a clear error and a non-zero exit, never a crash: missing or
 * unreadable files, corrupt safetensors (header length, JSON, offsets, overlaps, dtypes,
 * shapes), missing and unexpected tensors, inconsistent configs, token ids out of range,
 * empty input, bad flags. Each case runs the ttt command and checks the exit status (1 or 2,
 * not a signal) and that the message names what was wrong. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* a tiny valid model directory: returns its path */
static const char *base_model(void) {
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s", tmp_path("err_base"));
    char *out;
    if (run_cmd(&out, "rm -rf %s && %s init --preset ttt-linear-tiny --layers 1 --width 8 --heads 2 "
                "--intermediate 8 --vocab 11 --out %s", dir, test_ttt_bin, dir) != 0)
        test_fail("init failed: %s", out);
    free(out);
    return dir;
}

/* copy the base model to a new dir whose config.json is `config` (NULL: unchanged) */
static const char *model_with_config(const char *name, const char *config) {
    const char *base = base_model();
    const char *dir = tmp_path(name);
    char *out;
    run_cmd(&out, "rm -rf %s && cp -r %s %s", dir, base, dir);
    free(out);
    if (config) {
        char p[1100];
        snprintf(p, sizeof p, "%s/config.json", dir);
        write_whole(p, config, strlen(config));
    }
    return dir;
}

/* copy the base model and rewrite the safetensors header: replace `from` by `to` (first
 * occurrence), keeping the data; trunc > 0 cuts the file to that many bytes; hlen_add is
 * added to the stored header length */
static const char *model_with_header_edit(const char *name, const char *from, const char *to,
                                          long trunc, long hlen_add) {
    const char *dir = model_with_config(name, NULL);
    char p[1100];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    size_t len = 0;
    char *b = read_whole(p, &len);
    if (!b || len < 8) return dir;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | (unsigned char)b[i];
    char *hdr = malloc(hl + 1);
    memcpy(hdr, b + 8, hl);
    hdr[hl] = 0;
    char *nh = malloc(hl + 256);
    char *at = from ? strstr(hdr, from) : NULL;
    if (at) {
        size_t pre = (size_t)(at - hdr);
        memcpy(nh, hdr, pre);
        strcpy(nh + pre, to);
        strcat(nh, at + strlen(from));
    } else {
        strcpy(nh, hdr);
    }
    uint64_t nl = strlen(nh), stored = nl + (uint64_t)hlen_add;
    size_t total = 8 + nl + (len - 8 - hl);
    char *o = malloc(total);
    for (int i = 0; i < 8; i++) o[i] = (char)(stored >> (8 * i));
    memcpy(o + 8, nh, nl);
    memcpy(o + 8 + nl, b + 8 + hl, len - 8 - hl);
    write_whole(p, o, trunc > 0 ? (size_t)trunc : total);
    free(b), free(hdr), free(nh), free(o);
    return dir;
}

static const char *good_config =
    "{\"model_type\": \"ttt\", \"vocab_size\": 11, \"hidden_size\": 8, \"intermediate_size\": 8,"
    " \"num_hidden_layers\": 1, \"num_attention_heads\": 2, \"pre_conv\": true, \"share_qk\": true,"
    " \"use_gate\": true, \"ttt_layer_type\": \"linear\", \"mini_batch_size\": 16}";

static char *config_replace(const char *from, const char *to) {
    static char buf[2048];
    const char *at = strstr(good_config, from);
    if (!at) {
        snprintf(buf, sizeof buf, "%s", good_config);
        return buf;
    }
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - good_config), good_config, to, at + strlen(from));
    return buf;
}

TEST(test_errors_config) {
    const char *in = tmp_path("err_in.safetensors");
    char *out;
    run_cmd(&out, "true"); /* placeholder for a valid input file below */
    free(out);
    /* the unchanged good config loads */
    const char *ok_dir = model_with_config("cfg_ok", good_config);
    EXPECT(run_cmd(&out, "%s info --model %s", test_ttt_bin, ok_dir) == 0, "good config rejected: %s", out);
    free(out);
    int ok = 1;
    ok &= expect_cli_error("does_not_exist/config.json|cannot open", "forward --model %s/does_not_exist --random 1x4",
                       test_tmpdir);
    ok &= expect_cli_error("config.json|not valid JSON", "info --model %s", model_with_config("c1", "{\"vocab_size\": 11,"));
    ok &= expect_cli_error("\"hidden_size\"|missing", "info --model %s",
                       model_with_config("c2", config_replace("\"hidden_size\": 8,", "")));
    ok &= expect_cli_error("not divisible", "info --model %s",
                       model_with_config("c3", config_replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3")));
    ok &= expect_cli_error("num_hidden_layers|positive", "info --model %s",
                       model_with_config("c4", config_replace("\"num_hidden_layers\": 1", "\"num_hidden_layers\": 0")));
    ok &= expect_cli_error("ttt_layer_type|\"conv\"", "info --model %s",
                       model_with_config("c5", config_replace("\"linear\"", "\"conv\"")));
    ok &= expect_cli_error("\"hidden_size\"|integer", "info --model %s",
                       model_with_config("c6", config_replace("\"hidden_size\": 8", "\"hidden_size\": \"8\"")));
    ok &= expect_cli_error("model_type", "info --model %s",
                       model_with_config("c7", config_replace("\"model_type\": \"ttt\",", "")));
    ok &= expect_cli_error("pre_conv|true or false", "info --model %s",
                       model_with_config("c8", config_replace("\"pre_conv\": true", "\"pre_conv\": 1")));
    ok &= expect_cli_error("vocab_size|positive", "info --model %s",
                       model_with_config("c9", config_replace("\"vocab_size\": 11", "\"vocab_size\": -5")));
    ok &= expect_cli_error("model_type|\"gpt2\"", "info --model %s",
                       model_with_config("c10", config_replace("\"ttt\"", "\"gpt2\"")));
    /* the config of the model must match the tensors: head count changes W1's shape */
    ok &= expect_cli_error("model.safetensors|has shape|expected", "info --model %s",
                       model_with_config("c11", config_replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 4")));
    (void)in;
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_errors_safetensors) {
    int ok = 1;
    const char *d;
    char *out;
    d = model_with_config("s0", NULL);
    run_cmd(&out, "rm %s/model.safetensors", d);
    free(out);
    ok &= expect_cli_error("model.safetensors|cannot open", "info --model %s", d);
    /* truncated: the data of the last tensors is gone */
    d = model_with_header_edit("s1", NULL, NULL, 5000, 0);
    ok &= expect_cli_error("model.safetensors|truncated", "info --model %s", d);
    /* header length pointing beyond the file */
    d = model_with_header_edit("s2", NULL, NULL, 0, 1000000);
    ok &= expect_cli_error("model.safetensors|header length", "info --model %s", d);
    /* too short to hold a header */
    d = model_with_config("s3", NULL);
    char p[1100];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    write_whole(p, "abc", 3);
    ok &= expect_cli_error("model.safetensors|too short", "info --model %s", d);
    d = model_with_header_edit("s4", "{\"__metadata__\"", "[\"__metadata__\"", 0, 0);
    ok &= expect_cli_error("model.safetensors|JSON", "info --model %s", d);
    /* offsets out of range */
    d = model_with_header_edit("s5", "\"data_offsets\":[0,", "\"data_offsets\":[99999990,", 0, 0);
    ok &= expect_cli_error("model.safetensors|data_offsets", "info --model %s", d);
    /* a tensor's dtype that is not a float type */
    d = model_with_header_edit("s6", "\"dtype\":\"F32\"", "\"dtype\":\"I32\"", 0, 0);
    ok &= expect_cli_error("model.safetensors|dtype I32|float", "info --model %s", d);
    /* unknown dtype */
    d = model_with_header_edit("s7", "\"dtype\":\"F32\"", "\"dtype\":\"Q4\"", 0, 0);
    ok &= expect_cli_error("model.safetensors|unsupported dtype", "info --model %s", d);
    /* a shape that does not match its byte range */
    d = model_with_header_edit("s8", "\"shape\":[11,8]", "\"shape\":[11,9]", 0, 0);
    ok &= expect_cli_error("model.safetensors|model.embed_tokens.weight|need", "info --model %s", d);
    /* missing tensor (renamed) and so an unexpected one */
    d = model_with_header_edit("s9", "model.norm.weight", "model.norm.wait", 0, 0);
    ok &= expect_cli_error("model.safetensors|model.norm.weight|missing", "info --model %s", d);
    /* duplicate name */
    d = model_with_header_edit("s10", "model.norm.weight", "model.embed_tokens.weight", 0, 0);
    ok &= expect_cli_error("model.safetensors|duplicate key", "info --model %s", d);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* overlapping data and unexpected tensors need a hand-made file */
static void write_st(const char *path, const char *header, size_t data_bytes) {
    size_t hl = strlen(header);
    size_t total = 8 + hl + data_bytes;
    char *o = calloc(1, total);
    for (int i = 0; i < 8; i++) o[i] = (char)((uint64_t)hl >> (8 * i));
    memcpy(o + 8, header, hl);
    write_whole(path, o, total);
    free(o);
}

TEST(test_errors_safetensors_handmade) {
    int ok = 1;
    const char *d = model_with_config("h1", NULL);
    char p[1100];
    snprintf(p, sizeof p, "%s/model.safetensors", d);
    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24);
    ok &= expect_cli_error("overlap|'a'|'b'", "info --model %s", d);
    /* every real tensor present, plus an extra one */
    const char *base = base_model();
    const char *out_st = tmp_path("extra.safetensors");
    char *log;
    /* build the extra-tensor file by editing the header of a copy: rename nothing, append */
    d = model_with_header_edit("h2", "{\"__metadata__\":{\"format\":\"pt\"}",
                               "{\"__metadata__\":{\"format\":\"pt\"},\"extra.weight\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
                               0, 0);
    ok &= expect_cli_error("unexpected tensor|extra.weight", "info --model %s", d);
    (void)base, (void)out_st, (void)log;
    /* tied config with an lm_head.weight */
    d = model_with_header_edit("h3", "{\"__metadata__\":{\"format\":\"pt\"}",
                               "{\"__metadata__\":{\"format\":\"pt\"},\"lm_head.weight\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
                               0, 0);
    ok &= expect_cli_error("lm_head.weight|tie_word_embeddings", "info --model %s", d);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_errors_input) {
    int ok = 1;
    const char *d = base_model();
    const char *in = tmp_path("ids.safetensors");
    /* token id 11 with vocab 11 */
    write_st(in, "{\"input_ids\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[0,16]}}", 16);
    FILE *fp = fopen(in, "r+b");
    int64_t ids[2] = {3, 11};
    char hdr[256];
    fseek(fp, 0, SEEK_SET);
    if (fread(hdr, 1, 8, fp) != 8) ok = 0;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | (unsigned char)hdr[i];
    fseek(fp, (long)(8 + hl), SEEK_SET);
    fwrite(ids, 8, 2, fp);
    fclose(fp);
    ok &= expect_cli_error("token id 11|position 1|[0, 11)", "forward --model %s --input %s", d, in);
    ids[1] = -3;
    fp = fopen(in, "r+b");
    fseek(fp, (long)(8 + hl), SEEK_SET);
    fwrite(ids, 8, 2, fp);
    fclose(fp);
    ok &= expect_cli_error("token id -3", "forward --model %s --input %s", d, in);
    write_st(in, "{\"input_ids\":{\"dtype\":\"I64\",\"shape\":[1,0],\"data_offsets\":[0,0]}}", 0);
    ok &= expect_cli_error("input_ids|empty", "forward --model %s --input %s", d, in);
    write_st(in, "{\"tokens\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[0,16]}}", 16);
    ok &= expect_cli_error("input_ids", "forward --model %s --input %s", d, in);
    write_st(in, "{\"input_ids\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]}}", 8);
    ok &= expect_cli_error("input_ids|F32|I64 or I32", "forward --model %s --input %s", d, in);
    write_st(in, "{\"input_ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16);
    ok &= expect_cli_error("input_ids|dimensions", "forward --model %s --input %s", d, in);
    ok &= expect_cli_error("nothere.safetensors|cannot open", "forward --model %s --input %s/nothere.safetensors", d,
                       test_tmpdir);
    /* I32 input is accepted */
    write_st(in, "{\"input_ids\":{\"dtype\":\"I32\",\"shape\":[1,2],\"data_offsets\":[0,8]}}", 8);
    char *out;
    EXPECT(run_cmd(&out, "%s forward --model %s --input %s --output %s", test_ttt_bin, d, in,
                   tmp_path("o.safetensors")) == 0, "I32 input rejected: %s", out);
    free(out);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_errors_flags) {
    int ok = 1;
    const char *d = base_model();
    ok &= expect_cli_error("unknown flag '--bogus'", "forward --model %s --random 1x3 --bogus", d);
    ok &= expect_cli_error("--threads|integer", "forward --model %s --random 1x3 --threads abc", d);
    ok &= expect_cli_error("--model|needs a value", "forward --model");
    ok &= expect_cli_error("missing required flag --model", "forward --random 1x3");
    ok &= expect_cli_error("--random|BxL", "forward --model %s --random 0x3", d);
    ok &= expect_cli_error("--precision", "forward --model %s --random 1x3 --precision f16", d);
    ok &= expect_cli_error("unknown preset \"ttt-huge\"", "init --preset ttt-huge --out %s", tmp_path("x"));
    ok &= expect_cli_error("not divisible", "init --preset ttt-linear-tiny --width 30 --out %s", tmp_path("x"));
    ok &= expect_cli_error("--layers|integer", "init --preset ttt-linear-tiny --layers 0 --out %s", tmp_path("x"));
    ok &= expect_cli_error("unknown command 'frobnicate'", "frobnicate");
    ok &= expect_cli_error("cannot create|no_such_dir", "init --preset ttt-linear-tiny --out %s/no_such_dir/x", test_tmpdir);
    /* help and version succeed */
    char *out;
    EXPECT(run_cmd(&out, "%s --version", test_ttt_bin) == 0 && strstr(out, "ttt 0."), "--version: %s", out);
    free(out);
    EXPECT(run_cmd(&out, "%s help", test_ttt_bin) == 0 && strstr(out, "forward"), "help: %s", out);
    free(out);
    EXPECT(run_cmd(&out, "%s init --help", test_ttt_bin) == 0 && strstr(out, "ttt-linear-125m"), "init --help: %s", out);
    free(out);
    EXPECT(run_cmd(&out, "%s forward --help", test_ttt_bin) == 0 && strstr(out, "--decode"), "forward --help: %s", out);
    free(out);
    return ok ? TEST_PASS : TEST_FAIL;
}
