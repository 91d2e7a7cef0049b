/* cmd_eval.c: `ttt eval`: perplexity over non-overlapping windows of a token file (design.md 6),
 * optionally the exact-match accuracy on the counted targets, bits per byte (comparable across
 * vocabularies), the loss by token position (log-spaced buckets, CSV), a unigram baseline, and
 * the results as a JSON object. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_tok.h"
#include "model/family.h"
#include "io/fsutil.h"
#include "ttt.h"
#include "ttt_tokenizer.h"
#include "ttt_train.h"

static const flag_spec flags[] = {{"model", 1},       {"data", 1},     {"context", 1}, {"windows", 1},
                                  {"batch", 1},       {"by-position", 1}, {"buckets", 1}, {"unigram", 1},
                                  {"no-bos-mask", 0}, {"threads", 1},  {"precision", 1}, {"ttt-stats", 1},
                                  {"accuracy", 0},    {"json", 1},     {"bits-per-byte", 0},
                                  {"tokenizer", 1},   {NULL, 0}};

static void help(void) {
    printf("usage: ttt eval --model DIR --data FILE.tok --context L [--windows N] [--batch B]\n"
           "                [--by-position OUT.csv [--buckets K]] [--unigram TRAIN.tok] [--accuracy]\n"
           "                [--bits-per-byte [--tokenizer PATH]] [--json OUT.json]\n\n"
           "Perplexity = exp(sum of NLL over the unmasked targets / their number) over non-overlapping\n"
           "windows of L+1 tokens (L inputs, L targets; targets equal to the model's bos_token_id left\n"
           "out unless --no-bos-mask). A token file with a loss mask (version 2, e.g. from 'ttt synth')\n"
           "counts exactly the targets its mask flags. Memory stays bounded at long context for every\n"
           "model type.\n\n"
           "  --accuracy       also the exact-match accuracy: the share of the counted targets that are\n"
           "                   the argmax of the model's logits (ties: the lowest id)\n"
           "  --json F         also write the results as one JSON object to F (- for standard output):\n"
           "                   perplexity, mean_loss, targets, windows, context, and with --accuracy\n"
           "                   accuracy and correct, with --bits-per-byte bytes and bits_per_byte\n"
           "  --bits-per-byte  also bits per byte, comparable across vocabularies: the summed NLL of the\n"
           "                   counted targets in bits over the bytes of text they stand for (each target's\n"
           "                   bytes as the tokenizer decodes it after another token, a word's leading\n"
           "                   space included, or alone right after BOS; BOS, EOS and other special tokens\n"
           "                   count none: a whole document counts its text's bytes). The tokenizer is\n"
           "                   the model's (its directory's tokenizer.json) or --tokenizer PATH, and must\n"
           "                   be the one that made the token file; with --unigram, the unigram's too\n"
           "  --by-position F  write the mean loss at each token position, in K (default 32) log-spaced\n"
           "                   buckets of positions, as CSV (position_start,position_end,mean_loss,targets)\n"
           "  --unigram T      also the perplexity of a unigram model (add-one smoothed counts of the\n"
           "                   token file T) on the same targets, for comparison\n"
           "  --windows N      at most N windows (default: all)\n"
           "  --ttt-stats F    TTT models: the inner-loop diagnostics (the paper's Figure 4) as CSV\n"
           "                   (layer,minibatch,position,loss_init,loss_prev,loss_after): for the last token\n"
           "                   of each mini-batch, the reconstruction loss (mean squared error per element)\n"
           "                   at the learned initial weights W0, at the weights the mini-batch started from,\n"
           "                   and after its update, averaged over the windows, sequences and heads\n");
}

static int write_by_position(const char *path, const double *byp, const int64_t *cnt, int64_t L, int64_t K) {
    ttt_atomic_file af;
    if (ttt_atomic_open(&af, path) != TTT_OK) return cli_fail("eval");
    FILE *fp = af.fp;
    fprintf(fp, "position_start,position_end,mean_loss,targets\n");
    /* bucket edges: log-spaced from 1 to L (positions counted from 1) */
    int64_t prev = 0;
    for (int64_t k = 1; k <= K && prev < L; k++) {
        int64_t end = (int64_t)llround(pow((double)L, (double)k / (double)K));
        if (end <= prev) end = prev + 1;
        if (end > L) end = L;
        double sum = 0;
        int64_t n = 0;
        for (int64_t t = prev; t < end; t++)
            if (cnt[t] > 0) sum += byp[t] * (double)cnt[t], n += cnt[t];
        if (n > 0) fprintf(fp, "%lld,%lld,%.6f,%lld\n", (long long)(prev + 1), (long long)end, sum / (double)n, (long long)n);
        prev = end;
    }
    return ttt_atomic_commit(&af) == TTT_OK ? 0 : cli_fail("eval");
}

/* inner-loop diagnostics averaged over the windows */
static int ttt_stats(ttt_model *m, const char *data, int64_t L, int64_t W, int64_t B, const char *out) {
    const ttt_config *c = ttt_model_config(m);
    if (!ttt_family_of(c)->inner_stats) {
        fprintf(stderr, "ttt eval: --ttt-stats needs a TTT model\n");
        return 2;
    }
    ttt_tokfile tf;
    if (ttt_tokfile_read(data, &tf) != TTT_OK) return cli_fail("eval");
    int64_t Wt = tf.n_tokens / (L + 1);
    if (W > 0 && W < Wt) Wt = W;
    if (Wt < 1) {
        fprintf(stderr, "ttt eval: %s has %lld tokens, fewer than one window of %lld + 1\n", data,
                (long long)tf.n_tokens, (long long)L);
        ttt_tokfile_free(&tf);
        return 1;
    }
    int64_t nmb = (L + c->mini_batch_size - 1) / c->mini_batch_size, n = c->num_hidden_layers * nmb * 3;
    double *sum = calloc((size_t)n, sizeof(double)), *st = malloc(sizeof(double) * (size_t)n);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(B * L));
    int rc = 0;
    if (!sum || !st || !ids) {
        fprintf(stderr, "ttt eval: out of memory\n");
        rc = 1;
    }
    for (int64_t w0 = 0; w0 < Wt && rc == 0; w0 += B) {
        int64_t b = Wt - w0 < B ? Wt - w0 : B;
        for (int64_t i = 0; i < b; i++) memcpy(ids + i * L, tf.ids + (w0 + i) * (L + 1), sizeof(int32_t) * (size_t)L);
        if (ttt_forward_ttt_stats(m, ids, b, L, st) != TTT_OK) rc = cli_fail("eval");
        for (int64_t i = 0; rc == 0 && i < n; i++) sum[i] += st[i] * (double)b;
    }
    ttt_atomic_file af;
    if (rc == 0 && ttt_atomic_open(&af, out) != TTT_OK) rc = cli_fail("eval");
    if (rc == 0) {
        FILE *fp = af.fp;
        fprintf(fp, "layer,minibatch,position,loss_init,loss_prev,loss_after\n");
        for (int64_t l = 0; l < c->num_hidden_layers; l++)
            for (int64_t k = 0; k < nmb; k++) {
                const double *x = sum + (l * nmb + k) * 3;
                int64_t pos = (k + 1) * c->mini_batch_size < L ? (k + 1) * c->mini_batch_size : L;
                fprintf(fp, "%lld,%lld,%lld,%.8f,%.8f,%.8f\n", (long long)l, (long long)k, (long long)pos,
                        x[0] / (double)Wt, x[1] / (double)Wt, x[2] / (double)Wt);
            }
        if (ttt_atomic_commit(&af) != TTT_OK) rc = cli_fail("eval");
        else printf("inner-loop diagnostics: %s\n", out);
    }
    free(sum), free(st), free(ids);
    ttt_tokfile_free(&tf);
    return rc;
}

/* Bytes of text per id, two tables: after[y] = |decode(p y)| - |decode(p)| for an ordinary
 * token p, so that a Metaspace or SentencePiece word keeps its leading space (decoding y alone
 * drops it), and alone[y] = |decode(y)|, for a target right after BOS (a document's first token,
 * whose dummy-prefix space is not in the text). Special tokens decode to nothing and count 0.
 * NAN for an id the tokenizer cannot decode. b holds 2V doubles: after, then alone. */
static double *bytes_per_id(const ttt_tok *tok, int64_t V) {
    int32_t *pre = NULL;
    int64_t np = 0;
    char *txt = NULL;
    size_t base = 0, len = 0;
    double *b = NULL;
    if (ttt_tok_encode(tok, "a", 1, 0, &pre, &np) != TTT_OK || np < 1 ||
        ttt_tok_decode(tok, pre + np - 1, 1, 0, &txt, &base) != TTT_OK) {
        fprintf(stderr, "ttt eval: --bits-per-byte: the tokenizer cannot encode and decode \"a\": %s\n", ttt_last_error());
        free(pre);
        return NULL;
    }
    free(txt);
    if (!(b = malloc(sizeof(double) * 2 * (size_t)V))) {
        fprintf(stderr, "ttt eval: out of memory\n");
        free(pre);
        return NULL;
    }
    int32_t two[2] = {pre[np - 1], 0};
    for (int64_t y = 0; y < V; y++) {
        two[1] = (int32_t)y;
        b[y] = ttt_tok_decode(tok, two, 2, 0, &txt, &len) == TTT_OK ? (double)(len - base) : NAN;
        free(txt);
        b[V + y] = ttt_tok_decode(tok, two + 1, 1, 0, &txt, &len) == TTT_OK ? (double)len : NAN;
        free(txt);
        txt = NULL;
    }
    free(pre);
    return b;
}

/* The bytes of text the counted targets stand for (the windows and mask of ttt_evaluate), with
 * the tokenizer that made the token file (FLAG: --tokenizer, else the model directory's). */
static int target_bytes(const char *flag, const char *model_dir, const ttt_config *cfg, const char *data, int64_t L,
                        int64_t W, int32_t bos, double *bytes) {
    model_tok mt;
    if (model_tok_find(flag, model_dir, cfg->tokenizer, &mt) != TTT_OK) {
        fprintf(stderr, "ttt eval: --bits-per-byte needs the tokenizer of the token file: %s\n", ttt_last_error());
        return 1;
    }
    ttt_tokfile te;
    if (ttt_tokfile_read(data, &te) != TTT_OK) {
        model_tok_free(&mt);
        return cli_fail("eval");
    }
    int rc = 0;
    const char *name = ttt_tok_name(mt.tok);
    int64_t V = ttt_tok_vocab_size(mt.tok);
    if (te.tokenizer[0] && strcmp(te.tokenizer, name) != 0) {
        fprintf(stderr, "ttt eval: --bits-per-byte: %s was made by tokenizer \"%s\", but %s is \"%s\" (give the "
                "token file's tokenizer with --tokenizer)\n", data, te.tokenizer, mt.from, name);
        rc = 2;
    } else if (te.vocab_size > V) {
        fprintf(stderr, "ttt eval: --bits-per-byte: %s has ids up to %lld but the tokenizer %s has %lld\n", data,
                (long long)te.vocab_size, mt.from, (long long)V);
        rc = 2;
    }
    double *b = rc ? NULL : bytes_per_id(mt.tok, V);
    if (!rc && !b) rc = 1;
    int64_t Wt = te.n_tokens / (L + 1);
    if (W > 0 && W < Wt) Wt = W;
    const int32_t tbos = ttt_tok_bos(mt.tok);
    double sum = 0;
    for (int64_t w = 0; !rc && w < Wt; w++)
        for (int64_t t = 0; !rc && t < L; t++) {
            int64_t i = w * (L + 1) + t + 1;
            int32_t y = te.ids[i];
            if (te.mask ? !te.mask[i] : bos >= 0 && y == bos) continue; /* the model's targets */
            double by = te.ids[i - 1] == tbos ? b[V + y] : b[y];
            if (isnan(by)) {
                fprintf(stderr, "ttt eval: --bits-per-byte: target %lld of %s is id %d, which %s cannot decode: %s\n",
                        (long long)i, data, y, mt.from, ttt_last_error());
                rc = 1;
            }
            sum += by;
        }
    *bytes = sum;
    free(b);
    ttt_tokfile_free(&te);
    model_tok_free(&mt);
    return rc;
}

/* unigram perplexity on the same windows/targets as the model */
static int unigram(const char *train, const char *data, int64_t L, int64_t W, int32_t bos, const ttt_config *cfg,
                   double *ppl) {
    ttt_tokfile tr, te;
    int64_t V = cfg->vocab_size;
    if (ttt_tokfile_read(train, &tr) != TTT_OK) return cli_fail("eval");
    /* the counts must be of the model's tokens: the same vocabulary and tokenizer */
    if (ttt_tokfile_check_model(&tr, cfg, train) != TTT_OK) {
        ttt_tokfile_free(&tr);
        return cli_fail("eval");
    }
    if (ttt_tokfile_read(data, &te) != TTT_OK) {
        ttt_tokfile_free(&tr);
        return cli_fail("eval");
    }
    int64_t n = V > tr.vocab_size ? V : tr.vocab_size;
    double *cnt = calloc((size_t)n, sizeof(double));
    if (!cnt) {
        ttt_tokfile_free(&tr);
        ttt_tokfile_free(&te);
        fprintf(stderr, "ttt eval: out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < tr.n_tokens; i++) cnt[tr.ids[i]] += 1;
    double total = (double)tr.n_tokens + (double)n;
    int64_t Wt = te.n_tokens / (L + 1);
    if (W > 0 && W < Wt) Wt = W;
    double sum = 0;
    int64_t c = 0;
    for (int64_t w = 0; w < Wt; w++)
        for (int64_t t = 0; t < L; t++) {
            int32_t y = te.ids[w * (L + 1) + t + 1];
            if (te.mask ? !te.mask[w * (L + 1) + t + 1] : bos >= 0 && y == bos) continue; /* the model's targets */
            sum += -log((cnt[y] + 1.0) / total);
            c++;
        }
    *ppl = c ? exp(sum / (double)c) : NAN;
    free(cnt);
    ttt_tokfile_free(&tr);
    ttt_tokfile_free(&te);
    return 0;
}

/* a number as JSON: %.17g, or null when it is not finite (an empty evaluation) */
static const char *jnum(char *buf, size_t n, double x) {
    if (isfinite(x)) snprintf(buf, n, "%.17g", x);
    else snprintf(buf, n, "null");
    return buf;
}

/* the results as one JSON object, to PATH or "-" (stdout) */
static int write_json(const char *path, const ttt_eval_result *r, int64_t L, int acc, double unigram_ppl, double bytes,
                      double unigram_bpb) {
    char buf[1024], x[3][40];
    int n = snprintf(buf, sizeof buf, "{\"perplexity\": %s, \"mean_loss\": %s, \"targets\": %lld, \"windows\": %lld, "
                     "\"context\": %lld", jnum(x[0], 40, r->ppl), jnum(x[1], 40, r->nll_sum / (double)r->count),
                     (long long)r->count, (long long)r->windows, (long long)L);
    if (acc)
        n += snprintf(buf + n, sizeof buf - (size_t)n, ", \"accuracy\": %s, \"correct\": %lld",
                      jnum(x[2], 40, r->accuracy), (long long)r->correct);
    if (!isnan(unigram_ppl))
        n += snprintf(buf + n, sizeof buf - (size_t)n, ", \"unigram_perplexity\": %s", jnum(x[0], 40, unigram_ppl));
    if (!isnan(bytes))
        n += snprintf(buf + n, sizeof buf - (size_t)n, ", \"bytes\": %.0f, \"bits_per_byte\": %s", bytes,
                      jnum(x[1], 40, r->nll_sum / log(2.0) / bytes));
    if (!isnan(unigram_bpb))
        n += snprintf(buf + n, sizeof buf - (size_t)n, ", \"unigram_bits_per_byte\": %s", jnum(x[2], 40, unigram_bpb));
    snprintf(buf + n, sizeof buf - (size_t)n, "}\n");
    if (strcmp(path, "-") == 0) {
        fputs(buf, stdout);
        return 0;
    }
    ttt_atomic_file af;
    if (ttt_atomic_open(&af, path) != TTT_OK) return cli_fail("eval");
    ttt_atomic_write(&af, buf, strlen(buf));
    if (ttt_atomic_commit(&af) != TTT_OK) return cli_fail("eval");
    printf("results: %s\n", path);
    return 0;
}

int cmd_eval(int argc, char **argv) {
    args a;
    if (args_parse(&a, "eval", flags, argc, argv)) return 2;
    if (a.help) {
        help();
        return 0;
    }
    if (args_require(&a, "model") || args_require(&a, "data") || args_require(&a, "context")) return 2;
    int64_t L, W, B, K, v;
    if (args_int(&a, "context", 0, 1, (int64_t)1 << 24, &L) || args_int(&a, "windows", 0, 0, (int64_t)1 << 40, &W) ||
        args_int(&a, "batch", 1, 1, 4096, &B) || args_int(&a, "buckets", 32, 1, 100000, &K) ||
        args_int(&a, "threads", 0, 0, 4096, &v))
        return 2;
    ttt_options mo;
    ttt_options_default(&mo);
    mo.threads = (int)v;
    const char *prec = args_str(&a, "precision", "f32");
    if (strcmp(prec, "f32") && strcmp(prec, "f64")) {
        fprintf(stderr, "ttt eval: --precision must be f32 or f64\n");
        return 2;
    }
    mo.precision = strcmp(prec, "f64") == 0 ? TTT_PREC_F64 : TTT_PREC_F32;
    const int want_acc = args_has(&a, "accuracy");
    const char *json = args_str(&a, "json", NULL);
    if (json && !json[0]) {
        fprintf(stderr, "ttt eval: --json needs a file name (or - for standard output)\n");
        return 2;
    }
    ttt_model *m;
    if (ttt_model_load(args_str(&a, "model", ""), &mo, &m) != TTT_OK) return cli_fail("eval");
    int mask = !args_has(&a, "no-bos-mask");
    double *byp = malloc(sizeof(double) * (size_t)L);
    int64_t *cnt = malloc(sizeof(int64_t) * (size_t)L);
    if (!byp || !cnt) {
        free(byp), free(cnt);
        ttt_model_free(m);
        fprintf(stderr, "ttt eval: out of memory for --context %lld\n", (long long)L);
        return 1;
    }
    ttt_eval_result r;
    double t0 = cli_now();
    ttt_status s = ttt_evaluate(m, args_str(&a, "data", ""), L, W, B, mask, byp, cnt, &r);
    double dt = cli_now() - t0;
    int rc = 0;
    if (s != TTT_OK) {
        rc = cli_fail("eval");
    } else {
        printf("perplexity %.4f  (mean loss %.6f over %lld targets in %lld windows of %lld; %.0f tokens/s)\n", r.ppl,
               r.nll_sum / (double)r.count, (long long)r.count, (long long)r.windows, (long long)L,
               (double)(r.windows * L) / dt);
        if (want_acc)
            printf("accuracy %.6f  (%lld of %lld targets are the argmax of the logits)\n", r.accuracy,
                   (long long)r.correct, (long long)r.count);
        const char *bp = args_str(&a, "by-position", NULL);
        if (bp && write_by_position(bp, byp, cnt, L, K) == 0) printf("loss by position: %s\n", bp);
        else if (bp) rc = 1;
        const char *ts = args_str(&a, "ttt-stats", NULL);
        if (ts && rc == 0) rc = ttt_stats(m, args_str(&a, "data", ""), L, W, B, ts);
        const char *ug = args_str(&a, "unigram", NULL);
        double up = NAN;
        if (ug && rc == 0) {
            rc = unigram(ug, args_str(&a, "data", ""), L, W, mask ? (int32_t)ttt_model_config(m)->bos_token_id : -1,
                         ttt_model_config(m), &up);
            if (rc == 0) printf("unigram perplexity %.4f (model / unigram = %.3f)\n", up, r.ppl / up);
        }
        /* bits per byte = sum of NLL (nats) / ln 2 / bytes of the counted targets; the unigram's
         * from its mean NLL ln(ppl) over the same targets */
        double bytes = NAN, ubpb = NAN;
        if (args_has(&a, "bits-per-byte") && rc == 0) {
            rc = target_bytes(args_str(&a, "tokenizer", NULL), args_str(&a, "model", ""), ttt_model_config(m),
                              args_str(&a, "data", ""), L, W,
                              mask ? (int32_t)ttt_model_config(m)->bos_token_id : -1, &bytes);
            if (rc == 0 && !(bytes > 0)) {
                fprintf(stderr, "ttt eval: --bits-per-byte: the counted targets stand for no bytes of text\n");
                rc = 1;
            }
            if (rc == 0) {
                printf("bits per byte %.6f  (%.0f bytes of text in the %lld targets, %.3f bytes per target)\n",
                       r.nll_sum / log(2.0) / bytes, bytes, (long long)r.count, bytes / (double)r.count);
                if (!isnan(up)) {
                    ubpb = log(up) * (double)r.count / log(2.0) / bytes;
                    printf("unigram bits per byte %.6f\n", ubpb);
                }
            }
        }
        if (json && rc == 0) rc = write_json(json, &r, L, want_acc, up, bytes, ubpb);
    }
    free(byp);
    free(cnt);
    ttt_model_free(m);
    return rc;
}
