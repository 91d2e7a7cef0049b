/* test_model_tokenizer.c: model directories carry their tokenizer (issue 19 part 3).
 *   - `ttt init --tokenizer T` writes tokenizer.json + tokenizer_config.json that ttt_tok_load reads
 *     back with T's own ids (the oracle: T itself, loaded from its original files), and config.json
 *     takes T's vocabulary size, BOS/EOS ids and name; a smaller --vocab is refused, a bigger one pads;
 *   - `ttt train --tokenizer T` writes the same bytes into every checkpoint, --model DIR and --resume
 *     carry a directory's tokenizer.json on (also after the checkpoint it came from is pruned), and a
 *     tokenizer that is not the token file's or the model's is refused naming both;
 *   - `ttt generate` without --tokenizer uses the directory's tokenizer.json, with the same prompt
 *     ids and continuation as the original tokenizer.
 * A hand-written 11-token tokenizer.json (the tiny models' vocabulary) keeps most cases free of
 * data/; the Llama-2 and GPT-2 (r50k_base) cases skip when data/tok lacks them. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"
#include "ttt.h"
#include "ttt_tokenizer.h"

static const char TINY_JSON[] =
    "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, \"added_tokens\": ["
    "{\"id\": 0, \"content\": \"<unk>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
    "\"normalized\": false, \"special\": true}, "
    "{\"id\": 1, \"content\": \"<s>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
    "\"normalized\": false, \"special\": true}, "
    "{\"id\": 2, \"content\": \"</s>\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
    "\"normalized\": false, \"special\": true}], "
    "\"normalizer\": null, \"pre_tokenizer\": null, \"post_processor\": null, \"decoder\": null, "
    "\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"vocab\": {\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, "
    "\"a\": 3, \"b\": 4, \"c\": 5, \"d\": 6, \"e\": 7, \"f\": 8, \"g\": 9, \"ab\": 10}, \"merges\": [\"a b\"]}}";
static const char TINY_CONFIG[] = "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"add_bos_token\": true}";

/* the tiny tokenizer's directory (made once) and its name ("hf-" + hash) */
static const char *tiny_tok(char name[64]) {
    const char *dir = tmp_path("mtok_tiny");
    char p[1200];
    mkdir(dir, 0777);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    write_whole(p, TINY_JSON, strlen(TINY_JSON));
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    write_whole(p, TINY_CONFIG, strlen(TINY_CONFIG));
    ttt_tok *t;
    if (ttt_tok_load(dir, NULL, &t) != TTT_OK) {
        test_fail("the tiny tokenizer.json does not load: %s", ttt_last_error());
        return NULL;
    }
    if (ttt_tok_vocab_size(t) != 11 || ttt_tok_bos(t) != 1 || ttt_tok_eos(t) != 2) {
        test_fail("the tiny tokenizer: %lld ids, BOS %d, EOS %d (expected 11, 1, 2)", (long long)ttt_tok_vocab_size(t),
                  ttt_tok_bos(t), ttt_tok_eos(t));
        ttt_tok_free(t);
        return NULL;
    }
    snprintf(name, 64, "%s", ttt_tok_name(t));
    ttt_tok_free(t);
    return dir;
}

static const char *TINY_FLAGS = "--preset ttt-linear-tiny --layers 1 --width 8 --heads 2 --intermediate 8";
static const char *TRAIN_FLAGS = "--seq-len 8 --batch 1 --lr 1e-3";

/* file a/name and file b/name hold the same bytes (a NULL b: b/name must be absent) */
static int same_file(const char *a, const char *b, const char *name) {
    char pa[1300], pb[1300];
    snprintf(pa, sizeof pa, "%s/%s", a, name);
    size_t na, nb;
    char *x = read_whole(pa, &na), *y = NULL;
    int ok = 1;
    if (!b) {
        if (x) test_fail("%s exists (expected none)", pa);
        ok = !x;
    } else {
        snprintf(pb, sizeof pb, "%s/%s", b, name);
        y = read_whole(pb, &nb);
        if (!x || !y || na != nb || memcmp(x, y, na) != 0) {
            test_fail("%s (%zu bytes) is not a copy of %s (%zu bytes)", pa, x ? na : 0, pb, y ? nb : 0);
            ok = 0;
        }
    }
    free(x), free(y);
    return ok;
}

static int config_of(const char *dir, ttt_config *c) {
    char p[1200];
    snprintf(p, sizeof p, "%.1100s/config.json", dir);
    if (ttt_config_load(p, c) != TTT_OK) {
        test_fail("%s: %s", p, ttt_last_error());
        return 0;
    }
    return 1;
}

/* no staging directory (NAME.init-PID-XXXXXX) was left in the scratch directory */
static int no_staging_left(void) {
    DIR *d = opendir(test_tmpdir);
    struct dirent *e;
    int ok = 1;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".init-")) {
            test_fail("a staging directory was left behind: %s/%s", test_tmpdir, e->d_name);
            ok = 0;
        }
    if (d) closedir(d);
    return ok;
}

/* the ids of a and b agree on text (both flag sets); prints the first difference */
static int same_ids(const char *what, const ttt_tok *a, const ttt_tok *b, const char *text, size_t len) {
    static const int flags[] = {0, TTT_TOK_ADD_BOS | TTT_TOK_ADD_EOS};
    for (int f = 0; f < (ttt_tok_bos(a) == ttt_tok_bos(b) ? 2 : 1); f++) {
        int32_t *x = NULL, *y = NULL;
        int64_t nx = 0, ny = 0;
        if (ttt_tok_encode(a, text, len, flags[f], &x, &nx) != TTT_OK ||
            ttt_tok_encode(b, text, len, flags[f], &y, &ny) != TTT_OK) {
            test_fail("%s: encode failed: %s", what, ttt_last_error());
            free(x), free(y);
            return 0;
        }
        int64_t i = 0;
        while (i < nx && i < ny && x[i] == y[i]) i++;
        if (i < nx || i < ny) {
            test_fail("%s (flags %d): %lld ids from the original, %lld from the saved one; first difference at %lld: "
                      "%d vs %d", what, flags[f], (long long)nx, (long long)ny, (long long)i, i < nx ? x[i] : -1,
                      i < ny ? y[i] : -1);
            free(x), free(y);
            return 0;
        }
        free(x), free(y);
    }
    return 1;
}

/* init --tokenizer with a built-in tokenizer: the saved files give its ids; config.json its
 * vocabulary, BOS/EOS and name; --vocab below refused, above kept */
static int builtin_case(const char *tokpath, const char *expect_name) {
    struct stat sb;
    if (stat(tokpath, &sb) != 0) return test_skip("%s is absent (scripts/fetch-data.sh)", tokpath);
    ttt_tok *orig = NULL, *back = NULL;
    EXPECT(ttt_tok_load(tokpath, NULL, &orig) == TTT_OK, "%s: %s", tokpath, ttt_last_error());
    const char *dir = tmp_path(expect_name);
    char *out;
    int rc = run_cmd(&out, "rm -rf %s && %s init %s --tokenizer %s --out %s", dir, test_ttt_bin, TINY_FLAGS, tokpath, dir);
    if (rc != 0) test_fail("init --tokenizer %s: %s", tokpath, out);
    free(out);
    if (rc != 0) goto fail;
    ttt_config c;
    if (!config_of(dir, &c)) goto fail;
    if (c.vocab_size != ttt_tok_vocab_size(orig) || c.bos_token_id != ttt_tok_bos(orig) ||
        c.eos_token_id != ttt_tok_eos(orig) || strcmp(c.tokenizer, expect_name) != 0) {
        test_fail("%s/config.json: vocab %lld bos %lld eos %lld ttt_tokenizer '%s'; the tokenizer has %lld ids, BOS %d, "
                  "EOS %d, name '%s'", dir, (long long)c.vocab_size, (long long)c.bos_token_id, (long long)c.eos_token_id,
                  c.tokenizer, (long long)ttt_tok_vocab_size(orig), ttt_tok_bos(orig), ttt_tok_eos(orig), expect_name);
        goto fail;
    }
    if (ttt_tok_load(dir, NULL, &back) != TTT_OK) {
        test_fail("%s (the saved tokenizer) does not load: %s", dir, ttt_last_error());
        goto fail;
    }
    static const char *samples[] = {"Hello world", "  leading spaces and\ttabs\n\nnew lines ",
                                    "caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80",
                                    "1234567 + 89 = x; x'll don't", "x<y>z & <b>tags</b> -- \\u00e9 ~~~ ...."};
    for (int i = 0; i < 5; i++)
        if (!same_ids(samples[i], orig, back, samples[i], strlen(samples[i]))) goto fail;
    size_t n;
    char *text = read_whole("data/text/moby_dick.txt", &n);
    if (text) {
        int ok = same_ids("data/text/moby_dick.txt (first 64 kB)", orig, back, text, n < 65536 ? n : 65536);
        free(text);
        if (!ok) goto fail;
    }
    /* --vocab: smaller refused, naming the tokenizer's size; bigger pads */
    long long V = (long long)ttt_tok_vocab_size(orig);
    char need[512];
    snprintf(need, sizeof need, "--vocab %lld|smaller|%lld", V - 1, V);
    if (!expect_cli_error(need, "init %s --tokenizer %s --vocab %lld --out %s_small", TINY_FLAGS, tokpath, V - 1, dir))
        goto fail;
    char small[1200];
    snprintf(small, sizeof small, "%s_small", dir);
    if (stat(small, &sb) == 0) {
        test_fail("a refused init left %s", small);
        goto fail;
    }
    rc = run_cmd(&out, "rm -rf %s_pad && %s init %s --tokenizer %s --vocab %lld --out %s_pad", dir, test_ttt_bin,
                 TINY_FLAGS, tokpath, V + 64, dir);
    if (rc != 0) test_fail("init --vocab %lld: %s", V + 64, out);
    free(out);
    char pad[1200];
    snprintf(pad, sizeof pad, "%s_pad", dir);
    if (rc != 0 || !config_of(pad, &c)) goto fail;
    if (c.vocab_size != V + 64 || strcmp(c.tokenizer, expect_name) != 0) {
        test_fail("%s: vocab %lld, ttt_tokenizer '%s' (expected %lld, '%s')", pad, (long long)c.vocab_size, c.tokenizer,
                  V + 64, expect_name);
        goto fail;
    }
    if (!no_staging_left()) goto fail;
    ttt_tok_free(orig), ttt_tok_free(back);
    return TEST_PASS;
fail:
    ttt_tok_free(orig), ttt_tok_free(back);
    return TEST_FAIL;
}

TEST(test_model_tok_init_llama2) { return builtin_case("data/tok/llama2", "llama2"); }
TEST(test_model_tok_init_tiktoken) { return builtin_case("data/tok/r50k_base.tiktoken", "r50k_base"); }

/* a tokenizer.json is copied byte for byte; re-initialising the directory without one removes
 * the replaced model's tokenizer files; bad --tokenizer / --out leave nothing behind */
TEST(test_model_tok_init_tiny) {
    char name[64];
    const char *tok = tiny_tok(name);
    if (!tok) return TEST_FAIL;
    const char *dir = tmp_path("mtok_init");
    char *out;
    EXPECT(run_cmd(&out, "rm -rf %s && %s init %s --tokenizer %s/tokenizer.json --out %s", dir, test_ttt_bin, TINY_FLAGS,
                   tok, dir) == 0, "init: %s", out);
    free(out);
    if (!same_file(dir, tok, "tokenizer.json") || !same_file(dir, tok, "tokenizer_config.json")) return TEST_FAIL;
    ttt_config c;
    if (!config_of(dir, &c)) return TEST_FAIL;
    EXPECT(c.vocab_size == 11 && c.bos_token_id == 1 && c.eos_token_id == 2 && strcmp(c.tokenizer, name) == 0,
           "config.json: vocab %lld bos %lld eos %lld ttt_tokenizer '%s' (expected 11, 1, 2, '%s')",
           (long long)c.vocab_size, (long long)c.bos_token_id, (long long)c.eos_token_id, c.tokenizer, name);
    /* --bos/--eos still override */
    EXPECT(run_cmd(&out, "rm -rf %s_b && %s init %s --tokenizer %s --bos 3 --eos -1 --out %s_b", dir, test_ttt_bin,
                   TINY_FLAGS, tok, dir) == 0, "init --bos: %s", out);
    free(out);
    char b[1200];
    snprintf(b, sizeof b, "%s_b", dir);
    if (!config_of(b, &c)) return TEST_FAIL;
    EXPECT(c.bos_token_id == 3 && c.eos_token_id == -1 && c.vocab_size == 11, "--bos 3 --eos -1: bos %lld eos %lld",
           (long long)c.bos_token_id, (long long)c.eos_token_id);
    /* into the existing directory without --tokenizer: the old tokenizer files go */
    EXPECT(run_cmd(&out, "%s init %s --vocab 11 --out %s", test_ttt_bin, TINY_FLAGS, dir) == 0 &&
               strstr(out, "removed") && strstr(out, "tokenizer.json"), "re-init: %s", out);
    free(out);
    if (!same_file(dir, NULL, "tokenizer.json") || !same_file(dir, NULL, "tokenizer_config.json") || !config_of(dir, &c))
        return TEST_FAIL;
    EXPECT(c.tokenizer[0] == 0, "re-init without a tokenizer kept ttt_tokenizer '%s'", c.tokenizer);
    /* and back with one, into the existing directory */
    EXPECT(run_cmd(&out, "%s init %s --tokenizer %s --out %s", test_ttt_bin, TINY_FLAGS, tok, dir) == 0, "re-init: %s", out);
    free(out);
    if (!same_file(dir, tok, "tokenizer.json") || !config_of(dir, &c)) return TEST_FAIL;
    EXPECT(strcmp(c.tokenizer, name) == 0, "re-init with the tokenizer: ttt_tokenizer '%s'", c.tokenizer);
    /* bad input: nothing written, nothing left */
    const char *nodir = tmp_path("mtok_none");
    if (!expect_cli_error("mtok_nothing", "init %s --tokenizer %s/mtok_nothing --out %s", TINY_FLAGS, test_tmpdir, nodir))
        return TEST_FAIL;
    struct stat sb;
    EXPECT(stat(nodir, &sb) != 0, "a failed init created %s", nodir);
    const char *file = tmp_path("mtok_file");
    write_whole(file, "x", 1);
    if (!expect_cli_error("mtok_file|not a directory", "init %s --tokenizer %s --out %s", TINY_FLAGS, tok, file))
        return TEST_FAIL;
    if (!expect_cli_error("--vocab 10|smaller|11", "init %s --tokenizer %s --vocab 10 --out %s", TINY_FLAGS, tok, nodir))
        return TEST_FAIL;
    if (!expect_cli_error("no/such|staging", "init %s --tokenizer %s --out %s/no/such/dir", TINY_FLAGS, tok, test_tmpdir))
        return TEST_FAIL;
    return no_staging_left() ? TEST_PASS : TEST_FAIL;
}

/* checkpoint NAME of run RUN holds the tiny tokenizer's files (have) or none (!have) */
static int ckpt_has(const char *run, const char *ck, const char *tok, int have) {
    char d[1200];
    snprintf(d, sizeof d, "%s/%s", run, ck);
    struct stat sb;
    if (stat(d, &sb) != 0) {
        test_fail("%s is missing", d);
        return 0;
    }
    return same_file(d, have ? tok : NULL, "tokenizer.json") && same_file(d, have ? tok : NULL, "tokenizer_config.json");
}

TEST(test_model_tok_train_checkpoints) {
    char name[64];
    const char *tok = tiny_tok(name);
    if (!tok) return TEST_FAIL;
    const char *data = tiny_tokens("mtok.tok", 400, 11, name, 0);
    const char *model = tmp_path("mtok_model"), *run = tmp_path("mtok_run");
    if (!data) return TEST_FAIL;
    char *out;
    EXPECT(run_cmd(&out, "rm -rf %s %s && %s init %s --tokenizer %s --out %s", model, run, test_ttt_bin, TINY_FLAGS,
                   tok, model) == 0, "init: %s", out);
    free(out);
    /* --model DIR with tokenizer.json: every checkpoint carries it */
    EXPECT(run_cmd(&out, "%s train --model %s --data %s --run %s --steps 3 --ckpt-every 1 --keep 5 %s --quiet",
                   test_ttt_bin, model, data, run, TRAIN_FLAGS) == 0, "train --model: %s", out);
    free(out);
    for (int k = 1; k <= 3; k++) {
        char ck[32];
        snprintf(ck, sizeof ck, "ckpt-%08d", k);
        if (!ckpt_has(run, ck, tok, 1)) return TEST_FAIL;
    }
    /* --resume keeps it, also once the checkpoint it came from is pruned (--keep 1) */
    EXPECT(run_cmd(&out, "%s train --run %s --resume --data %s --steps 6 --ckpt-every 1 --keep 1 %s --quiet",
                   test_ttt_bin, run, data, TRAIN_FLAGS) == 0, "resume: %s", out);
    free(out);
    if (!ckpt_has(run, "ckpt-00000006", tok, 1)) return TEST_FAIL;
    struct stat sb;
    char gone[1200];
    snprintf(gone, sizeof gone, "%s/ckpt-00000003", run);
    EXPECT(stat(gone, &sb) != 0, "--keep 1 kept %s", gone);
    /* --preset with --tokenizer; a preset without one gets none and a note */
    const char *run2 = tmp_path("mtok_run2"), *run3 = tmp_path("mtok_run3");
    EXPECT(run_cmd(&out, "rm -rf %s %s && %s train %s --data %s --run %s --steps 2 --tokenizer %s %s --quiet", run2,
                   run3, test_ttt_bin, TINY_FLAGS, data, run2, tok, TRAIN_FLAGS) == 0,
           "train --preset --tokenizer: %s", out);
    free(out);
    if (!ckpt_has(run2, "ckpt-00000002", tok, 1)) return TEST_FAIL;
    ttt_config c;
    char p[1200];
    snprintf(p, sizeof p, "%s/ckpt-00000002", run2);
    if (!config_of(p, &c)) return TEST_FAIL;
    EXPECT(strcmp(c.tokenizer, name) == 0 && c.vocab_size == 11, "%s: ttt_tokenizer '%s', vocab %lld", p, c.tokenizer,
           (long long)c.vocab_size);
    EXPECT(run_cmd(&out, "%s train %s --data %s --run %s --steps 1 %s", test_ttt_bin, TINY_FLAGS, data, run3,
                   TRAIN_FLAGS) == 0 && strstr(out, "no tokenizer") && strstr(out, "--tokenizer PATH"),
           "train without a tokenizer: %s", out);
    free(out);
    if (!ckpt_has(run3, "ckpt-00000001", tok, 0)) return TEST_FAIL;
    /* resuming a run without a tokenizer with --tokenizer: from then on */
    EXPECT(run_cmd(&out, "%s train --run %s --resume --data %s --steps 2 --tokenizer %s %s --quiet", test_ttt_bin, run3,
                   data, tok, TRAIN_FLAGS) == 0, "resume --tokenizer: %s", out);
    free(out);
    if (!ckpt_has(run3, "ckpt-00000002", tok, 1)) return TEST_FAIL;
    /* --model DIR without tokenizer.json: none */
    const char *bare = tiny_model("mtok_bare", ""), *run4 = tmp_path("mtok_run4");
    if (!bare) return TEST_FAIL;
    EXPECT(run_cmd(&out, "rm -rf %s && %s train --model %s --data %s --run %s --steps 1 %s --quiet", run4, test_ttt_bin,
                   bare, data, run4, TRAIN_FLAGS) == 0, "train --model bare: %s", out);
    free(out);
    return ckpt_has(run4, "ckpt-00000001", tok, 0) ? TEST_PASS : TEST_FAIL;
}

/* a tokenizer that is not the token file's or the model's: --tokenizer refused (both named, no
 * run directory made); a directory's own one only dropped, with a note */
TEST(test_model_tok_train_mismatch) {
    char name[64];
    const char *tok = tiny_tok(name);
    if (!tok) return TEST_FAIL;
    const char *other = tiny_tokens("mtok_other.tok", 400, 11, "llama2", 0);
    const char *unnamed12 = tiny_tokens("mtok_v12.tok", 400, 12, "", 0);
    const char *unnamed10 = tiny_tokens("mtok_v10.tok", 400, 10, "", 0);
    const char *unnamed11 = tiny_tokens("mtok_v11.tok", 400, 11, "", 0);
    if (!other || !unnamed12 || !unnamed10 || !unnamed11) return TEST_FAIL;
    const char *run = tmp_path("mtok_mm_run");
    char need[512];
    snprintf(need, sizeof need, "mtok_other.tok|'llama2'|%s", name);
    if (!expect_cli_error(need, "train %s --data %s --run %s --steps 1 --tokenizer %s %s", TINY_FLAGS, other, run, tok,
                          TRAIN_FLAGS))
        return TEST_FAIL;
    if (!expect_cli_error("mtok_v12.tok|12 ids|11 ids", "train %s --data %s --run %s --steps 1 --tokenizer %s %s",
                          TINY_FLAGS, unnamed12, run, tok, TRAIN_FLAGS))
        return TEST_FAIL;
    if (!expect_cli_error("--tokenizer|mtok_absent", "train %s --data %s --run %s --steps 1 --tokenizer %s/mtok_absent %s",
                          TINY_FLAGS, unnamed11, run, test_tmpdir, TRAIN_FLAGS))
        return TEST_FAIL;
    struct stat sb;
    EXPECT(stat(run, &sb) != 0, "a refused train created %s", run);
    /* a model that records another tokenizer (the token file records none) */
    const char *named = tiny_model("mtok_named", "");
    if (!named) return TEST_FAIL;
    char *out;
    EXPECT(run_cmd(&out, "sed -i 's/\"vocab_size\"/\"ttt_tokenizer\": \"gpt-x\", \"vocab_size\"/' %s/config.json", named) == 0,
           "sed: %s", out);
    free(out);
    snprintf(need, sizeof need, "'gpt-x'|%s", name);
    if (!expect_cli_error(need, "train --model %s --data %s --run %s --steps 1 --tokenizer %s %s", named, unnamed11, run,
                          tok, TRAIN_FLAGS))
        return TEST_FAIL;
    /* the model directory's own tokenizer.json that does not fit the data: a note, no tokenizer */
    const char *model = tmp_path("mtok_mm_model"), *run2 = tmp_path("mtok_mm_run2");
    EXPECT(run_cmd(&out, "rm -rf %s %s && %s init %s --tokenizer %s --out %s", model, run2, test_ttt_bin, TINY_FLAGS, tok,
                   model) == 0, "init: %s", out);
    free(out);
    EXPECT(run_cmd(&out, "%s train --model %s --data %s --run %s --steps 1 %s --quiet", test_ttt_bin, model, unnamed10, run2,
                   TRAIN_FLAGS) == 0 && strstr(out, "note") && strstr(out, "mtok_v10.tok") && strstr(out, "no tokenizer"),
           "train --model with another tokenizer's data: %s", out);
    free(out);
    char ck[1200];
    snprintf(ck, sizeof ck, "%s/ckpt-00000001", run2);
    if (!same_file(ck, NULL, "tokenizer.json")) return TEST_FAIL;
    /* a tokenizer.json this build cannot read in the model directory: a note, training goes on */
    const char *broken = tmp_path("mtok_broken"), *run3 = tmp_path("mtok_mm_run3");
    EXPECT(run_cmd(&out, "rm -rf %s %s && cp -r %s %s && echo '{\"model\": {\"type\": \"WordPiece\"}}' > %s/tokenizer.json",
                   broken, run3, model, broken, broken) == 0, "cp: %s", out);
    free(out);
    EXPECT(run_cmd(&out, "%s train --model %s --data %s --run %s --steps 1 %s --quiet", test_ttt_bin, broken, unnamed11, run3,
                   TRAIN_FLAGS) == 0 && strstr(out, "note") && strstr(out, "WordPiece"),
           "train --model with an unreadable tokenizer.json: %s", out);
    free(out);
    snprintf(ck, sizeof ck, "%s/ckpt-00000001", run3);
    return same_file(ck, NULL, "tokenizer.json") ? TEST_PASS : TEST_FAIL;
}

/* stdout of `ttt generate --model DIR --prompt P` (greedy) with extra flags, and the prompt's
 * token count from its statistics line */
static char *gen_out(const char *dir, const char *prompt, const char *extra, long *prompt_tokens) {
    char *out, *err;
    const char *ef = tmp_path("mtok_gen_err");
    int rc = run_cmd(&out, "%s generate --model %s --prompt '%s' --max-tokens 6 --temperature 0 %s 2>%s", test_ttt_bin,
                     dir, prompt, extra, ef);
    err = read_whole(ef, NULL);
    const char *p = err ? strstr(err, "prompt ") : NULL;
    *prompt_tokens = p ? strtol(p + 7, NULL, 10) : -1;
    if (rc != 0) {
        test_fail("generate --model %s %s: status %d: %s %s", dir, extra, rc, out, err ? err : "");
        free(out);
        out = NULL;
    }
    free(err);
    return out;
}

/* generate finds the directory's tokenizer.json and gives what the original tokenizer gives */
static int generate_case(const char *dir, const char *orig, const char *prompt) {
    long pa, pb;
    char flag[1200];
    snprintf(flag, sizeof flag, "--tokenizer %s", orig);
    char *a = gen_out(dir, prompt, "", &pa), *b = gen_out(dir, prompt, flag, &pb);
    int ok = a && b && pa == pb && pa > 0 && strcmp(a, b) == 0;
    if (a && b && !ok)
        test_fail("%s: the directory's tokenizer gives %ld prompt tokens and '%s', --tokenizer %s %ld and '%s'", dir, pa,
                  a, orig, pb, b);
    free(a), free(b);
    return ok;
}

TEST(test_model_tok_generate) {
    char name[64];
    const char *tok = tiny_tok(name);
    if (!tok) return TEST_FAIL;
    const char *dir = tmp_path("mtok_gen");
    char *out;
    EXPECT(run_cmd(&out, "rm -rf %s && %s init %s --tokenizer %s --out %s", dir, test_ttt_bin, TINY_FLAGS, tok, dir) == 0,
           "init: %s", out);
    free(out);
    if (!generate_case(dir, tok, "abcab")) return TEST_FAIL;
    /* no tokenizer anywhere: the message says what to give */
    const char *bare = tiny_model("mtok_gen_bare", "");
    if (!bare || !expect_cli_error("names no tokenizer|tokenizer.json|--tokenizer", "generate --model %s --prompt abc", bare))
        return TEST_FAIL;
    /* the built-in ones, saved: the same prompt ids (BOS included) and continuation */
    static const char *builtin[][2] = {{"data/tok/llama2", "mtok_gen_llama2"},
                                       {"data/tok/r50k_base.tiktoken", "mtok_gen_r50k"}};
    int ran = 0;
    for (int i = 0; i < 2; i++) {
        struct stat sb;
        if (stat(builtin[i][0], &sb) != 0) continue;
        const char *d = tmp_path(builtin[i][1]);
        EXPECT(run_cmd(&out, "rm -rf %s && %s init %s --tokenizer %s --out %s", d, test_ttt_bin, TINY_FLAGS,
                       builtin[i][0], d) == 0, "init: %s", out);
        free(out);
        if (!generate_case(d, builtin[i][0], "Hello, world")) return TEST_FAIL;
        ran++;
    }
    if (!ran) printf("  (data/tok absent: the built-in tokenizers were not checked)\n");
    return TEST_PASS;
}

/* generation_config.json of --model DIR goes into every checkpoint byte for byte, and on with
 * --resume (also after the checkpoint it came from is pruned); a model without one gives none */
TEST(test_model_tok_train_generation_config) {
    char name[64];
    const char *tok = tiny_tok(name);
    if (!tok) return TEST_FAIL;
    const char *data = tiny_tokens("mgen.tok", 400, 11, name, 0);
    const char *model = tmp_path("mgen_model"), *run = tmp_path("mgen_run"), *run2 = tmp_path("mgen_run2");
    if (!data) return TEST_FAIL;
    char *out;
    EXPECT(run_cmd(&out, "rm -rf %s %s %s && %s init %s --tokenizer %s --out %s && printf '{\"do_sample\": true, "
                   "\"temperature\": 0.6, \"eos_token_id\": [2, 3]}\\n' > %s/generation_config.json", model, run, run2,
                   test_ttt_bin, TINY_FLAGS, tok, model, model) == 0, "init: %s", out);
    free(out);
    EXPECT(run_cmd(&out, "%s train --model %s --data %s --run %s --steps 2 --ckpt-every 1 --keep 5 %s --quiet",
                   test_ttt_bin, model, data, run, TRAIN_FLAGS) == 0, "train --model: %s", out);
    free(out);
    char ck[1200];
    for (int k = 1; k <= 2; k++) {
        snprintf(ck, sizeof ck, "%s/ckpt-%08d", run, k);
        if (!same_file(ck, model, "generation_config.json")) return TEST_FAIL;
    }
    EXPECT(run_cmd(&out, "%s train --run %s --resume --data %s --steps 4 --ckpt-every 1 --keep 1 %s --quiet",
                   test_ttt_bin, run, data, TRAIN_FLAGS) == 0, "resume: %s", out);
    free(out);
    snprintf(ck, sizeof ck, "%s/ckpt-00000004", run);
    if (!same_file(ck, model, "generation_config.json")) return TEST_FAIL;
    /* a preset run: none */
    EXPECT(run_cmd(&out, "%s train %s --data %s --run %s --steps 1 --tokenizer %s %s --quiet", test_ttt_bin, TINY_FLAGS,
                   data, run2, tok, TRAIN_FLAGS) == 0, "train --preset: %s", out);
    free(out);
    snprintf(ck, sizeof ck, "%s/ckpt-00000001", run2);
    return same_file(ck, NULL, "generation_config.json") ? TEST_PASS : TEST_FAIL;
}
