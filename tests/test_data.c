/* test_data.c: the token-file format (round trip, exact size, checksum and every header check
 * on corrupt files, through the library and the ttt command), document wrapping (design.md 3.6),
 * split lists, and the pinned token counts and checksums of every split for every tokenizer
 * (made with `ttt data`; skipped without fetched data). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset.h"
#include "test.h"
#include "test_tokenizer_util.h"

static int write_bytes(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    int ok = fwrite(data, 1, n, fp) == n;
    return fclose(fp) == 0 && ok;
}

static ttt_tokfile sample(int32_t *ids, int64_t n, int64_t *starts, int64_t nd, int64_t vocab) {
    ttt_tokfile tf = {0};
    tf.ids = ids;
    tf.n_tokens = n;
    tf.doc_start = starts;
    tf.n_docs = nd;
    tf.bos_id = 1;
    tf.eos_id = 2;
    tf.vocab_size = vocab;
    snprintf(tf.tokenizer, sizeof tf.tokenizer, "llama2");
    return tf;
}

TEST(test_data_tokfile_roundtrip) {
    int32_t ids[7] = {1, 500, 31999, 2, 1, 7, 2};
    int64_t starts[2] = {0, 4};
    for (int wide = 0; wide < 2; wide++) {
        ttt_tokfile tf = sample(ids, 7, starts, 2, wide ? 200019 : 32000), rd;
        const char *p = tmp_path(wide ? "w4.tok" : "w2.tok");
        EXPECT(ttt_tokfile_write(p, &tf) == TTT_OK, "write: %s", ttt_last_error());
        struct stat st;
        EXPECT(stat(p, &st) == 0 && st.st_size == 128 + 7 * (wide ? 4 : 2) + 2 * 8, "file size %lld",
               (long long)st.st_size);
        EXPECT(ttt_tokfile_read(p, &rd) == TTT_OK, "read: %s", ttt_last_error());
        EXPECT(rd.version == 1 && rd.width == (wide ? 4 : 2) && rd.n_tokens == 7 && rd.n_docs == 2 &&
                   rd.bos_id == 1 && rd.eos_id == 2 && rd.vocab_size == (wide ? 200019 : 32000) &&
                   strcmp(rd.tokenizer, "llama2") == 0,
               "header fields");
        EXPECT(memcmp(rd.ids, ids, sizeof ids) == 0 && rd.doc_start[0] == 0 && rd.doc_start[1] == 4, "payload");
        uint64_t sum = rd.checksum;
        ttt_tokfile_free(&rd);
        EXPECT(ttt_tokfile_read_header(p, &rd) == TTT_OK && rd.n_tokens == 7 && !rd.ids && rd.checksum == sum,
               "header only: %s", ttt_last_error());
    }
    /* an empty stream is a valid file */
    ttt_tokfile e = sample(NULL, 0, NULL, 0, 32000), rd;
    EXPECT(ttt_tokfile_write(tmp_path("empty.tok"), &e) == TTT_OK, "write empty: %s", ttt_last_error());
    EXPECT(ttt_tokfile_read(tmp_path("empty.tok"), &rd) == TTT_OK && rd.n_tokens == 0, "read empty: %s",
           ttt_last_error());
    ttt_tokfile_free(&rd);
    /* the writer refuses what the reader would refuse */
    int32_t bad[2] = {1, 32000};
    ttt_tokfile b = sample(bad, 2, starts, 1, 32000);
    EXPECT(ttt_tokfile_write(tmp_path("bad.tok"), &b) == TTT_ERR_ARG && strstr(ttt_last_error(), "id 32000"),
           "id 32000 written: %s", ttt_last_error());
    int64_t bad_starts[2] = {0, 0};
    b = sample(ids, 7, bad_starts, 2, 32000);
    EXPECT(ttt_tokfile_write(tmp_path("bad.tok"), &b) == TTT_ERR_ARG, "non-increasing starts written");
    b = sample(ids, 7, starts, 2, 70000);
    b.width = 2;
    EXPECT(ttt_tokfile_write(tmp_path("bad.tok"), &b) == TTT_ERR_ARG, "70000 ids in 2-byte tokens written");
    return TEST_PASS;
}

static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* FNV-1a 64 as the format defines it, to forge files with a valid checksum */
static uint64_t fnv(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

static int expect_parse(const unsigned char *buf, size_t n, const char *msg) {
    ttt_tokfile tf;
    ttt_status s = ttt_tokfile_parse(buf, n, "x.tok", 0, &tf);
    if (s == TTT_OK) {
        ttt_tokfile_free(&tf);
        test_fail("corrupt file accepted (expected '%s')", msg);
        return 0;
    }
    if (!strstr(ttt_last_error(), msg)) {
        test_fail("message '%s' does not contain '%s'", ttt_last_error(), msg);
        return 0;
    }
    return 1;
}

TEST(test_data_tokfile_corrupt) {
    int32_t ids[7] = {1, 500, 31999, 2, 1, 7, 2};
    int64_t starts[2] = {0, 4};
    ttt_tokfile tf = sample(ids, 7, starts, 2, 32000);
    const char *p = tmp_path("good.tok");
    EXPECT(ttt_tokfile_write(p, &tf) == TTT_OK, "write");
    size_t n;
    unsigned char *good = (unsigned char *)tdata_read(p, &n), *b = malloc(n + 16);
    EXPECT(good && n == 128 + 14 + 16, "size %zu", n);
    int ok = 1;
#define CASE(len, edit, msg)                  \
    do {                                      \
        memcpy(b, good, n);                   \
        edit;                                 \
        ok &= expect_parse(b, len, msg);      \
    } while (0)
    CASE(n - 1, (void)0, "bytes, but the header says 7 tokens of 2 bytes and 2 documents");
    CASE(n + 1, b[n] = 0, "bytes, but the header says");
    CASE(100, (void)0, "shorter than the 128-byte token-file header");
    CASE(0, (void)0, "shorter than the 128-byte");
    CASE(n, b[0] = 'X', "not a token file");
    CASE(n, b[8] = 2, "token-file version 2");
    CASE(n, b[12] = 3, "token width 3 bytes");
    CASE(n, put64(b + 16, 1ULL << 62), "bytes, but the header says");
    CASE(n, put64(b + 24, UINT64_MAX), "bytes, but the header says");
    CASE(n, put64(b + 40, 0), "vocabulary size 0");
    CASE(n, put64(b + 40, 70000), "vocabulary size 70000");
    CASE(n, b[34] = 1, "BOS id 65537");
    CASE(n, memset(b + 48, 'a', 32), "not NUL-terminated");
    CASE(n, b[100] = 1, "reserved header byte 100");
    CASE(n, b[130] ^= 1, "checksum mismatch");
    /* valid checksums over invalid contents */
    CASE(n, (b[128 + 2] = 0x00, b[128 + 3] = 0x7D, put64(b + 80, fnv(b + 128, n - 128))),
         "token 1 is id 32000, outside the vocabulary of 32000");
    CASE(n, (put64(b + 128 + 14 + 8, 9), put64(b + 80, fnv(b + 128, n - 128))), "document 1 starts at token 9");
    CASE(n, (put64(b + 128 + 14, 1), put64(b + 80, fnv(b + 128, n - 128))), "document 0 starts at token 1");
#undef CASE
    /* through the command: a truncated file and a mismatched tokenizer */
    const char *tr = tmp_path("trunc.tok");
    ok &= write_bytes(tr, good, n - 3);
    char *out = NULL;
    int rc = run_cmd(&out, "%s detokenize --tokenizer /nonexistent --input %s", test_ttt_bin, tr);
    ok &= rc == 1 && out && strstr(out, "no such file");
    free(out);
    const char *tok = tdata("tok/r50k_base.tiktoken");
    if (tdata_exists(tok)) {
        rc = run_cmd(&out, "%s detokenize --tokenizer %s --input %s", test_ttt_bin, tok, tr);
        if (!(rc == 1 && out && strstr(out, "(truncated or corrupt file)"))) {
            test_fail("detokenize of a truncated file: exit %d, %s", rc, out ? out : "");
            ok = 0;
        }
        free(out);
        rc = run_cmd(&out, "%s detokenize --tokenizer %s --input %s", test_ttt_bin, tok, p);
        if (!(rc == 1 && out && strstr(out, "was made with tokenizer 'llama2' (32000 ids), but --tokenizer is 'r50k_base'"))) {
            test_fail("detokenize with the wrong tokenizer: exit %d, %s", rc, out ? out : "");
            ok = 0;
        }
        free(out);
    }
    free(good);
    free(b);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_data_list) {
    const char *lp = tmp_path("docs.list");
    const char *text = "# comment\n\na.txt\r\n/abs/b.txt\nsub/c.txt";
    EXPECT(write_bytes(lp, text, strlen(text)), "write");
    char **paths;
    int64_t n;
    EXPECT(data_read_list(lp, "/base", &paths, &n) == TTT_OK, "read: %s", ttt_last_error());
    EXPECT(n == 3 && strcmp(paths[0], "/base/a.txt") == 0 && strcmp(paths[1], "/abs/b.txt") == 0 &&
               strcmp(paths[2], "/base/sub/c.txt") == 0,
           "paths: %lld", (long long)n);
    data_free_list(paths, n);
    EXPECT(write_bytes(lp, "# nothing\n", 10), "write");
    EXPECT(data_read_list(lp, NULL, &paths, &n) == TTT_ERR_FORMAT && strstr(ttt_last_error(), "lists no documents"),
           "empty list accepted");
    return TEST_PASS;
}

/* design.md 3.6: BOS doc EOS per document; with one shared <|endoftext|>, EOT d1 EOT d2 EOT */
TEST(test_data_wrap) {
    const char *texts[3] = {"Hello world", "", "end."};
    size_t lens[3] = {11, 0, 4};
    ttt_tok *t;
    int r = tdata_tok("llama2", &t);
    if (r != TEST_PASS) return r;
    ttt_tokfile tf;
    EXPECT(data_tokenize(t, texts, lens, 3, 1, 0, &tf) == TTT_OK, "tokenize: %s", ttt_last_error());
    int32_t want[] = {1, 15043, 3186, 2, 1, 2, 1, 1095, 29889, 2};
    EXPECT(tf.n_tokens == 10 && memcmp(tf.ids, want, sizeof want) == 0, "llama stream");
    EXPECT(tf.n_docs == 3 && tf.doc_start[0] == 0 && tf.doc_start[1] == 4 && tf.doc_start[2] == 6, "llama starts");
    EXPECT(tf.bos_id == 1 && tf.eos_id == 2 && tf.vocab_size == 32000 && strcmp(tf.tokenizer, "llama2") == 0,
           "llama header");
    ttt_tokfile_free(&tf);
    ttt_tok_free(t);
    r = tdata_tok("r50k_base", &t);
    if (r != TEST_PASS) return r;
    EXPECT(data_tokenize(t, texts, lens, 3, 1, 0, &tf) == TTT_OK, "tokenize: %s", ttt_last_error());
    int32_t want2[] = {50256, 15496, 995, 50256, 50256, 437, 13, 50256};
    EXPECT(tf.n_tokens == 8 && memcmp(tf.ids, want2, sizeof want2) == 0, "r50k stream");
    EXPECT(tf.n_docs == 3 && tf.doc_start[0] == 0 && tf.doc_start[1] == 3 && tf.doc_start[2] == 4, "r50k starts");
    ttt_tokfile_free(&tf);
    EXPECT(data_tokenize(t, texts, lens, 3, 0, 0, &tf) == TTT_OK && tf.n_tokens == 4 && tf.n_docs == 2 &&
               tf.doc_start[1] == 2,
           "unwrapped stream");
    ttt_tokfile_free(&tf);
    ttt_tok_free(t);
    return TEST_PASS;
}

/* ---- every split, every tokenizer: documents, tokens and the file checksum are pinned ---- */

typedef struct {
    const char *tok, *split;
    int64_t docs, tokens;
    uint64_t checksum;
} split_pin;

static const split_pin PINS[] = {
    {"r50k_base", "train", 760, 10617325, 0x821782b5603631fbULL},
    {"r50k_base", "eval", 22, 157789, 0xe1b5aacad50a4640ULL},
    {"r50k_base", "long_moby_dick", 1, 296837, 0x19c5258becfc935fULL},
    {"r50k_base", "long_emma", 1, 206165, 0x94ac534951ec4c52ULL},
    {"r50k_base", "long_persuasion", 1, 106808, 0x15313e3f6e6ea6a8ULL},
    {"p50k_base", "train", 760, 10432619, 0x73d6b5010d8eea94ULL},
    {"p50k_base", "eval", 22, 157789, 0xe1b5aacad50a4640ULL},
    {"p50k_base", "long_moby_dick", 1, 296709, 0x496f99f7a23c3d27ULL},
    {"p50k_base", "long_emma", 1, 205814, 0xaaf7e52fe7bfb435ULL},
    {"p50k_base", "long_persuasion", 1, 106799, 0xeaf1af1c2fa7366dULL},
    {"cl100k_base", "train", 760, 10230905, 0xf1d73b37a182da6cULL},
    {"cl100k_base", "eval", 22, 157671, 0xef7cead8553ec936ULL},
    {"cl100k_base", "long_moby_dick", 1, 280880, 0x0bb70de618044c35ULL},
    {"cl100k_base", "long_emma", 1, 200283, 0x12ae94ae661daa58ULL},
    {"cl100k_base", "long_persuasion", 1, 104447, 0x71fa51c233e7988eULL},
    {"o200k_base", "train", 760, 10161266, 0xf567534c461122acULL},
    {"o200k_base", "eval", 22, 155851, 0x551894c460c8b1a9ULL},
    {"o200k_base", "long_moby_dick", 1, 278675, 0xe7194f2c2c650150ULL},
    {"o200k_base", "long_emma", 1, 198733, 0x7a496471a1565eccULL},
    {"o200k_base", "long_persuasion", 1, 103959, 0x810e4bfedf85ec89ULL},
    {"llama2", "train", 760, 11658104, 0xb5334197cf191baaULL},
    {"llama2", "eval", 22, 179401, 0xbdad1fbdaad626d9ULL},
    {"llama2", "long_moby_dick", 1, 320617, 0xb0f46d1b2c54658dULL},
    {"llama2", "long_emma", 1, 220510, 0xbd5a3af120a39342ULL},
    {"llama2", "long_persuasion", 1, 114155, 0x734f17babc95b4d6ULL},
};

static int splits(const char *name) {
    const char *tokpath = strcmp(name, "llama2") == 0 ? tdata("tok/llama2") : NULL;
    char rel[64];
    if (!tokpath) {
        snprintf(rel, sizeof rel, "tok/%s.tiktoken", name);
        tokpath = tdata(rel);
    }
    if (!tdata_exists(tokpath) || !tdata_exists(tdata("splits/train.list")))
        return test_skip("%s or %s is not fetched (run 'make data')", tokpath, tdata("splits/train.list"));
    char out[512], *log = NULL;
    snprintf(out, sizeof out, "%s/tokens_%s", test_tmpdir, name);
    char tp[512];
    snprintf(tp, sizeof tp, "%s", tokpath);
    /* the sanitizer build is slow: there, only the small splits (a copy of the lists without train) */
    char data_arg[600];
    snprintf(data_arg, sizeof data_arg, "%s", tdata(""));
    if (tdata_sanitized()) {
        snprintf(data_arg, sizeof data_arg, "%s/data_small", test_tmpdir);
        char *l = NULL;
        int rc = run_cmd(&l, "mkdir -p %s/splits && cp %s/splits/*.list %s/splits/ && rm %s/splits/train.list && "
                         "ln -sfn $(cd %s && pwd)/text %s/text", data_arg, tdata(""), data_arg, data_arg, tdata(""), data_arg);
        free(l);
        EXPECT(rc == 0, "cannot prepare %s", data_arg);
    }
    int rc = run_cmd(&log, "%s data --tokenizer %s --data %s --out %s", test_ttt_bin, tp, data_arg, out);
    if (rc != 0) {
        test_fail("ttt data failed (exit %d): %s", rc, log ? log : "");
        free(log);
        return TEST_FAIL;
    }
    printf("%s", log);
    free(log);
    int checked = 0;
    for (size_t i = 0; i < sizeof PINS / sizeof PINS[0]; i++) {
        const split_pin *p = &PINS[i];
        if (strcmp(p->tok, name) != 0) continue;
        char path[700];
        snprintf(path, sizeof path, "%s/%s.tok", out, p->split);
        if (tdata_sanitized() && strcmp(p->split, "train") == 0) continue;
        ttt_tokfile tf;
        EXPECT(ttt_tokfile_read(path, &tf) == TTT_OK, "%s: %s", path, ttt_last_error());
        int ok = tf.n_docs == p->docs && tf.n_tokens == p->tokens && tf.checksum == p->checksum &&
                 strcmp(tf.tokenizer, name) == 0;
        /* the stream is wrapped: it starts with BOS (or the shared <|endoftext|>) and ends with EOS */
        ok = ok && tf.n_tokens > 2 && tf.ids[0] == tf.bos_id && tf.ids[tf.n_tokens - 1] == tf.eos_id;
        if (!ok)
            test_fail("%s: %lld docs, %lld tokens, checksum %016llx; expected %lld, %lld, %016llx", path,
                      (long long)tf.n_docs, (long long)tf.n_tokens, (unsigned long long)tf.checksum,
                      (long long)p->docs, (long long)p->tokens, (unsigned long long)p->checksum);
        ttt_tokfile_free(&tf);
        if (!ok) return TEST_FAIL;
        checked++;
    }
    EXPECT(checked == (tdata_sanitized() ? 4 : 5), "%d splits checked", checked);
    return TEST_PASS;
}

TEST(test_data_splits_r50k) { return splits("r50k_base"); }
TEST(test_data_splits_p50k) { return splits("p50k_base"); }
TEST(test_data_splits_cl100k) { return splits("cl100k_base"); }
TEST(test_data_splits_o200k) { return splits("o200k_base"); }
TEST(test_data_splits_llama2) { return splits("llama2"); }
