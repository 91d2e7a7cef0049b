/* tokenizer_bench.c: our side of `make bench-tokenizer`: loads a tokenizer, reads the files
 * (each one document), encodes them all REPS times (all OpenMP threads; ttt_tok_encode_batch)
 * and prints one JSON line with bytes, tokens, FNV-1a 64 of the ids (the peer prints the same
 * hash, so equal tokens are checked too) and the median time. Not a test.
 *   tokenizer_bench TOKENIZER_PATH REPS FILE... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ttt_tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *slurp(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, fp) != (size_t)n) free(b), b = NULL;
    fclose(fp);
    *len = (size_t)n;
    return b;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: tokenizer_bench TOKENIZER_PATH REPS FILE...\n");
        return 2;
    }
    ttt_tok *t;
    if (ttt_tok_load(argv[1], NULL, &t) != TTT_OK) {
        fprintf(stderr, "tokenizer_bench: %s\n", ttt_last_error());
        return 1;
    }
    int reps = atoi(argv[2]), n = argc - 3;
    if (reps < 1) reps = 1;
    const char **texts = calloc((size_t)n, sizeof *texts);
    size_t *lens = calloc((size_t)n, sizeof *lens), bytes = 0;
    int32_t **ids = calloc((size_t)n, sizeof *ids);
    int64_t *n_ids = calloc((size_t)n, sizeof *n_ids);
    double *times = calloc((size_t)reps, sizeof *times);
    for (int i = 0; i < n; i++) {
        texts[i] = slurp(argv[3 + i], &lens[i]);
        if (!texts[i]) {
            fprintf(stderr, "tokenizer_bench: cannot read %s\n", argv[3 + i]);
            return 1;
        }
        bytes += lens[i];
    }
    int64_t tokens = 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (ttt_tok_encode_batch(t, texts, lens, n, 0, ids, n_ids) != TTT_OK) {
            fprintf(stderr, "tokenizer_bench: %s\n", ttt_last_error());
            return 1;
        }
        times[r] = now() - t0;
        for (int i = 0; i < n; i++) {
            if (r == 0) {
                tokens += n_ids[i];
                for (int64_t k = 0; k < n_ids[i]; k++)
                    for (int b = 0; b < 4; b++) h = (h ^ (((uint32_t)ids[i][k] >> (8 * b)) & 255)) * 0x100000001b3ULL;
            }
            free(ids[i]);
        }
    }
    qsort(times, (size_t)reps, sizeof *times, cmp_d);
    double med = times[reps / 2];
    printf("{\"impl\":\"ttt\",\"encoding\":\"%s\",\"bytes\":%zu,\"tokens\":%lld,\"fnv\":\"%016llx\",\"median_s\":%.6f,"
           "\"mb_s\":%.3f,\"reps\":%d}\n",
           ttt_tok_name(t), bytes, (long long)tokens, (unsigned long long)h, med, (double)bytes / med / 1e6, reps);
    for (int i = 0; i < n; i++) free((void *)texts[i]);
    free(texts), free(lens), free(ids), free(n_ids), free(times);
    ttt_tok_free(t);
    return 0;
}
