/* test_serve_web.c: the page at / of `ttt serve` in a real browser. Headless Chromium (Debian's
 * chromium, driven by npm playwright-core through tests/serve/web_page.js) loads the page of a
 * live server (a tiny TTT model with the GPT-2 tokenizer, --port 0), fills the prompt, the
 * temperature, max tokens and seed fields, clicks Generate and waits for the end of the stream.
 * Oracle: the streamed text equals what `ttt generate` prints for the same prompt and settings.
 * The screenshot (a PNG) is checked and copied beside the ttt binary as serve-web.png for a
 * person to look at. Skipped when node, chromium, playwright-core (make data) or the tokenizer
 * is absent. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define WEB_TOKENIZER "data/tok/r50k_base.tiktoken"
#define WEB_PLAYWRIGHT "data/pkg/playwright-core-1.65.2/package" /* pinned in scripts/fetch-data.sh */

static void web_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* `ttt serve` in the background on a free port; its pid (0 on failure, reported), the URL */
static int web_serve_start(const char *model, const char *log, char *url, size_t url_size) {
    char *out;
    int rc = run_cmd(&out, "%s serve --model %s --port 0 --threads 1 >%s 2>&1 </dev/null & echo $!", test_ttt_bin, model, log);
    int pid = rc == 0 ? atoi(out) : 0;
    free(out);
    if (pid <= 0) {
        test_fail("could not start ttt serve");
        return 0;
    }
    const char *tag = "listening on http://127.0.0.1:";
    for (int i = 0; i < 600; i++) { /* 30 s: the sanitizer build starts slowly */
        char *l = read_whole(log, NULL);
        const char *p = l ? strstr(l, tag) : NULL;
        if (p) {
            snprintf(url, url_size, "http://127.0.0.1:%d", atoi(p + strlen(tag)));
            free(l);
            return pid;
        }
        if (kill(pid, 0) != 0) {
            test_fail("ttt serve exited at start: %s", l ? l : "");
            free(l);
            return 0;
        }
        free(l);
        web_sleep_ms(50);
    }
    test_fail("ttt serve did not start within 30 s");
    kill(pid, SIGKILL);
    return 0;
}

/* SIGTERM, wait up to 10 s (then SIGKILL); 1 if it stopped cleanly with a clean log */
static int web_serve_stop(int pid, const char *log) {
    kill(pid, SIGTERM);
    for (int i = 0; i < 400 && kill(pid, 0) == 0; i++) web_sleep_ms(25);
    if (kill(pid, 0) == 0) {
        test_fail("ttt serve did not stop within 10 s of SIGTERM");
        kill(pid, SIGKILL);
        return 0;
    }
    char *l = read_whole(log, NULL);
    int ok = l && strstr(l, "ttt serve: stopped") && !strstr(l, "ERROR: AddressSanitizer") &&
             !strstr(l, "ERROR: LeakSanitizer") && !strstr(l, "runtime error");
    if (!ok) test_fail("ttt serve's log after SIGTERM: %s", l ? l : "(none)");
    free(l);
    return ok;
}

/* the PNG signature, an IHDR of a plausible size, and more than a blank page's bytes */
static int check_png(const char *path) {
    size_t n = 0;
    unsigned char *b = (unsigned char *)read_whole(path, &n);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int ok = b && n > 24 && memcmp(b, sig, 8) == 0 && memcmp(b + 12, "IHDR", 4) == 0;
    unsigned w = 0, h = 0;
    if (ok) {
        w = (unsigned)b[16] << 24 | (unsigned)b[17] << 16 | (unsigned)b[18] << 8 | b[19];
        h = (unsigned)b[20] << 24 | (unsigned)b[21] << 16 | (unsigned)b[22] << 8 | b[23];
        ok = w >= 400 && h >= 300 && n > 10000;
    }
    if (!ok) test_fail("screenshot %s: %zu bytes, %ux%u, %s", path, n, w, h, b ? "" : "(unreadable)");
    free(b);
    return ok;
}

TEST(test_serve_web_page_streams) {
    struct stat st;
    const char *chromium = getenv("CHROMIUM") ? getenv("CHROMIUM") : "/usr/bin/chromium";
    char *out;
    int have_node = run_cmd(&out, "node --version") == 0;
    free(out);
    if (!have_node) return test_skip("no node on PATH (Debian's nodejs; scripts/install-deps.sh installs it)");
    if (access(chromium, X_OK) != 0)
        return test_skip("no %s (Debian's chromium; scripts/install-deps.sh installs it)", chromium);
    if (stat(WEB_PLAYWRIGHT "/index.js", &st) != 0) return test_skip(WEB_PLAYWRIGHT " is absent (make data fetches it)");
    if (stat(WEB_TOKENIZER, &st) != 0) return test_skip(WEB_TOKENIZER " is absent (make data fetches it)");

    char cwd[1024]; /* playwright-core is required by absolute path */
    EXPECT(getcwd(cwd, sizeof cwd), "getcwd");

    /* the model, and the oracle: ttt generate with the page's settings */
    const char *md = tmp_path("serve_web_m");
    int rc = run_cmd(&out, "rm -rf %s && %s init --preset ttt-linear-tiny --layers 1 --width 8 --heads 2 --intermediate 8 "
                     "--vocab 50257 --bos 50256 --eos 50256 --tokenizer %s --out %s", md, test_ttt_bin, WEB_TOKENIZER, md);
    if (rc) test_fail("init: %s", out);
    free(out);
    if (rc) return TEST_FAIL;
    /* seed 2 gives a non-ASCII piece and a run of spaces among the 24 tokens */
    const char *prompt = "Once upon a time", *max_tokens = "24", *seed = "2", *temperature = "0.8";
    rc = run_cmd(&out, "%s generate --model %s --quiet --prompt '%s' --max-tokens %s --seed %s --temperature %s", test_ttt_bin, md,
                 prompt, max_tokens, seed, temperature);
    if (rc) {
        test_fail("generate: %s", out);
        free(out);
        return TEST_FAIL;
    }
    char *want = out;
    size_t wn = strlen(want);
    if (wn && want[wn - 1] == '\n') want[--wn] = 0;

    const char *log = tmp_path("serve_web.log"), *shot = tmp_path("serve_web.png"), *err = tmp_path("serve_web_node.err");
    char url[64];
    int pid = web_serve_start(md, log, url, sizeof url);
    if (!pid) {
        free(want);
        return TEST_FAIL;
    }
    /* from here on every path stops the server */
    rc = run_cmd(&out, "timeout -k 5 60 node tests/serve/web_page.js %s %s/" WEB_PLAYWRIGHT " '%s' %s %s %s %s 2>%s", url, cwd,
                 prompt, max_tokens, seed, temperature, shot, err);
    cJSON *j = rc == 0 ? cJSON_Parse(out) : NULL;
    const cJSON *text = cJSON_GetObjectItem(j, "text"), *done = cJSON_GetObjectItem(j, "done");
    const cJSON *perr = cJSON_GetObjectItem(j, "error"), *jserr = cJSON_GetObjectItem(j, "page_errors");
    int ok = cJSON_IsString(text) && cJSON_IsString(done);
    if (!ok) {
        char *e = read_whole(err, NULL);
        test_fail("the browser driver (exit %d%s): %s %s", rc, rc == 124 ? ", timed out after 60 s" : "", out, e ? e : "");
        free(e);
    }
    if (ok && (strcmp(done->valuestring, "ok") != 0 || cJSON_GetArraySize(jserr) != 0)) {
        test_fail("the page ended with '%s', error line '%s': %s", done->valuestring,
                  cJSON_IsString(perr) ? perr->valuestring : "", out);
        ok = 0;
    }
    if (ok && strcmp(text->valuestring, want) != 0) {
        test_fail("the page's streamed text differs from ttt generate's:\n    page:     '%s'\n    generate: '%s'",
                  text->valuestring, want);
        ok = 0;
    }
    cJSON_Delete(j);
    free(out);
    free(want);
    ok &= web_serve_stop(pid, log);
    if (!ok) return TEST_FAIL;

    /* the screenshot: a real PNG, kept beside the binary for a person to look at */
    EXPECT(check_png(shot), "screenshot");
    char dir[512];
    snprintf(dir, sizeof dir, "%s", test_ttt_bin);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    rc = run_cmd(&out, "cp %s %s/serve-web.png", shot, dir);
    if (rc == 0) printf("    screenshot: %s/serve-web.png\n", dir);
    else test_fail("copying the screenshot to %s: %s", dir, out);
    free(out);
    return rc == 0 ? TEST_PASS : TEST_FAIL;
}
