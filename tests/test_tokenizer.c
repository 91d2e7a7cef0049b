/* test_tokenizer.c: the tokenizers against their references: every TestPlans.txt sample of
 * gpt-tokenizer@4.0.0 (r50k, p50k, cl100k, o200k), llama-tokenizer-js@1.2.2's own test cases
 * (read from the fetched package) and our own Llama cases (ids from that package), special
 * tokens, invalid UTF-8, the parallel segmentation against one serial pass, and the BPE core
 * (scan vs heap). Tests needing data/ skip when it is not fetched. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "test_tokenizer_util.h"
#include "tokenizer/bpe.h"
#include "tokenizer/strmap.h"
#include "tokenizer/tok_impl.h"
#include "tokenizer/utf8.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static int ids_equal(const char *what, const int32_t *got, int64_t ng, const int32_t *want, int64_t nw) {
    int64_t d = tdata_first_diff_i32(got, ng, want, nw);
    if (d < 0) return 1;
    test_fail("%s: %lld ids, expected %lld; first difference at %lld: got %d, expected %d", what, (long long)ng,
              (long long)nw, (long long)d, d < ng ? got[d] : -1, d < nw ? want[d] : -1);
    return 0;
}

/* encode, compare with want (if given), decode and compare with the text */
static int check_text(const ttt_tok *t, const char *what, const char *text, size_t len, int flags, const int32_t *want,
                      int64_t nw) {
    int32_t *ids;
    int64_t n;
    if (ttt_tok_encode(t, text, len, flags, &ids, &n) != TTT_OK) {
        test_fail("%s: encode failed: %s", what, ttt_last_error());
        return 0;
    }
    int ok = !want || ids_equal(what, ids, n, want, nw);
    char *back;
    size_t blen;
    int dflags = flags & TTT_TOK_ALLOW_SPECIAL ? TTT_TOK_DECODE_SPECIAL : 0;
    if (ok && ttt_tok_decode(t, ids, n, dflags, &back, &blen) != TTT_OK) {
        test_fail("%s: decode failed: %s", what, ttt_last_error());
        ok = 0;
    } else if (ok) {
        if (blen != len || memcmp(back, text, len) != 0) {
            size_t i = 0;
            while (i < blen && i < len && back[i] == text[i]) i++;
            test_fail("%s: round trip differs at byte %zu of %zu (got %zu bytes)", what, i, len, blen);
            ok = 0;
        }
        free(back);
    }
    free(ids);
    return ok;
}

/* ---- units without data ------------------------------------------------------------------ */

TEST(test_tokenizer_utf8) {
    uint32_t cp;
    EXPECT(utf8_decode((const unsigned char *)"A", 1, &cp) == 1 && cp == 'A', "ASCII");
    EXPECT(utf8_decode((const unsigned char *)"\xC3\xA9", 2, &cp) == 2 && cp == 0xE9, "2-byte");
    EXPECT(utf8_decode((const unsigned char *)"\xE2\x96\x81", 3, &cp) == 3 && cp == 0x2581, "3-byte");
    EXPECT(utf8_decode((const unsigned char *)"\xF0\x9F\xA6\x99", 4, &cp) == 4 && cp == 0x1F999, "4-byte");
    EXPECT(utf8_decode((const unsigned char *)"\xC0\xAF", 2, &cp) == 0, "overlong 2-byte accepted");
    EXPECT(utf8_decode((const unsigned char *)"\xE0\x80\xAF", 3, &cp) == 0, "overlong 3-byte accepted");
    EXPECT(utf8_decode((const unsigned char *)"\xED\xA0\x80", 3, &cp) == 0, "surrogate accepted");
    EXPECT(utf8_decode((const unsigned char *)"\xF4\x90\x80\x80", 4, &cp) == 0, "> U+10FFFF accepted");
    EXPECT(utf8_decode((const unsigned char *)"\xE2\x96", 2, &cp) == 0, "truncated accepted");
    EXPECT(utf8_decode((const unsigned char *)"\x80", 1, &cp) == 0, "lone continuation accepted");
    EXPECT(utf8_valid((const unsigned char *)"h\xC3\xA9llo", 6) && !utf8_valid((const unsigned char *)"\xFF", 1),
           "utf8_valid");
    return TEST_PASS;
}

TEST(test_tokenizer_strmap) {
    strmap m;
    EXPECT(strmap_init(&m, 4) == 0, "init");
    char key[16];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        EXPECT(strmap_put(&m, key, (size_t)n, i * 3) == 0, "put");
    }
    EXPECT(strmap_put(&m, "", 0, -7) == 0 && strmap_put(&m, "k17", 3, 99) == 0, "put");
    int64_t v;
    EXPECT(m.n == 5001, "size %lld, expected 5001", (long long)m.n);
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        EXPECT(strmap_get(&m, key, (size_t)n, &v) && v == (i == 17 ? 99 : i * 3), "get %s", key);
    }
    EXPECT(strmap_get(&m, "", 0, &v) && v == -7, "empty key");
    EXPECT(!strmap_get(&m, "k5000", 5, &v) && !strmap_get(&m, "k1\0", 3, &v), "absent key found");
    strmap_clear(&m);
    EXPECT(!strmap_get(&m, "k1", 2, &v) && m.n == 0, "clear");
    strmap_free(&m);
    return TEST_PASS;
}

/* a random merge table over small ids for the BPE core */
static int32_t bpe_table[64][64], bpe_result[64][64];
static int64_t table_pair(const void *ctx, const bpe_sym *a, const bpe_sym *b, int32_t *merged) {
    (void)ctx;
    if (a->id >= 64 || b->id >= 64 || bpe_table[a->id][b->id] < 0) return BPE_NO_MERGE;
    *merged = bpe_result[a->id][b->id];
    return bpe_table[a->id][b->id];
}

TEST(test_tokenizer_bpe_scan_vs_heap) {
    for (int a = 0; a < 64; a++)
        for (int b = 0; b < 64; b++) {
            bpe_table[a][b] = rnd() % 3 ? -1 : (int32_t)(rnd() % 40); /* many equal ranks */
            bpe_result[a][b] = (int32_t)(rnd() % 64);
        }
    bpe_work w1, w2;
    bpe_work_init(&w1);
    bpe_work_init(&w2);
    w1.scan_max = 1 << 30; /* always scan */
    w2.scan_max = 0;       /* always heap */
    int32_t o1[300], o2[300];
    for (int trial = 0; trial < 2000; trial++) {
        int n = 1 + (int)(rnd() % 250);
        EXPECT(bpe_work_reserve(&w1, n) == 0 && bpe_work_reserve(&w2, n) == 0, "reserve");
        for (int i = 0; i < n; i++) {
            int32_t id = (int32_t)(rnd() % 8);
            w1.syms[i] = w2.syms[i] = (bpe_sym){.id = id, .start = i, .end = i + 1};
        }
        int64_t k1 = bpe_merge(&w1, n, table_pair, NULL, o1), k2 = bpe_merge(&w2, n, table_pair, NULL, o2);
        if (!ids_equal("scan vs heap", o1, k1, o2, k2)) return TEST_FAIL;
    }
    /* lowest rank first, leftmost first among equal ranks: 0 0 0 with (0,0)->1 gives 1 0 */
    for (int a = 0; a < 64; a++)
        for (int b = 0; b < 64; b++) bpe_table[a][b] = -1;
    bpe_table[0][0] = 5, bpe_result[0][0] = 1;
    bpe_table[1][0] = 9, bpe_result[1][0] = 2;
    for (int i = 0; i < 3; i++) w1.syms[i] = w2.syms[i] = (bpe_sym){.id = 0, .start = i, .end = i + 1};
    int64_t k1 = bpe_merge(&w1, 3, table_pair, NULL, o1);
    int32_t want[] = {2};
    EXPECT(ids_equal("leftmost merge", o1, k1, want, 1), "leftmost merge");
    bpe_work_free(&w1);
    bpe_work_free(&w2);
    return TEST_PASS;
}

/* ---- references -------------------------------------------------------------------------- */

static int testplans(const char *encoding, int expected_samples) {
    ttt_tok *t;
    int r = tdata_tok(encoding, &t);
    if (r != TEST_PASS) return r;
    size_t len;
    char *buf = tdata_read(tdata("tok/TestPlans.txt"), &len);
    if (!buf) {
        ttt_tok_free(t);
        return test_skip("%s is not fetched (run 'make data')", tdata("tok/TestPlans.txt"));
    }
    int samples = 0, ok = 1;
    int32_t *want = malloc(100000 * sizeof *want);
    char *p = buf;
    while (ok && (p = strstr(p, "EncodingName: ")) != NULL) {
        p += strlen("EncodingName: ");
        char *eol = strchr(p, '\n');
        int mine = eol && (size_t)(eol - p) == strlen(encoding) && strncmp(p, encoding, strlen(encoding)) == 0;
        char *s = eol ? strstr(eol, "\nSample: ") : NULL;
        if (!s) break;
        s += strlen("\nSample: ");
        char *se = strstr(s, "\nEncoded: [");
        if (!se) {
            test_fail("TestPlans.txt: a sample has no 'Encoded:' line");
            ok = 0;
            break;
        }
        p = se + strlen("\nEncoded: [");
        if (!mine) continue;
        int64_t nw = 0;
        while (*p && *p != ']') {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p) {
                p++;
                continue;
            }
            want[nw++] = (int32_t)v;
            p = end;
        }
        char what[96];
        snprintf(what, sizeof what, "%s sample %d ('%.30s')", encoding, samples, s);
        ok = check_text(t, what, s, (size_t)(se - s), 0, want, nw);
        samples++;
    }
    free(want);
    free(buf);
    ttt_tok_free(t);
    if (!ok) return TEST_FAIL;
    EXPECT(samples == expected_samples, "%s: %d samples in TestPlans.txt, expected %d", encoding, samples,
           expected_samples);
    return TEST_PASS;
}

TEST(test_tokenizer_testplans_r50k) { return testplans("r50k_base", 64); }
TEST(test_tokenizer_testplans_p50k) { return testplans("p50k_base", 64); }
TEST(test_tokenizer_testplans_cl100k) { return testplans("cl100k_base", 64); }
TEST(test_tokenizer_testplans_o200k) { return testplans("o200k_base", 57); }

/* parse a JavaScript string literal at *pp (quote ' or "); returns a malloc'd string */
static char *js_string(const char **pp, size_t *len) {
    const char *p = *pp;
    char q = *p++;
    char *out = malloc(strlen(p) + 1);
    size_t k = 0;
    while (*p && *p != q) {
        if (*p != '\\') {
            out[k++] = *p++;
            continue;
        }
        p++;
        char c = *p++;
        switch (c) {
        case 'n': out[k++] = '\n'; break;
        case 't': out[k++] = '\t'; break;
        case 'r': out[k++] = '\r'; break;
        default: out[k++] = c; break; /* \" \' \\ */
        }
    }
    if (*p == q) p++;
    *pp = p;
    *len = k;
    out[k] = 0;
    return out;
}

static int64_t js_ids(const char **pp, int32_t *ids, int64_t cap) {
    const char *p = strchr(*pp, '[');
    int64_t n = 0;
    if (!p) return -1;
    p++;
    while (*p && *p != ']') {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) {
            p++;
            continue;
        }
        if (n < cap) ids[n++] = (int32_t)v;
        p = end;
    }
    *pp = p;
    return n;
}

TEST(test_tokenizer_llama_package_cases) {
    ttt_tok *t;
    int r = tdata_tok("llama2", &t);
    if (r != TEST_PASS) return r;
    char *js = tdata_read(tdata("tok/llama2/tests.js"), NULL);
    if (!js) {
        ttt_tok_free(t);
        return test_skip("%s is not fetched (run 'make data')", tdata("tok/llama2/tests.js"));
    }
    int32_t *want = malloc(4096 * sizeof *want);
    int cases = 0, decodes = 0, ok = 1;
    for (const char *p = js; ok && (p = strstr(p, "testCase(")) != NULL;) {
        p += strlen("testCase(");
        while (*p == ' ') p++;
        if (*p != '"' && *p != '\'') continue; /* the function's own definition */
        size_t len;
        char *text = js_string(&p, &len);
        int64_t nw = js_ids(&p, want, 4096);
        char what[80];
        snprintf(what, sizeof what, "package case %d ('%.20s')", cases, text);
        ok = nw >= 0 && check_text(t, what, text, len, TTT_TOK_ADD_BOS, want, nw);
        free(text);
        cases++;
    }
    /* decode-only cases with the default parameters (add_bos_token and add_preceding_space) */
    for (const char *p = js; ok && (p = strstr(p, "testDecodeOnly(")) != NULL;) {
        p += strlen("testDecodeOnly(");
        if (*p != '[') continue;
        int64_t n = js_ids(&p, want, 4096);
        p = strpbrk(p, "\"'");
        if (!p) break;
        size_t len;
        char *expect = js_string(&p, &len);
        const char *e = strchr(p, ')');
        char rest[64] = "";
        if (e && e - p < 63) memcpy(rest, p, (size_t)(e - p)), rest[e - p] = 0;
        const char *t1 = strstr(rest, "true");
        int defaults = t1 && strstr(t1 + 4, "true") && !strstr(rest, "false");
        if (defaults) {
            char *text = NULL;
            size_t tl = 0;
            if (ttt_tok_decode(t, want, n, 0, &text, &tl) != TTT_OK || tl != len || memcmp(text, expect, len) != 0) {
                test_fail("decode case %d: expected '%s', got '%s'", decodes, expect, text ? text : ttt_last_error());
                ok = 0;
            }
            free(text);
            decodes++;
        }
        free(expect);
    }
    free(want);
    free(js);
    ttt_tok_free(t);
    if (!ok) return TEST_FAIL;
    EXPECT(cases == 12 && decodes == 2, "found %d encode and %d default decode cases, expected 12 and 2", cases,
           decodes);
    return TEST_PASS;
}

/* our own Llama cases; expected ids from llama-tokenizer-js@1.2.2 encode(text, false, true) */
typedef struct {
    const char *text;
    size_t len; /* 0: strlen */
    int32_t ids[40];
    int n;
} llama_case;

static const llama_case LLAMA_CASES[] = {
    {"", 0, {0}, 0},
    {" ", 0, {259}, 1},
    {"  ", 0, {1678}, 1},
    {"   ", 0, {268}, 1},
    {"\t\t", 0, {29871, 12, 12}, 3},
    {"a  b   c    d", 0, {263, 29871, 289, 259, 274, 1678, 270}, 7},
    {"Hello world", 0, {15043, 3186}, 2},
    {"hello\n\nworld\n", 0, {22172, 13, 13, 11526, 13}, 5},
    {" \n \n", 0, {259, 13, 29871, 13}, 4},
    {"\xF0\x9F\x98\x80\xF0\x9F\xA6\x99\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", 0, /* emoji with a skin tone */
     {29871, 243, 162, 155, 131, 243, 162, 169, 156, 243, 162, 148, 144, 243, 162, 146, 192}, 17},
    {"\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88", 0,
     {29871, 30325, 30346, 30968, 30199, 30572, 30454, 30255, 30279}, 9}, /* 日本語のテキスト */
    {"\xE4\xB8\xAD\xE6\x96\x87\xE6\xB5\x8B\xE8\xAF\x95\xEF\xBC\x8C\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x81", 0,
     {29871, 30275, 30333, 31851, 31787, 30214, 30919, 31076, 30584}, 9}, /* 中文测试，你好！ */
    {"12345 67890 3.14159 1,000,000", 0,
     {29871, 29896, 29906, 29941, 29946, 29945, 29871, 29953, 29955, 29947, 29929, 29900, 29871, 29941, 29889,
      29896, 29946, 29896, 29945, 29929, 29871, 29896, 29892, 29900, 29900, 29900, 29892, 29900, 29900, 29900},
     30},
    {"\xC3\xBF\x00\x01\x7F", 5, {29871, 30370, 3, 4, 130}, 5}, /* ÿ NUL SOH DEL: byte fallback */
    {"na\xC3\xAFve caf\xC3\xA9 r\xC3\xA9sum\xC3\xA9", 0, {1055, 30085, 345, 274, 28059, 6896, 398, 29948}, 8},
    {"\xEA\x99\x8A\xF0\x9D\x94\x98\xF0\x9D\x94\xAB", 0, /* Ꙋ𝔘𝔫 */
     {29871, 237, 156, 141, 243, 160, 151, 155, 243, 160, 151, 174}, 12},
    {"<s></s><unk>", 0, {529, 29879, 2565, 29879, 5299, 2960, 29958}, 7}, /* control texts are plain text */
    {"end.", 0, {1095, 29889}, 2},
};

TEST(test_tokenizer_llama_own_cases) {
    ttt_tok *t;
    int r = tdata_tok("llama2", &t);
    if (r != TEST_PASS) return r;
    int ok = 1;
    for (size_t i = 0; ok && i < sizeof LLAMA_CASES / sizeof LLAMA_CASES[0]; i++) {
        const llama_case *c = &LLAMA_CASES[i];
        char what[64];
        snprintf(what, sizeof what, "own case %zu", i);
        ok = check_text(t, what, c->text, c->len ? c->len : strlen(c->text), 0, c->ids, c->n);
    }
    /* BOS/EOS and the ids of the control tokens */
    int32_t want[] = {1, 15043, 3186, 2};
    ok = ok && check_text(t, "BOS+EOS", "Hello world", 11, TTT_TOK_ADD_BOS | TTT_TOK_ADD_EOS, want, 4);
    ok = ok && ttt_tok_bos(t) == 1 && ttt_tok_eos(t) == 2 && ttt_tok_vocab_size(t) == 32000 &&
         ttt_tok_special_id(t, "<s>") == 1 && ttt_tok_special_id(t, "</s>") == 2 &&
         ttt_tok_special_id(t, "<unk>") == 0;
    /* a literal U+2581 keeps its bytes (llama-tokenizer-js would make it a space) */
    int32_t want2[] = {29871, 229, 153, 132, 29874};
    ok = ok && check_text(t, "literal U+2581", "\xE2\x96\x81" "a", 4, 0, want2, 5);
    ttt_tok_free(t);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_tokenizer_special_tokens) {
    ttt_tok *t;
    int r = tdata_tok("r50k_base", &t);
    if (r != TEST_PASS) return r;
    const char *s = "a<|endoftext|>b";
    int32_t plain[] = {64, 27, 91, 437, 1659, 5239, 91, 29, 65}, special[] = {64, 50256, 65};
    int ok = check_text(t, "special as text", s, strlen(s), 0, plain, 9) &&
             check_text(t, "special allowed", "a<|endoftext|>b", strlen(s), TTT_TOK_ALLOW_SPECIAL, special, 3);
    int32_t wrapped[] = {50256, 31373, 50256};
    ok = ok && check_text(t, "BOS/EOS", "hello", 5, TTT_TOK_ADD_BOS | TTT_TOK_ADD_EOS, wrapped, 3);
    char *text;
    size_t len;
    ok = ok && ttt_tok_decode(t, special, 3, TTT_TOK_DECODE_SPECIAL, &text, &len) == TTT_OK;
    EXPECT(ok && len == 15 && memcmp(text, s, 15) == 0, "decode with specials");
    free(text);
    EXPECT(ttt_tok_vocab_size(t) == 50257 && ttt_tok_bos(t) == 50256 && ttt_tok_eos(t) == 50256, "r50k ids");
    int32_t bad[] = {31373, 50257};
    EXPECT(ttt_tok_decode(t, bad, 2, 0, &text, &len) == TTT_ERR_ARG && strstr(ttt_last_error(), "50257"),
           "id 50257 accepted: %s", ttt_last_error());
    ttt_tok_free(t);

    r = tdata_tok("cl100k_base", &t);
    if (r != TEST_PASS) return r;
    int32_t fim[] = {100258, 13, 100260, 100276};
    ok = check_text(t, "cl100k specials", "<|fim_prefix|>.<|fim_suffix|><|endofprompt|>", 44, TTT_TOK_ALLOW_SPECIAL,
                    fim, 4);
    EXPECT(ok && ttt_tok_vocab_size(t) == 100277 && ttt_tok_special_id(t, "<|endoftext|>") == 100257, "cl100k ids");
    ttt_tok_free(t);
    r = tdata_tok("o200k_base", &t);
    if (r != TEST_PASS) return r;
    EXPECT(ttt_tok_vocab_size(t) == 200019 && ttt_tok_special_id(t, "<|endoftext|>") == 199999 &&
               ttt_tok_special_id(t, "<|endofprompt|>") == 200018,
           "o200k ids");
    ttt_tok_free(t);

    /* Llama-2: "<s>" is text (< s > after the dummy-prefixed a) unless allowed; allowed, it is
     * BOS and the text on each side is a section of its own, with its own dummy prefix (▁a 263,
     * ▁b 289); decoding restarts after BOS, so the second space is dropped again */
    r = tdata_tok("llama2", &t);
    if (r != TEST_PASS) return r;
    int32_t as_text[] = {263, 29966, 29879, 29958, 29890}, as_bos[] = {263, 1, 289};
    ok = ok && check_text(t, "llama <s> as text", "a<s>b", 5, 0, as_text, 5) &&
         check_text(t, "llama <s> allowed", "a<s>b", 5, TTT_TOK_ALLOW_SPECIAL, as_bos, 3);
    ok = ok && ttt_tok_decode(t, as_bos, 3, TTT_TOK_DECODE_SPECIAL, &text, &len) == TTT_OK;
    EXPECT(ok && len == 5 && memcmp(text, "a<s>b", 5) == 0, "llama decode with specials: '%.*s'", ok ? (int)len : 0,
           ok ? text : "");
    free(text);
    ok = ttt_tok_decode(t, as_bos, 3, 0, &text, &len) == TTT_OK;
    EXPECT(ok && len == 2 && memcmp(text, "ab", 2) == 0, "llama decode: '%.*s'", ok ? (int)len : 0, ok ? text : "");
    free(text);
    ttt_tok_free(t);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* ---- properties --------------------------------------------------------------------------- */

static const char *FRAGMENTS[] = {
    "a", "Z", "the", " ", "  ", "\n", "\n\n", " \n", "\r\n", "\t", "1", "2024", "3.14", "'s", "'LL", "\xC3\xA9",
    "\xE2\x80\x94", "\xEF\xBB\xBF", "\xE4\xB8\xAD", "\xF0\x9F\xA6\x99", "\xE2\x96\x81", "<|endoftext|>", ".", "!?",
    "/", "\xC2\xA0", "\xE3\x80\x80", "\xCC\x81", "Hello", "\xC2\x85", "x\n9", "\n\nA", "   \n\nb", "--"};
#define N_FRAG (sizeof FRAGMENTS / sizeof FRAGMENTS[0])

static char *random_text(size_t n, int invalid, size_t *len) {
    char *s = malloc(n + 8);
    size_t k = 0;
    while (k < n) {
        if (invalid && rnd() % 13 == 0) {
            s[k++] = (char)(0x80 + rnd() % 128); /* a byte that cannot start UTF-8 here */
            continue;
        }
        const char *f = FRAGMENTS[rnd() % N_FRAG];
        size_t m = strlen(f);
        if (k + m > n) break;
        memcpy(s + k, f, m);
        k += m;
    }
    *len = k;
    return s;
}

TEST(test_tokenizer_random_roundtrip) {
    const char *names[] = TOKENIZER_NAMES;
    for (int k = 0; k < 5; k++) {
        ttt_tok *t;
        int r = tdata_tok(names[k], &t);
        if (r != TEST_PASS) return r;
        for (int trial = 0; trial < 300; trial++) {
            size_t len;
            char *s = random_text(1 + rnd() % 400, trial % 2, &len);
            char what[64];
            snprintf(what, sizeof what, "%s random text %d", names[k], trial);
            int ok = check_text(t, what, s, len, 0, NULL, 0);
            free(s);
            if (!ok) {
                ttt_tok_free(t);
                return TEST_FAIL;
            }
        }
        /* every single byte, and all 256 bytes in a row */
        char all[256];
        for (int b = 0; b < 256; b++) all[b] = (char)b;
        int ok = check_text(t, "all bytes", all, 256, 0, NULL, 0);
        for (int b = 0; ok && b < 256; b++) ok = check_text(t, "one byte", all + b, 1, 0, NULL, 0);
        ttt_tok_free(t);
        if (!ok) return TEST_FAIL;
    }
    return TEST_PASS;
}

/* Segments (and their joins) must give exactly one serial pass's tokens, on any thread count. */
static int encode_with(const ttt_tok *t, const char *s, size_t len, size_t seg, int threads, int32_t **ids, int64_t *n) {
    size_t old = tok_segment_bytes;
    tok_segment_bytes = seg;
    omp_set_num_threads(threads);
    ttt_status st = ttt_tok_encode(t, s, len, TTT_TOK_ALLOW_SPECIAL, ids, n);
    tok_segment_bytes = old;
    omp_set_num_threads(omp_get_num_procs());
    return st == TTT_OK;
}

TEST(test_tokenizer_segments_exact) {
    const char *names[] = TOKENIZER_NAMES;
    size_t len_rand;
    char *rand_text = random_text(300000, 1, &len_rand);
    size_t len_moby = 0;
    char *moby = tdata_read(tdata("text/moby_dick.txt"), &len_moby);
    for (int k = 0; k < 5; k++) {
        ttt_tok *t;
        int r = tdata_tok(names[k], &t);
        if (r != TEST_PASS) {
            free(rand_text), free(moby);
            return r;
        }
        for (int which = 0; which < 2; which++) {
            const char *s = which ? moby : rand_text;
            size_t len = which ? len_moby : len_rand;
            if (!s) continue;
            if (tdata_sanitized() && len > 200000) len = 200000;
            int32_t *a, *b, *c;
            int64_t na, nb, nc;
            EXPECT(encode_with(t, s, len, (size_t)1 << 40, 1, &a, &na), "serial encode: %s", ttt_last_error());
            EXPECT(encode_with(t, s, len, 64 * 1024, 2, &b, &nb), "encode: %s", ttt_last_error());
            EXPECT(encode_with(t, s, len, 97, 2, &c, &nc), "encode: %s", ttt_last_error());
            char what[80];
            snprintf(what, sizeof what, "%s %s: 64 kB segments vs one pass", names[k], which ? "Moby Dick" : "random");
            int ok = ids_equal(what, b, nb, a, na);
            snprintf(what, sizeof what, "%s %s: 97-byte segments vs one pass", names[k], which ? "Moby Dick" : "random");
            ok = ok && ids_equal(what, c, nc, a, na);
            free(a), free(b), free(c);
            if (!ok) {
                ttt_tok_free(t);
                free(rand_text), free(moby);
                return TEST_FAIL;
            }
        }
        ttt_tok_free(t);
    }
    free(rand_text);
    free(moby);
    return TEST_PASS;
}
