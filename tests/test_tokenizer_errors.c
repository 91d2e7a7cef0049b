/* test_tokenizer_errors.c: truncated and corrupt tokenizer files, wrong flags and bad ids give
 * a clear message and a non-zero exit status through the ttt command (never a crash). The
 * corrupt files are made from the fetched ones; those cases skip without data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"
#include "test_tokenizer_util.h"

static int write_bytes(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    int ok = fwrite(data, 1, n, fp) == n;
    return fclose(fp) == 0 && ok;
}

/* run the command; expect exit status rc and msg in its output */
static int expect_cmd(int rc, const char *msg, const char *cmd) {
    char *out = NULL;
    int got = run_cmd(&out, "%s", cmd);
    int ok = got == rc && out && strstr(out, msg);
    if (!ok) test_fail("'%s': exit %d (expected %d), output: %s(expected to contain '%s')", cmd, got, rc,
                       out ? out : "(none)\n", msg);
    free(out);
    return ok;
}

static int expect_tok(const char *tokpath, const char *extra, const char *msg) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer '%s' %s --text hi --ids", test_ttt_bin, tokpath, extra);
    return expect_cmd(1, msg, cmd);
}

TEST(test_tokenizer_errors_flags) {
    char cmd[1024];
    int ok = 1;
    snprintf(cmd, sizeof cmd, "%s tokenize --text hi --ids", test_ttt_bin);
    ok &= expect_cmd(2, "missing required flag --tokenizer", cmd);
    snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer x --ids", test_ttt_bin);
    ok &= expect_cmd(2, "exactly one of --text, --input or --input-list", cmd);
    snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer x --text a", test_ttt_bin);
    ok &= expect_cmd(2, "exactly one of --ids, --output or --count", cmd);
    snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer /nonexistent/r50k_base.tiktoken --text a --ids", test_ttt_bin);
    ok &= expect_cmd(1, "no such file or directory", cmd);
    snprintf(cmd, sizeof cmd, "%s detokenize --tokenizer x", test_ttt_bin);
    ok &= expect_cmd(2, "exactly one of --ids or --input", cmd);
    snprintf(cmd, sizeof cmd, "%s data --tokenizer /nonexistent", test_ttt_bin);
    ok &= expect_cmd(1, "no such file or directory", cmd);
    /* an unknown rank-file name needs --encoding */
    const char *p = tmp_path("mytok.tiktoken");
    ok &= write_bytes(p, "IQ== 0\n", 7);
    ok &= expect_tok(p, "", "cannot tell the encoding from the file name");
    ok &= expect_tok(p, "--encoding gpt5", "unknown tiktoken encoding 'gpt5'");
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_tokenizer_errors_tiktoken_files) {
    const char *src = tdata("tok/r50k_base.tiktoken");
    size_t len;
    char *buf = tdata_read(src, &len);
    if (!buf) return test_skip("%s is not fetched (run 'make data')", src);
    int ok = 1;
    char path[512];
    snprintf(path, sizeof path, "%s/r50k_base.tiktoken", test_tmpdir);
    /* cut in the middle of a line */
    ok &= write_bytes(path, buf, 100001) && expect_tok(path, "", "last line has no newline (truncated file?)");
    /* cut at a line end: too few ranks */
    char *nl = buf;
    for (int i = 0; i < 300; i++) nl = strchr(nl, '\n') + 1;
    ok &= write_bytes(path, buf, (size_t)(nl - buf)) && expect_tok(path, "", "300 ranks, but r50k_base has 50256");
    ok &= write_bytes(path, "", 0) && expect_tok(path, "", "empty file");
    /* a bad line in the middle */
    char *copy = malloc(len + 64);
    memcpy(copy, buf, len);
    char *line5 = copy;
    for (int i = 0; i < 4; i++) line5 = strchr(line5, '\n') + 1;
    line5[0] = '*';
    ok &= write_bytes(path, copy, len) && expect_tok(path, "", "r50k_base.tiktoken:5: invalid base64 token");
    memcpy(copy, buf, len);
    char *sp = strchr(line5, ' ');
    sp[1] = 'x';
    ok &= write_bytes(path, copy, len) && expect_tok(path, "", ":5: rank must be a non-negative decimal integer");
    memcpy(copy, buf, len);
    sp[1] = '-';
    ok &= write_bytes(path, copy, len) && expect_tok(path, "", ":5: rank must be a non-negative decimal integer");
    memcpy(copy, buf, len);
    memcpy(line5, "IQ==", 4); /* line 5 now holds the token of line 1 ('!') */
    ok &= write_bytes(path, copy, len) && expect_tok(path, "", "appears twice");
    /* a rank-file of another encoding */
    snprintf(path, sizeof path, "%s", tdata("tok/cl100k_base.tiktoken"));
    if (tdata_exists(path)) ok &= expect_tok(path, "--encoding r50k_base", "(wrong file or --encoding?)");
    free(copy);
    free(buf);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_tokenizer_errors_llama_files) {
    size_t vlen, mlen;
    char *vocab = tdata_read(tdata("tok/llama2/vocab.txt"), &vlen);
    char *merges = tdata_read(tdata("tok/llama2/merges.u16le"), &mlen);
    if (!vocab || !merges) {
        free(vocab), free(merges);
        return test_skip("%s is not fetched (run 'make data')", tdata("tok/llama2"));
    }
    char dir[512], vp[600], mp[600];
    snprintf(dir, sizeof dir, "%s/llama_bad", test_tmpdir);
    mkdir(dir, 0777);
    snprintf(vp, sizeof vp, "%s/vocab.txt", dir);
    snprintf(mp, sizeof mp, "%s/merges.u16le", dir);
    int ok = 1;
    ok &= write_bytes(vp, vocab, vlen) && expect_tok(dir, "", "merges.u16le: cannot open");
    ok &= write_bytes(mp, merges, mlen - 3) && expect_tok(dir, "", "expected a non-zero multiple of 4");
    ok &= write_bytes(mp, merges, 0) && expect_tok(dir, "", "expected a non-zero multiple of 4");
    /* a merge with an id past the vocabulary */
    char *m2 = malloc(mlen);
    memcpy(m2, merges, mlen);
    m2[40] = (char)0xFF, m2[41] = (char)0xFF;
    ok &= write_bytes(mp, m2, mlen) && expect_tok(dir, "", "merge 10 is (65535");
    /* a merge whose joined text is not a piece: (31999, 31999) */
    memcpy(m2, merges, mlen);
    m2[0] = m2[2] = (char)0xFF, m2[1] = m2[3] = 0x7C;
    ok &= write_bytes(mp, m2, mlen) && expect_tok(dir, "", "merge 0 joins");
    ok &= write_bytes(mp, merges, mlen);
    /* vocabulary: truncated, a wrong byte token */
    ok &= write_bytes(vp, vocab, 1000) && expect_tok(dir, "", "expected between 260 and 65536");
    char *v2 = malloc(vlen);
    memcpy(v2, vocab, vlen);
    char *l5 = strstr(v2, "<0x02>");
    l5[3] = '9';
    ok &= write_bytes(vp, v2, vlen) && expect_tok(dir, "", "is '<0x92>', expected '<0x02>'");
    memcpy(v2, vocab, vlen);
    char *l300 = v2;
    for (int i = 0; i < 299; i++) l300 = strchr(l300, '\n') + 1;
    l300[0] = (char)0xC3, l300[1] = (char)0x28; /* invalid UTF-8 */
    ok &= write_bytes(vp, v2, vlen) && expect_tok(dir, "", "line 300 (id 299) is not valid UTF-8");
    free(v2), free(m2), free(vocab), free(merges);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_tokenizer_errors_ids) {
    const char *tok = tdata("tok/r50k_base.tiktoken");
    if (!tdata_exists(tok)) return test_skip("%s is not fetched (run 'make data')", tok);
    char cmd[1024];
    int ok = 1;
    snprintf(cmd, sizeof cmd, "%s detokenize --tokenizer %s --ids '31373 12x'", test_ttt_bin, tok);
    ok &= expect_cmd(2, "'12x' is not a token id", cmd);
    snprintf(cmd, sizeof cmd, "%s detokenize --tokenizer %s --ids '31373 50257'", test_ttt_bin, tok);
    ok &= expect_cmd(1, "token 1 is id 50257, which r50k_base does not have (ids are 0..50256)", cmd);
    snprintf(cmd, sizeof cmd, "%s detokenize --tokenizer %s --ids '-1'", test_ttt_bin, tok);
    ok &= expect_cmd(1, "token 0 is id -1", cmd);
    snprintf(cmd, sizeof cmd, "%s detokenize --tokenizer %s --ids '99999999999'", test_ttt_bin, tok);
    ok &= expect_cmd(2, "is not a token id", cmd);
    /* the CLI itself: ids out, text back */
    snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer %s --text 'Hello, World!' --ids", test_ttt_bin, tok);
    ok &= expect_cmd(0, "15496 11 2159 0\n", cmd);
    snprintf(cmd, sizeof cmd, "%s detokenize --tokenizer %s --ids '[15496, 11, 2159, 0]'", test_ttt_bin, tok);
    ok &= expect_cmd(0, "Hello, World!", cmd);
    snprintf(cmd, sizeof cmd, "%s tokenize --tokenizer %s --text 'hello' --ids --bos --eos", test_ttt_bin, tok);
    ok &= expect_cmd(0, "50256 31373 50256\n", cmd);
    return ok ? TEST_PASS : TEST_FAIL;
}
