/* test_robust_load.c: loading hostile model directories and input files (issue 16): duplicate
 * keys in a safetensors header and in config.json, non-finite weights, absurd config values,
 * sizes whose products overflow, a config that disagrees with the tensor shapes by a huge
 * factor, and special files given where a regular file is expected. Every case is an error
 * whose message names the problem, never a crash, a hang or a silently wrong result. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "test.h"

/* the header of a safetensors file split into length, JSON text and data */
typedef struct {
    char *json;
    char *data;
    size_t data_len;
} st_parts;

static int st_split(const char *path, st_parts *p) {
    size_t len;
    char *all = read_whole(path, &len);
    if (!all || len < 8) {
        free(all);
        test_fail("cannot read %s", path);
        return 0;
    }
    uint64_t h = 0;
    for (int i = 7; i >= 0; i--) h = (h << 8) | (unsigned char)all[i];
    p->json = malloc(h + 1);
    memcpy(p->json, all + 8, h);
    p->json[h] = 0;
    p->data_len = len - 8 - h;
    p->data = malloc(p->data_len ? p->data_len : 1);
    memcpy(p->data, all + 8 + h, p->data_len);
    free(all);
    return 1;
}

static void st_join(const char *path, const char *json, const st_parts *p) {
    size_t h = strlen(json), n = 8 + h + p->data_len;
    char *all = malloc(n);
    for (int i = 0; i < 8; i++) all[i] = (char)(((uint64_t)h >> (8 * i)) & 0xff);
    memcpy(all + 8, json, h);
    memcpy(all + 8 + h, p->data, p->data_len);
    write_whole(path, all, n);
    free(all);
}

static void st_free(st_parts *p) {
    free(p->json);
    free(p->data);
}

/* replace the first occurrence of FROM in the file's header JSON by TO */
static int st_edit_header(const char *path, const char *from, const char *to) {
    st_parts p;
    if (!st_split(path, &p)) return 0;
    char *at = strstr(p.json, from);
    if (!at) {
        test_fail("'%s' not in the header of %s: %s", from, path, p.json);
        st_free(&p);
        return 0;
    }
    size_t n = strlen(p.json) - strlen(from) + strlen(to) + 1;
    char *j = malloc(n);
    snprintf(j, n, "%.*s%s%s", (int)(at - p.json), p.json, to, at + strlen(from));
    st_join(path, j, &p);
    free(j);
    st_free(&p);
    return 1;
}

static int config_edit(const char *dir, const char *from, const char *to) {
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *t = read_whole(path, NULL);
    char *at = t ? strstr(t, from) : NULL;
    if (!at) {
        test_fail("'%s' not in %s", from, path);
        free(t);
        return 0;
    }
    size_t n = strlen(t) - strlen(from) + strlen(to) + 1;
    char *j = malloc(n);
    snprintf(j, n, "%.*s%s%s", (int)(at - t), t, to, at + strlen(from));
    write_whole(path, j, strlen(j));
    free(j);
    free(t);
    return 1;
}

static const char *weights(const char *dir) {
    static char p[1024];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    return p;
}

/* defect 1: a second __metadata__ object used to keep counting into the first one's array */
TEST(robust_load_duplicate_metadata) {
    const char *m = tiny_model("rl_dupmeta", "");
    if (!m) return TEST_FAIL;
    if (!st_edit_header(weights(m), "{", "{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\"},"))
        return TEST_FAIL;
    if (!expect_cli_error("duplicate key|__metadata__|model.safetensors", "info --model %s", m)) return TEST_FAIL;
    /* the same through --input and its metadata */
    const char *in = tmp_path("rl_dupmeta_in.safetensors");
    char *out;
    int rc = run_cmd(&out, "cp %s %s", weights(m), in);
    free(out);
    EXPECT(rc == 0, "copy failed");
    const char *m2 = tiny_model("rl_dupmeta_ok", "");
    if (!m2) return TEST_FAIL;
    return expect_cli_error("duplicate key|__metadata__", "forward --model %s --input %s", m2, in) ? TEST_PASS
                                                                                               : TEST_FAIL;
}

TEST(robust_load_duplicate_keys) {
    /* a tensor entry named twice, and a key twice inside one tensor entry */
    const char *m = tiny_model("rl_duptensor", "");
    if (!m) return TEST_FAIL;
    if (!st_edit_header(weights(m), "\"dtype\":", "\"dtype\":\"F32\",\"dtype\":")) return TEST_FAIL;
    if (!expect_cli_error("duplicate key \"dtype\"|object \"", "info --model %s", m)) return TEST_FAIL;
    /* a metadata key twice with different values (the same value twice is what earlier
     * training states hold, and is accepted: every reader sees one value) */
    m = tiny_model("rl_dupmetakey", "");
    if (!m) return TEST_FAIL;
    if (!st_edit_header(weights(m), "\"format\":\"pt\"", "\"format\":\"pt\",\"format\":\"np\"")) return TEST_FAIL;
    if (!expect_cli_error("duplicate key \"format\"|__metadata__", "info --model %s", m)) return TEST_FAIL;
    /* config.json: top level (Python keeps the last copy, cJSON the first) */
    m = tiny_model("rl_dupcfg", "");
    if (!m) return TEST_FAIL;
    if (!config_edit(m, "{", "{\"hidden_size\": 16,")) return TEST_FAIL;
    if (!expect_cli_error("duplicate key \"hidden_size\"|config.json|top-level", "info --model %s", m))
        return TEST_FAIL;
    /* nested: a Mamba ssm_cfg object with a repeated key */
    char *out;
    const char *d = tmp_path("rl_dupnested");
    int rc = run_cmd(&out, "mkdir -p %s", d);
    free(out);
    EXPECT(rc == 0, "mkdir failed");
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", d);
    const char *cfg = "{\"d_model\": 8, \"n_layer\": 1, \"vocab_size\": 11, "
                      "\"ssm_cfg\": {\"d_state\": 4, \"d_state\": 8}}";
    write_whole(path, cfg, strlen(cfg));
    return expect_cli_error("duplicate key \"d_state\"|ssm_cfg", "info --model %s", d) ? TEST_PASS : TEST_FAIL;
}

/* the byte offset of element IDX of tensor NAME in the data section */
static long tensor_elem_offset(const char *json, const char *name, long idx, long elem_bytes) {
    cJSON *r = cJSON_Parse(json);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, name);
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    long off = of ? (long)cJSON_GetArrayItem(of, 0)->valuedouble + idx * elem_bytes : -1;
    cJSON_Delete(r);
    return off;
}

static int poke(const char *dir, const char *tensor, long idx, const void *bytes, long n) {
    st_parts p;
    if (!st_split(weights(dir), &p)) return 0;
    long off = tensor_elem_offset(p.json, tensor, idx, n);
    if (off < 0 || (size_t)(off + n) > p.data_len) {
        test_fail("tensor %s not found in %s", tensor, weights(dir));
        st_free(&p);
        return 0;
    }
    memcpy(p.data + off, bytes, (size_t)n);
    st_join(weights(dir), p.json, &p);
    st_free(&p);
    return 1;
}

/* defect 5: non-finite weights in every stored dtype are refused, naming tensor and index */
TEST(robust_load_nonfinite_weights) {
    const char *m = tiny_model("rl_nan32", "");
    if (!m) return TEST_FAIL;
    float nan = NAN;
    if (!poke(m, "model.embed_tokens.weight", 5, &nan, 4)) return TEST_FAIL;
    if (!expect_cli_error("model.embed_tokens.weight|non-finite|flat index 5", "forward --model %s --random 1x8", m))
        return TEST_FAIL;
    m = tiny_model("rl_inf16", "--dtype f16");
    if (!m) return TEST_FAIL;
    uint16_t inf16 = 0x7c00; /* +inf in IEEE half */
    if (!poke(m, "model.norm.weight", 3, &inf16, 2)) return TEST_FAIL;
    if (!expect_cli_error("model.norm.weight|non-finite|flat index 3", "info --model %s", m)) return TEST_FAIL;
    m = tiny_model("rl_nanbf16", "--dtype bf16");
    if (!m) return TEST_FAIL;
    uint16_t nanbf = 0xffc0; /* a negative quiet NaN in bfloat16 */
    if (!poke(m, "model.embed_tokens.weight", 0, &nanbf, 2)) return TEST_FAIL;
    return expect_cli_error("model.embed_tokens.weight|non-finite|flat index 0", "info --model %s", m) ? TEST_PASS
                                                                                                      : TEST_FAIL;
}

/* one edit of a fresh tiny model's config.json each, and the error `ttt info` must give */
typedef struct {
    const char *from, *to, *needle;
} cfg_case;

static int config_cases(const char *name, const cfg_case *cases, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *m = tiny_model(name, "");
        if (!m || !config_edit(m, cases[i].from, cases[i].to)) return 0;
        if (!expect_cli_error(cases[i].needle, "info --model %s", m)) return 0;
    }
    return 1;
}

/* defect 5: absurd real values in config.json */
TEST(robust_load_absurd_config_values) {
    static const cfg_case cases[] = {
        {"\"ttt_base_lr\":\t1", "\"ttt_base_lr\": 1e300", "ttt_base_lr|1e+300"},
        {"\"rope_theta\":\t10000", "\"rope_theta\": -5", "rope_theta"},
        {"\"rms_norm_eps\":\t1e-06", "\"rms_norm_eps\": 1e40", "rms_norm_eps"},
        {"\"ttt_base_lr\":\t1", "\"ttt_base_lr\": 1e999", "ttt_base_lr|finite"},
    };
    return config_cases("rl_absurd", cases, sizeof cases / sizeof cases[0]) ? TEST_PASS : TEST_FAIL;
}

/* defect 6: sizes that overflow, or that disagree with the tensors by a huge factor, fail
 * before anything sized by them is allocated (the sanitizer build would abort on the attempt) */
TEST(robust_load_absurd_sizes) {
    static const cfg_case cases[] = {
        {"\"mini_batch_size\":\t16", "\"mini_batch_size\": 67108864", "mini_batch_size"},
        {"\"hidden_size\":\t8", "\"hidden_size\": 2147483648", "hidden_size"},
        {"\"num_hidden_layers\":\t1", "\"num_hidden_layers\": 2000000000", "num_hidden_layers"},
        {"\"vocab_size\":\t11", "\"vocab_size\": 2147483000", "shape|model.embed_tokens.weight"},
        {"\"intermediate_size\":\t8", "\"intermediate_size\": 2147483000", "shape|mlp"},
    };
    if (!config_cases("rl_sizes", cases, sizeof cases / sizeof cases[0])) return TEST_FAIL;
    /* a width whose parameter count cannot be represented at all */
    const char *m = tiny_model("rl_sizes_big", "");
    if (!m) return TEST_FAIL;
    if (!config_edit(m, "\"hidden_size\":\t8", "\"hidden_size\": 2147483646")) return TEST_FAIL;
    if (!config_edit(m, "\"intermediate_size\":\t8", "\"intermediate_size\": 2147483646")) return TEST_FAIL;
    if (!config_edit(m, "\"num_hidden_layers\":\t1", "\"num_hidden_layers\": 65536")) return TEST_FAIL;
    if (!config_edit(m, "\"num_attention_heads\":\t2", "\"num_attention_heads\": 1")) return TEST_FAIL;
    return expect_cli_error("2^63|parameter count", "info --model %s", m) ? TEST_PASS : TEST_FAIL;
}

/* defect 7: special files where a regular file is expected never block and say what they are */
TEST(robust_load_special_files) {
    const char *m = tiny_model("rl_fifo", "");
    if (!m) return TEST_FAIL;
    char *out;
    int rc = run_cmd(&out, "rm -f %s && mkfifo %s", weights(m), weights(m));
    free(out);
    EXPECT(rc == 0, "mkfifo failed");
    /* timeout: a reader that blocks on the FIFO would hang the suite */
    rc = run_cmd(&out, "timeout 20 %s info --model %s", test_ttt_bin, m);
    EXPECT(rc == 1 && out && strstr(out, "FIFO"), "info on a FIFO model.safetensors: status %d, output %s", rc,
           out ? out : "");
    free(out);
    m = tiny_model("rl_fifo_cfg", "");
    if (!m) return TEST_FAIL;
    rc = run_cmd(&out, "rm -f %s/config.json && mkfifo %s/config.json", m, m);
    free(out);
    EXPECT(rc == 0, "mkfifo failed");
    rc = run_cmd(&out, "timeout 20 %s info --model %s", test_ttt_bin, m);
    EXPECT(rc == 1 && out && strstr(out, "FIFO"), "info on a FIFO config.json: status %d, output %s", rc,
           out ? out : "");
    free(out);
    m = tiny_model("rl_dir", "");
    if (!m) return TEST_FAIL;
    rc = run_cmd(&out, "rm -f %s && mkdir %s", weights(m), weights(m));
    free(out);
    EXPECT(rc == 0, "mkdir failed");
    if (!expect_cli_error("is a directory", "info --model %s", m)) return TEST_FAIL;
    const char *m2 = tiny_model("rl_dir_in", "");
    if (!m2) return TEST_FAIL;
    return expect_cli_error("/dev/zero|character device", "forward --model %s --input /dev/zero", m2) ? TEST_PASS
                                                                                                     : TEST_FAIL;
}

/* the numeric helpers are defined on NaN: a forward over logits made NaN by a huge (finite)
 * weight reports a non-finite loss as an error instead of printing "loss nan" with status 0,
 * and the sanitizer build sees no undefined float -> int conversion on the way */
TEST(robust_load_huge_weight_forward) {
    const char *m = tiny_model("rl_hugew", "");
    if (!m) return TEST_FAIL;
    float big = 3e38f;
    for (int i = 0; i < 8; i++)
        if (!poke(m, "model.norm.weight", i, &big, 4)) return TEST_FAIL;
    char *out;
    int rc = run_cmd(&out, "%s forward --model %s --random 1x16 --threads 1", test_ttt_bin, m);
    int sanitizer = out && (strstr(out, "runtime error") || strstr(out, "AddressSanitizer"));
    int silent = rc == 0 && out && (strstr(out, "nan") || strstr(out, "inf"));
    EXPECT(!sanitizer && !silent && (rc == 0 || rc == 1), "forward with a huge weight: status %d, output %s", rc,
           out ? out : "");
    free(out);
    return TEST_PASS;
}
