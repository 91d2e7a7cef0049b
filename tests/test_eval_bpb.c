/* test_eval_bpb.c: `ttt eval --bits-per-byte`. Oracles: the byte length of the documents'
 * text (a window covering whole documents counts exactly their bytes), and, for windows cut
 * anywhere, the bytes of each run of counted targets decoded as one span with ttt_tok_decode
 * (not the per-id table the command builds); bits per byte = mean_loss x targets / ln 2 / bytes.
 * Both tokenizer kinds of `ttt tokenizer train`: byte-level BPE, and SentencePiece-style BPE
 * with its dummy-prefix space and byte fallback. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "ttt_tokenizer.h"

/* two documents of ASCII and multi-byte UTF-8 (2-4 bytes), some rare enough to fall back to
 * bytes in the SentencePiece-style kind */
static size_t write_docs(const char *list) {
    static const char *lines[] = {"The state of the Union is strong, and the café is open.\n",
                                  "Naïve readers ask: what is “test-time training” — really?\n",
                                  "日本語のテキスト and numbers 12345, 678.\n",
                                  "A rare one: \xF0\x9F\x98\x80 and \xE2\x9C\x93 once.\n",
                                  "  Indented line\twith a tab, and trailing spaces   \n"};
    size_t total = 0;
    char d[2][64] = {"bpb_d1.txt", "bpb_d2.txt"};
    for (int k = 0; k < 2; k++) {
        char *buf = malloc(8192);
        size_t n = 0;
        for (int r = 0; r < 12 + 5 * k; r++) {
            const char *l = lines[(r * (k + 2)) % (k ? 5 : 3)];
            size_t m = strlen(l);
            memcpy(buf + n, l, m);
            n += m;
        }
        if (k) memcpy(buf + n, lines[3], strlen(lines[3])), n += strlen(lines[3]);
        write_whole(tmp_path(d[k]), buf, n);
        total += n;
        free(buf);
    }
    const char *txt = "bpb_d1.txt\nbpb_d2.txt\n";
    write_whole(list, txt, strlen(txt));
    return total;
}

/* the oracle: bytes of the targets eval counts (windows of L+1, targets equal to BOS left out),
 * each run of consecutive counted targets decoded as one span: right after BOS on its own (the
 * document's start, whose dummy-prefix space is not text), else after its previous token,
 * less that token's bytes */
static double span_bytes(const ttt_tok *tok, const ttt_tokfile *tf, int64_t L) {
    const int32_t bos = ttt_tok_bos(tok);
    double sum = 0;
    for (int64_t w = 0; w < tf->n_tokens / (L + 1); w++) {
        int64_t t = w * (L + 1) + 1, end = w * (L + 1) + L + 1;
        while (t < end) {
            if (tf->ids[t] == bos) {
                t++;
                continue;
            }
            int64_t e = t;
            while (e < end && tf->ids[e] != bos) e++;
            int after = tf->ids[t - 1] != bos;
            char *a = NULL, *b = NULL;
            size_t la = 0, lb = 0;
            if (ttt_tok_decode(tok, tf->ids + t - after, e - t + after, 0, &a, &la) != TTT_OK) return NAN;
            if (after && ttt_tok_decode(tok, tf->ids + t - 1, 1, 0, &b, &lb) != TTT_OK) return NAN;
            sum += (double)(la - lb);
            free(a), free(b);
            t = e;
        }
    }
    return sum;
}

static int one_kind(const char *kind) {
    char tokdir[600], tokf[700], model[600], tokfile[600], js[600];
    const char *list = tmp_path("bpb_docs.list");
    size_t text_bytes = write_docs(list);
    snprintf(tokdir, sizeof tokdir, "%s", tmp_path(strcmp(kind, "byte-bpe") ? "bpb_tok_sp" : "bpb_tok_byte"));
    snprintf(tokf, sizeof tokf, "%s/tokenizer.json", tokdir);
    snprintf(model, sizeof model, "%s", tmp_path(strcmp(kind, "byte-bpe") ? "bpb_model_sp" : "bpb_model_byte"));
    snprintf(tokfile, sizeof tokfile, "%s", tmp_path(strcmp(kind, "byte-bpe") ? "bpb_sp.tok" : "bpb_byte.tok"));
    snprintf(js, sizeof js, "%s", tmp_path("bpb.json"));
    char *out = NULL;
    EXPECT(run_cmd(&out, "rm -rf %s %s && mkdir -p %s && %s tokenizer train --input-list %s --vocab 400 --kind %s "
                   "--min-frequency 1 --out %s --quiet && %s tokenize --tokenizer %s --input-list %s --output %s && "
                   "%s init --preset llama-tiny --tokenizer %s --seed 3 --out %s",
                   tokdir, model, tokdir, test_ttt_bin, list, kind, tokf, test_ttt_bin, tokdir, list, tokfile,
                   test_ttt_bin, tokdir, model) == 0,
           "%s: tokenizer, token file or model: %s", kind, out);
    free(out);
    ttt_tokfile tf;
    ttt_tok *tok = NULL;
    EXPECT(ttt_tokfile_read(tokfile, &tf) == TTT_OK, "%s: %s", tokfile, ttt_last_error());
    EXPECT(ttt_tok_load(tokdir, NULL, &tok) == TTT_OK, "%s: %s", tokdir, ttt_last_error());
    /* one window over the whole file: the documents' bytes exactly, less those of the file's
     * first token when it is text (an input, never a target: one separator between documents,
     * as the tiktoken-style BOS = EOS writes them); then windows of 63 and 17 */
    double first = 0;
    if (tf.ids[0] != ttt_tok_bos(tok)) {
        char *s0 = NULL;
        size_t l0 = 0;
        EXPECT(ttt_tok_decode(tok, tf.ids, 1, 0, &s0, &l0) == TTT_OK, "decode: %s", ttt_last_error());
        free(s0);
        first = (double)l0;
    }
    int ok = 1;
    const int64_t lens[3] = {tf.n_tokens - 1, 63, 17};
    for (int c = 0; c < 3 && ok; c++) {
        int64_t L = lens[c];
        if (run_cmd(&out, "%s eval --model %s --data %s --context %lld --bits-per-byte --json %s --threads 1",
                    test_ttt_bin, model, tokfile, (long long)L, js) != 0) {
            test_fail("%s: eval --context %lld --bits-per-byte failed: %s", kind, (long long)L, out);
            free(out);
            ok = 0;
            break;
        }
        free(out);
        char *j = read_whole(js, NULL);
        double bytes = json_num(j, "bytes"), bpb = json_num(j, "bits_per_byte"), ml = json_num(j, "mean_loss"),
               n = json_num(j, "targets");
        free(j);
        double want = c == 0 ? (double)text_bytes - first : span_bytes(tok, &tf, L);
        double bpb_want = ml * n / log(2.0) / want;
        printf("      %s, context %lld: %.0f bytes in %.0f targets (oracle %.0f), %.6f bits per byte\n", kind,
               (long long)L, bytes, n, want, bpb);
        if (bytes != want)
            test_fail("%s, context %lld: eval counts %.0f bytes, the %s says %.0f", kind, (long long)L, bytes,
                      c == 0 ? "documents' text" : "span decoding", want), ok = 0;
        else if (!(fabs(bpb - bpb_want) <= 1e-12 * bpb_want))
            test_fail("%s, context %lld: bits per byte %.17g, mean_loss x targets / ln 2 / bytes = %.17g", kind,
                      (long long)L, bpb, bpb_want), ok = 0;
    }
    ttt_tok_free(tok);
    ttt_tokfile_free(&tf);
    return ok;
}

TEST(test_eval_bits_per_byte) {
    int ok = one_kind("byte-bpe");
    return one_kind("sp-bpe") && ok ? TEST_PASS : TEST_FAIL;
}

/* the wrong tokenizer, or none, is an error naming what was wrong, never a silent number */
TEST(test_eval_bits_per_byte_errors) {
    const char *tokfile = tmp_path("bpb_byte.tok"), *model = tmp_path("bpb_model_byte");
    int ok = 1;
    if (!(run_cmd(NULL, "test -f %s && test -d %s", tokfile, model) == 0)) {
        if (one_kind("byte-bpe") != 1) return TEST_FAIL;
        if (one_kind("sp-bpe") != 1) return TEST_FAIL;
    }
    /* the SentencePiece-style tokenizer for the byte-level token file */
    ok &= expect_cli_error("was made by tokenizer|--tokenizer",
                           "eval --model %s --data %s --context 31 --bits-per-byte --tokenizer %s", model, tokfile,
                           tmp_path("bpb_tok_sp"));
    /* a model directory without a tokenizer, and none given */
    const char *m = tiny_model("bpb_notok", ""), *t = tiny_tokens("bpb_notok.tok", 200, 11, "", 0);
    if (!m || !t) return TEST_FAIL;
    ok &= expect_cli_error("--bits-per-byte needs the tokenizer|--tokenizer",
                           "eval --model %s --data %s --context 15 --bits-per-byte", m, t);
    /* a tokenizer path that does not exist */
    ok &= expect_cli_error("--bits-per-byte|no-such-tokenizer",
                           "eval --model %s --data %s --context 31 --bits-per-byte --tokenizer %s", model, tokfile,
                           tmp_path("no-such-tokenizer"));
    return ok ? TEST_PASS : TEST_FAIL;
}
