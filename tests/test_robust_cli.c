/* test_robust_cli.c: command lines and outputs a user or an attacker could give (issue 16):
 * numeric flags at their extremes, --random shapes whose product overflows, flags that
 * contradict each other or do not apply to the model, an unknown bench family, a token file
 * of another tokenizer, --max-tokens 0, stdout on a full device, and output files on a full
 * filesystem (when this machine lets the test mount a small tmpfs). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"

TEST(robust_cli_random_shapes) {
    const char *m = tiny_model("rc_rand", "");
    if (!m) return TEST_FAIL;
    static const char *const bad[] = {"9223372036854775807x9223372036854775807", "4294967296x4294967296",
                                      "65536x65536", "0x8", "-1x8", "1x", "x8", "1x8x", "1x8 ", "2x3abc",
                                      "1x99999999999999999999", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!expect_cli_error("--random|BxL", "forward --model %s --random '%s'", m, bad[i])) return TEST_FAIL;
    if (!expect_cli_error("--input and --random", "forward --model %s --random 1x8 --input %s/model.safetensors", m, m))
        return TEST_FAIL;
    char *out;
    int rc = run_cmd(&out, "%s forward --model %s --random 2x8", test_ttt_bin, m);
    EXPECT(rc == 0 && out && strstr(out, "loss"), "a valid --random 2x8 failed: %s", out ? out : "");
    free(out);
    return TEST_PASS;
}

TEST(robust_cli_contradictory_flags) {
    const char *d = tmp_path("rc_flags");
    if (!expect_cli_error("--tied and --untied", "init --preset ttt-linear-tiny --tied --untied --out %s", d))
        return TEST_FAIL;
    if (!expect_cli_error("--kv-heads|does not apply|TTT", "init --preset ttt-linear-tiny --kv-heads 1 --out %s", d))
        return TEST_FAIL;
    if (!expect_cli_error("--mini-batch|does not apply|Mamba", "init --preset mamba-tiny --mini-batch 8 --out %s", d))
        return TEST_FAIL;
    if (!expect_cli_error("--ttt-type|does not apply", "init --preset llama-tiny --ttt-type mlp --out %s", d))
        return TEST_FAIL;
    if (!expect_cli_error("gpt2|not a model family", "bench --models gpt2 --quick --out %s", d)) return TEST_FAIL;
    if (!expect_cli_error("llama|given twice", "bench --models llama,llama --quick --out %s", d)) return TEST_FAIL;
    if (!expect_cli_error("--contexts", "bench --contexts 99999999999999999999 --quick --out %s", d)) return TEST_FAIL;
    if (!expect_cli_error("--contexts", "bench --contexts 128, --quick --out %s", d)) return TEST_FAIL;
    if (!expect_cli_error("single quote", "bench --quick --out \"%s/it's\"", d)) return TEST_FAIL;
    return TEST_PASS;
}

/* every numeric flag refuses 0/negative/huge/garbage where it makes no sense, by name */
TEST(robust_cli_numeric_extremes) {
    const char *m = tiny_model("rc_num", "");
    if (!m) return TEST_FAIL;
    const char *tok = tiny_tokens("rc_num.tok", 400, 11, "", 0);
    if (!tok) return TEST_FAIL;
    static const char *const vals[] = {"-1", "9223372036854775808", "1e3", "2x", "", "nan", "inf", "0x10"};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        if (!expect_cli_error("--context", "eval --model %s --data %s --context '%s'", m, tok, vals[i]))
            return TEST_FAIL;
        if (!expect_cli_error("--threads", "forward --model %s --random 1x8 --threads '%s'", m, vals[i]))
            return TEST_FAIL;
        if (!expect_cli_error("--steps", "train --model %s --data %s --run %s --steps '%s'", m, tok,
                              tmp_path("rc_num_run"), vals[i]))
            return TEST_FAIL;
    }
    static const char *const reals[] = {"nan", "inf", "-inf", "1e999", "0.5x", ""};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++)
        if (!expect_cli_error("--lr", "train --model %s --data %s --run %s --steps 2 --lr '%s'", m, tok,
                              tmp_path("rc_num_run"), reals[i]))
            return TEST_FAIL;
    return TEST_PASS;
}

/* a token file made by another tokenizer is refused even when its ids fit the vocabulary */
TEST(robust_cli_tokenizer_mismatch) {
    const char *m = tiny_model("rc_tokname", "");
    if (!m) return TEST_FAIL;
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", m);
    char *cfg = read_whole(path, NULL);
    EXPECT(cfg && cfg[0] == '{', "cannot read %s", path);
    size_t n = strlen(cfg) + 64;
    char *c2 = malloc(n);
    snprintf(c2, n, "{\"ttt_tokenizer\": \"llama2\",%s", cfg + 1);
    write_whole(path, c2, strlen(c2));
    free(cfg);
    free(c2);
    const char *other = tiny_tokens("rc_tok_r50k.tok", 400, 11, "r50k_base", 0);
    const char *same = tiny_tokens("rc_tok_llama.tok", 400, 11, "llama2", 0);
    if (!other || !same) return TEST_FAIL;
    if (!expect_cli_error("r50k_base|llama2", "eval --model %s --data %s --context 16", m, other)) return TEST_FAIL;
    if (!expect_cli_error("r50k_base|llama2", "train --model %s --data %s --run %s --steps 1 --seq-len 8 --batch 1",
                          m, other, tmp_path("rc_tok_run")))
        return TEST_FAIL;
    char *out;
    int rc = run_cmd(&out, "%s eval --model %s --data %s --context 16", test_ttt_bin, m, same);
    EXPECT(rc == 0 && out && strstr(out, "perplexity"), "eval with the model's own tokenizer failed: %s",
           out ? out : "");
    free(out);
    return TEST_PASS;
}

/* stdout that cannot be written is an error with a message, never exit 0 */
TEST(robust_cli_stdout_full) {
    const char *m = tiny_model("rc_full", "");
    if (!m) return TEST_FAIL;
    static const char *const cmds[] = {"info --model %s", "info --model %s --tensors", "--help"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char args[1200];
        snprintf(args, sizeof args, cmds[i], m);
        char *out;
        int rc = run_cmd(&out, "%s %s > /dev/full", test_ttt_bin, args);
        EXPECT(rc == 1 && out && strstr(out, "standard output"), "'ttt %s > /dev/full': status %d, output %s", args,
               rc, out ? out : "");
        free(out);
    }
    const char *tok = tiny_tokens("rc_full.tok", 400, 11, "", 0);
    char *out;
    int rc = run_cmd(&out, "%s eval --model %s --data %s --context 16 > /dev/full", test_ttt_bin, m, tok);
    EXPECT(rc == 1 && out && strstr(out, "standard output"), "'eval > /dev/full': status %d, output %s", rc,
           out ? out : "");
    free(out);
    /* an output file that is a device is written in place, never renamed over */
    rc = run_cmd(&out, "%s eval --model %s --data %s --context 16 --by-position /dev/full", test_ttt_bin, m, tok);
    struct stat st;
    int still_dev = stat("/dev/full", &st) == 0 && S_ISCHR(st.st_mode);
    EXPECT(rc == 1 && out && strstr(out, "No space") && still_dev,
           "--by-position /dev/full: status %d, /dev/full still a device: %d, output %s", rc, still_dev,
           out ? out : "");
    free(out);
    rc = run_cmd(&out, "%s eval --model %s --data %s --context 16 --by-position /dev/null", test_ttt_bin, m, tok);
    still_dev = stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode);
    EXPECT(rc == 0 && still_dev, "--by-position /dev/null: status %d, still a device: %d, output %s", rc, still_dev,
           out ? out : "");
    free(out);
    return TEST_PASS;
}

/* eval's output files on a full filesystem: an error, and no empty file under the final name */
TEST(robust_cli_output_full_disk) {
    const char *m = tiny_model("rc_disk", "");
    const char *tok = tiny_tokens("rc_disk.tok", 2000, 11, "", 0);
    if (!m || !tok) return TEST_FAIL;
    const char *mnt = tmp_path("rc_disk_mnt");
    char *out;
    run_cmd(&out, "mkdir -p %s", mnt);
    free(out);
    if (run_cmd(&out, "mount -t tmpfs -o size=16k tmpfs %s", mnt) != 0) {
        free(out);
        return test_skip("cannot mount a tmpfs here (not permitted): the full-disk case runs in make attack "
                         "where it can");
    }
    free(out);
    run_cmd(&out, "dd if=/dev/zero of=%s/fill bs=1k count=64", mnt); /* fails when full: expected */
    free(out);
    int rc1 = run_cmd(&out, "%s eval --model %s --data %s --context 16 --by-position %s/bp.csv", test_ttt_bin, m,
                      tok, mnt);
    char *out1 = out;
    int rc2 = run_cmd(&out, "%s eval --model %s --data %s --context 16 --ttt-stats %s/ts.csv", test_ttt_bin, m, tok,
                      mnt);
    char bp[1024], ts[1024];
    snprintf(bp, sizeof bp, "%s/bp.csv", mnt);
    snprintf(ts, sizeof ts, "%s/ts.csv", mnt);
    struct stat st;
    int bp_exists = stat(bp, &st) == 0, ts_exists = stat(ts, &st) == 0;
    char *o3;
    run_cmd(&o3, "ls -a %s; umount %s", mnt, mnt);
    int ok = rc1 == 1 && rc2 == 1 && !bp_exists && !ts_exists && out1 && strstr(out1, "No space") && out &&
             strstr(out, "No space");
    if (!ok)
        test_fail("full disk: --by-position status %d (%s), --ttt-stats status %d (%s), files left: %d %d (%s)", rc1,
                  out1 ? out1 : "", rc2, out ? out : "", bp_exists, ts_exists, o3 ? o3 : "");
    free(out1);
    free(out);
    free(o3);
    return ok ? TEST_PASS : TEST_FAIL;
}
