/* test_tokenizer_corpus.c: decode(encode(text)) == text for every fetched corpus file (the raw
 * extracts under data/raw, GCIDE's invalid UTF-8 included, and the cleaned documents under
 * data/text), with each of the five tokenizers. The sanitizer build checks the first 256 kB of
 * each file. Skips when the data is not fetched. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"
#include "test_tokenizer_util.h"

typedef struct {
    char **v;
    int n, cap;
} file_list;

static void collect(file_list *fl, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            collect(fl, path);
        } else if (strlen(e->d_name) > 4 && strcmp(e->d_name + strlen(e->d_name) - 4, ".txt") == 0) {
            if (fl->n == fl->cap) {
                fl->cap = fl->cap ? 2 * fl->cap : 256;
                fl->v = realloc(fl->v, (size_t)fl->cap * sizeof *fl->v);
            }
            fl->v[fl->n++] = strdup(path);
        }
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int corpus_roundtrip(const char *name) {
    ttt_tok *t;
    int r = tdata_tok(name, &t);
    if (r != TEST_PASS) return r;
    file_list fl = {0};
    collect(&fl, tdata("raw"));
    collect(&fl, tdata("text"));
    if (fl.n == 0) {
        ttt_tok_free(t);
        return test_skip("no corpus files under %s and %s (run 'make data')", tdata("raw"), tdata("text"));
    }
    qsort(fl.v, (size_t)fl.n, sizeof *fl.v, cmp_str);
    size_t limit = tdata_sanitized() ? 256 * 1024 : SIZE_MAX;
    char **texts = calloc((size_t)fl.n, sizeof *texts);
    size_t *lens = calloc((size_t)fl.n, sizeof *lens), total = 0;
    int32_t **ids = calloc((size_t)fl.n, sizeof *ids);
    int64_t *n_ids = calloc((size_t)fl.n, sizeof *n_ids), tokens = 0;
    int ok = 1;
    for (int i = 0; i < fl.n && ok; i++) {
        texts[i] = tdata_read(fl.v[i], &lens[i]);
        if (!texts[i]) {
            test_fail("cannot read %s", fl.v[i]);
            ok = 0;
        } else if (lens[i] > limit) {
            lens[i] = limit;
        }
        total += lens[i];
    }
    if (ok && ttt_tok_encode_batch(t, (const char *const *)texts, lens, fl.n, 0, ids, n_ids) != TTT_OK) {
        test_fail("%s: encode failed: %s", name, ttt_last_error());
        ok = 0;
    }
    for (int i = 0; i < fl.n && ok; i++) {
        char *back;
        size_t blen;
        tokens += n_ids[i];
        if (ttt_tok_decode(t, ids[i], n_ids[i], 0, &back, &blen) != TTT_OK) {
            test_fail("%s: %s: decode failed: %s", name, fl.v[i], ttt_last_error());
            ok = 0;
            break;
        }
        if (blen != lens[i] || memcmp(back, texts[i], blen) != 0) {
            size_t k = 0;
            while (k < blen && k < lens[i] && back[k] == texts[i][k]) k++;
            test_fail("%s: %s: round trip differs at byte %zu of %zu", name, fl.v[i], k, lens[i]);
            ok = 0;
        }
        free(back);
    }
    if (ok) printf("      %s: %d files, %zu bytes, %lld tokens round-tripped\n", name, fl.n, total, (long long)tokens);
    for (int i = 0; i < fl.n; i++) {
        free(texts[i]);
        free(ids[i]);
        free(fl.v[i]);
    }
    free(texts), free(lens), free(ids), free(n_ids), free(fl.v);
    ttt_tok_free(t);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_tokenizer_corpus_roundtrip_r50k) { return corpus_roundtrip("r50k_base"); }
TEST(test_tokenizer_corpus_roundtrip_p50k) { return corpus_roundtrip("p50k_base"); }
TEST(test_tokenizer_corpus_roundtrip_cl100k) { return corpus_roundtrip("cl100k_base"); }
TEST(test_tokenizer_corpus_roundtrip_o200k) { return corpus_roundtrip("o200k_base"); }
TEST(test_tokenizer_corpus_roundtrip_llama2) { return corpus_roundtrip("llama2"); }
