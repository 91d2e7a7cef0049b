/* test_tokenizer_util.c: helpers of the tokenizer and data tests (see test_tokenizer_util.h). */
#include "test_tokenizer_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"

const char *tdata(const char *rel) {
    static char buf[8][1024];
    static int k;
    const char *root = getenv("TTT_DATA");
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", root && *root ? root : "data", rel);
    return b;
}

int tdata_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int tdata_tok(const char *name, ttt_tok **t) {
    *t = NULL;
    char rel[128];
    if (strcmp(name, "llama2") == 0)
        snprintf(rel, sizeof rel, "tok/llama2");
    else
        snprintf(rel, sizeof rel, "tok/%s.tiktoken", name);
    const char *path = tdata(rel);
    if (!tdata_exists(path)) return test_skip("%s is not fetched (run 'make data')", path);
    if (ttt_tok_load(path, NULL, t) != TTT_OK) {
        test_fail("loading %s: %s", path, ttt_last_error());
        return TEST_FAIL;
    }
    return TEST_PASS;
}

char *tdata_read(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, fp) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(fp);
    if (b) {
        b[n] = 0;
        if (len) *len = (size_t)n;
    }
    return b;
}

int tdata_sanitized(void) {
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 1;
#endif
#endif
    return 0;
}

int64_t tdata_first_diff_i32(const int32_t *a, int64_t na, const int32_t *b, int64_t nb) {
    int64_t n = na < nb ? na : nb;
    for (int64_t i = 0; i < n; i++)
        if (a[i] != b[i]) return i;
    return na == nb ? -1 : n;
}
