/* test_serve.c: `ttt serve` live on a free loopback port (--port 0), driven by curl and by the
 * official OpenAI SDK for Node (tests/serve/openai_sdk.js), with a tiny TTT model and the GPT-2
 * tokenizer (skipped when data/ lacks it). Oracles:
 *   - `ttt generate` with the same prompt, seed and settings: the non-streaming text, the
 *     streamed chunks concatenated, each of n choices (seed + i), stop strings, chat (--chat);
 *   - `ttt forward` logits: echo + logprobs + max_tokens 0 (lm-evaluation-harness's
 *     loglikelihood request) returns log softmax(logits[t-1])[ids[t]], computed here in double;
 *   - the same requests served alone: 6 concurrent clients each get that reply;
 *   - a session continued with new tokens equals the whole sequence sent at once;
 *   - the status codes of bad requests (400 bad JSON / types / ranges, 401 key, 404 session and
 *     route, 413 body), while the server keeps answering; SIGTERM drains a running stream;
 *   - a client that never reads its stream does not hold up another request. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/safetensors.h"
#include "test.h"

typedef struct {
    int pid, port;
    char log[600], url[64];
} server;

static const char *gpt2(void) {
    struct stat st;
    return stat("data/tok/r50k_base.tiktoken", &st) == 0 ? "data/tok/r50k_base.tiktoken" : NULL;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* a tiny TTT model with the GPT-2 tokenizer (and a ChatML template when chat) */
static const char *serve_model(const char *name, int chat) {
    const char *dir = tmp_path(name);
    char *out;
    int rc = run_cmd(&out, "rm -rf %s && %s init --preset ttt-linear-tiny --layers 1 --width 8 --heads 2 --intermediate 8 "
                     "--vocab 50257 --bos 50256 --eos 50256 --tokenizer %s --out %s", dir, test_ttt_bin, gpt2(), dir);
    if (rc) test_fail("init: %s", out);
    free(out);
    if (rc) return NULL;
    if (chat) {
        char p[700];
        snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
        char *t = read_whole(p, NULL);
        cJSON *j = t ? cJSON_Parse(t) : NULL;
        free(t);
        if (!j) return NULL;
        cJSON_AddStringToObject(j, "chat_template",
                                "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
                                "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
                                "{{ '<|im_start|>assistant\n' }}{% endif %}");
        char *s = cJSON_Print(j);
        cJSON_Delete(j);
        write_whole(p, s, strlen(s));
        free(s);
    }
    return dir;
}

static int serve_start(server *sv, const char *model, const char *extra) {
    static int count;
    char name[64];
    snprintf(name, sizeof name, "serve_%d.log", count++);
    snprintf(sv->log, sizeof sv->log, "%s", tmp_path(name));
    char *out;
    int rc = run_cmd(&out, "%s serve --model %s --port 0 --threads 1 %s >%s 2>&1 </dev/null & echo $!", test_ttt_bin, model, extra,
                     sv->log);
    sv->pid = rc == 0 ? atoi(out) : 0;
    free(out);
    if (sv->pid <= 0) return 0;
    for (int i = 0; i < 600; i++) { /* 30 s: the sanitizer build starts slowly */
        char *log = read_whole(sv->log, NULL);
        const char *p = log ? strstr(log, "listening on http://127.0.0.1:") : NULL;
        if (p) {
            sv->port = atoi(p + strlen("listening on http://127.0.0.1:"));
            snprintf(sv->url, sizeof sv->url, "http://127.0.0.1:%d", sv->port);
            free(log);
            return 1;
        }
        if (kill(sv->pid, 0) != 0) {
            test_fail("ttt serve exited at start: %s", log ? log : "");
            free(log);
            return 0;
        }
        free(log);
        sleep_ms(50);
    }
    test_fail("ttt serve did not start within 30 s");
    return 0;
}

/* SIGTERM and wait for the exit (10 s); 1 if it stopped after draining */
static int serve_stop(server *sv) {
    if (sv->pid <= 0) return 0;
    kill(sv->pid, SIGTERM);
    for (int i = 0; i < 400; i++) {
        if (kill(sv->pid, 0) != 0) break;
        sleep_ms(25);
    }
    if (kill(sv->pid, 0) == 0) {
        test_fail("ttt serve did not stop within 10 s of SIGTERM");
        kill(sv->pid, SIGKILL);
        return 0;
    }
    char *log = read_whole(sv->log, NULL);
    int ok = log && strstr(log, "ttt serve: stopped") && !strstr(log, "ERROR: AddressSanitizer") &&
             !strstr(log, "ERROR: LeakSanitizer") &&
             !strstr(log, "runtime error");
    if (!ok) test_fail("ttt serve's log after SIGTERM: %s", log ? log : "(none)");
    free(log);
    sv->pid = 0;
    return ok;
}

/* one HTTP request with curl: the status, the body in *resp (malloc'd) */
static int http(const server *sv, const char *method, const char *path, const char *body, const char *hdr, char **resp) {
    static int count;
    char bn[64], rn[64];
    snprintf(bn, sizeof bn, "serve_req_%d.json", count);
    snprintf(rn, sizeof rn, "serve_resp_%d.json", count++);
    const char *bf = tmp_path(bn), *rf = tmp_path(rn);
    if (body) write_whole(bf, body, strlen(body));
    char *out;
    run_cmd(&out, "curl -s -o %s -w '%%{http_code}' -X %s %s %s%s -H 'Content-Type: application/json' %s%s", rf, method,
            hdr ? hdr : "", body ? "--data-binary @" : "", body ? bf : "", sv->url, path);
    int st = atoi(out);
    free(out);
    if (resp) *resp = read_whole(rf, NULL);
    return st;
}

/* the text of choice i of a completion reply (malloc'd) or NULL */
static char *choice_text(const char *resp, int i, const char *field) {
    cJSON *j = resp ? cJSON_Parse(resp) : NULL;
    cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), i);
    cJSON *t = cJSON_GetObjectItem(c, field);
    if (strcmp(field, "message") == 0) t = cJSON_GetObjectItem(t, "content");
    char *r = cJSON_IsString(t) ? strdup(t->valuestring) : NULL;
    cJSON_Delete(j);
    return r;
}

/* the SSE stream's texts of choice i concatenated; *done: it ended with [DONE] */
static char *stream_text(const char *resp, int i, int chat, int *done) {
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    *done = 0;
    for (const char *p = resp ? strstr(resp, "data: ") : NULL; p; p = strstr(p + 1, "data: ")) {
        const char *e = strstr(p, "\n\n");
        if (!e) break;
        if (strncmp(p + 6, "[DONE]", 6) == 0) {
            *done = 1;
            break;
        }
        cJSON *j = cJSON_ParseWithLength(p + 6, (size_t)(e - p - 6));
        cJSON *c = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
        if (c && (int)cJSON_GetObjectItem(c, "index")->valuedouble == i) {
            cJSON *t = chat ? cJSON_GetObjectItem(cJSON_GetObjectItem(c, "delta"), "content") : cJSON_GetObjectItem(c, "text");
            if (cJSON_IsString(t) && len + strlen(t->valuestring) + 1 < cap) {
                strcpy(out + len, t->valuestring);
                len += strlen(t->valuestring);
            }
        }
        cJSON_Delete(j);
    }
    return out;
}

/* `ttt generate` output without its final newline (malloc'd) */
static char *generate(const char *model, const char *flags) {
    char *out;
    if (run_cmd(&out, "%s generate --model %s --quiet %s", test_ttt_bin, model, flags) != 0) {
        test_fail("generate %s: %s", flags, out);
        free(out);
        return NULL;
    }
    size_t n = strlen(out);
    if (n && out[n - 1] == '\n') out[n - 1] = 0;
    return out;
}

static int same_text(const char *what, const char *got, const char *want) {
    if (got && want && strcmp(got, want) == 0) return 1;
    test_fail("%s: '%s', expected '%s'", what, got ? got : "(none)", want ? want : "(none)");
    return 0;
}

TEST(test_serve_completions_equal_generate) {
    if (!gpt2()) return test_skip("data/tok/r50k_base.tiktoken is absent (make data fetches it)");
    const char *md = serve_model("serve_m", 0);
    EXPECT(md, "model");
    server sv;
    EXPECT(serve_start(&sv, md, "--parallel 4"), "start");
    int ok = 1;
    char *r, *g, *t, body[1024], *greedy = NULL;
    /* greedy and sampled, plain and streamed */
    const char *sets[][2] = {{"\"temperature\": 0", "--temperature 0"},
                             {"\"temperature\": 0.9, \"top_p\": 0.9, \"seed\": 5", "--temperature 0.9 --top-p 0.9 --seed 5"}};
    for (int k = 0; k < 2 && ok; k++) {
        snprintf(body, sizeof body, "{\"model\": \"m\", \"prompt\": \"Hello world\", \"max_tokens\": 12, %s}", sets[k][0]);
        int st = http(&sv, "POST", "/v1/completions", body, NULL, &r);
        char fl[200];
        snprintf(fl, sizeof fl, "--prompt 'Hello world' --max-tokens 12 %s", sets[k][1]);
        g = generate(md, fl);
        t = choice_text(r, 0, "text");
        ok = st == 200 && same_text("completion vs ttt generate", t, g);
        if (st != 200) test_fail("status %d: %s", st, r);
        cJSON *j = cJSON_Parse(r);
        cJSON *u = cJSON_GetObjectItem(j, "usage");
        ok = ok && cJSON_GetObjectItem(u, "prompt_tokens")->valuedouble == 3 && /* <|endoftext|> Hello world */
             cJSON_GetObjectItem(u, "completion_tokens")->valuedouble == 12;
        if (!ok) test_fail("usage: %s", r);
        cJSON_Delete(j);
        free(r), free(t);
        snprintf(body, sizeof body, "{\"prompt\": \"Hello world\", \"max_tokens\": 12, \"stream\": true, %s}", sets[k][0]);
        st = http(&sv, "POST", "/v1/completions", body, NULL, &r);
        int done;
        t = stream_text(r, 0, 0, &done);
        ok = ok && st == 200 && done && same_text("streamed completion vs ttt generate", t, g);
        free(r), free(t);
        if (k == 0) greedy = g;
        else free(g);
    }
    /* n = 2: choice i is the continuation of seed 5 + i */
    if (ok) {
        http(&sv, "POST", "/v1/completions",
             "{\"prompt\": \"Once\", \"max_tokens\": 6, \"temperature\": 1, \"seed\": 5, \"n\": 2}", NULL, &r);
        for (int i = 0; i < 2 && ok; i++) {
            char fl[200];
            snprintf(fl, sizeof fl, "--prompt Once --max-tokens 6 --temperature 1 --seed %d", 5 + i);
            g = generate(md, fl);
            t = choice_text(r, i, "text");
            ok = same_text("n = 2", t, g);
            free(g), free(t);
        }
        free(r);
    }
    /* a stop string from the middle of the greedy text: cut before its first occurrence, like --stop */
    if (ok) {
        g = greedy;
        greedy = NULL;
        char stop[8] = {0};
        memcpy(stop, g + 6, 4);
        snprintf(body, sizeof body, "{\"prompt\": \"Hello world\", \"max_tokens\": 12, \"temperature\": 0, \"stop\": [\"zzzz\", \"%s\"]}",
                 stop);
        http(&sv, "POST", "/v1/completions", body, NULL, &r);
        t = choice_text(r, 0, "text");
        char want[256];
        snprintf(want, sizeof want, "%.*s", (int)(strstr(g, stop) - g), g);
        char fl[200];
        snprintf(fl, sizeof fl, "--prompt 'Hello world' --max-tokens 12 --temperature 0 --stop '%s'", stop);
        char *g2 = generate(md, fl);
        ok = same_text("stop string", t, want) && same_text("stop vs ttt generate --stop", t, g2) &&
             strstr(r, "\"finish_reason\":\"stop\"") != NULL;
        free(g), free(g2), free(t), free(r);
    }
    /* 6 concurrent clients: each gets the reply it got alone */
    if (ok) {
        char *alone[6];
        char cmd[8192];
        int n = 0;
        for (int i = 0; i < 6; i++) {
            snprintf(body, sizeof body, "{\"prompt\": \"Client %d says\", \"max_tokens\": %d, \"temperature\": 0.8, \"seed\": %d}",
                     i, 4 + 3 * i, i);
            http(&sv, "POST", "/v1/completions", body, NULL, &r);
            alone[i] = choice_text(r, 0, "text");
            free(r);
            char bn[64];
            snprintf(bn, sizeof bn, "serve_conc_%d.json", i);
            write_whole(tmp_path(bn), body, strlen(body));
            n += snprintf(cmd + n, sizeof cmd - (size_t)n, "curl -s -o %s.out --data-binary @%s %s/v1/completions & ",
                          tmp_path(bn), tmp_path(bn), sv.url);
        }
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, "wait");
        char *out;
        run_cmd(&out, "%s", cmd);
        free(out);
        for (int i = 0; i < 6; i++) {
            char bn[64], p[700];
            snprintf(bn, sizeof bn, "serve_conc_%d.json", i);
            snprintf(p, sizeof p, "%s.out", tmp_path(bn));
            r = read_whole(p, NULL);
            t = choice_text(r, 0, "text");
            char w[64];
            snprintf(w, sizeof w, "concurrent client %d", i);
            ok = ok && same_text(w, t, alone[i]);
            free(r), free(t), free(alone[i]);
        }
    }
    /* the batch was shared: more than one sequence per decode step on average */
    if (ok) {
        http(&sv, "GET", "/metrics", NULL, NULL, &r);
        const char *p = r ? strstr(r, "\nttt_batch_occupancy ") : NULL;
        ok = p && atof(p + 21) > 1.0 && strstr(r, "ttt_requests_total{endpoint=\"completions\"}");
        if (!ok) test_fail("metrics: %s", r ? r : "(none)");
        free(r);
    }
    free(greedy);
    ok &= serve_stop(&sv);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* echo + logprobs + max_tokens 0 on token ids: log softmax of `ttt forward`'s logits */
TEST(test_serve_logprobs_equal_forward) {
    if (!gpt2()) return test_skip("data/tok/r50k_base.tiktoken is absent (make data fetches it)");
    const char *md = serve_model("serve_lp", 0);
    EXPECT(md, "model");
    const int L = 9, V = 50257;
    int32_t ids[9] = {50256, 15496, 995, 11, 703, 389, 345, 30, 1024};
    const char *in = tmp_path("serve_lp_in.safetensors"), *outp = tmp_path("serve_lp_out.safetensors");
    st_entry e = {"input_ids", ST_I32, 2, {1, L}, ids, ST_SRC_RAW};
    EXPECT(st_write(in, &e, 1) == TTT_OK, "%s", ttt_last_error());
    char *out;
    EXPECT(run_cmd(&out, "%s forward --model %s --input %s --output %s", test_ttt_bin, md, in, outp) == 0, "%s", out);
    free(out);
    st_file f;
    EXPECT(st_open(&f, outp) == TTT_OK, "%s", ttt_last_error());
    float *lg = malloc(sizeof(float) * (size_t)(L * V));
    const st_tensor *tl = st_find(&f, "logits");
    EXPECT(tl && st_read_f32(&f, tl, lg, (int64_t)L * V) == TTT_OK, "logits");
    st_close(&f);
    double ref[9], best[9];
    for (int t = 1; t < L; t++) { /* logprob(ids[t]) = logit − log Σ exp(logits) at position t − 1 */
        const float *row = lg + (size_t)(t - 1) * V;
        double mx = -INFINITY, s = 0;
        for (int v = 0; v < V; v++) mx = row[v] > mx ? row[v] : mx;
        for (int v = 0; v < V; v++) s += exp((double)row[v] - mx);
        ref[t] = (double)row[ids[t]] - mx - log(s);
        best[t] = -log(s);
    }
    free(lg);
    server sv;
    EXPECT(serve_start(&sv, md, ""), "start");
    char *r;
    int st = http(&sv, "POST", "/v1/completions",
                  "{\"prompt\": [50256, 15496, 995, 11, 703, 389, 345, 30, 1024], \"max_tokens\": 0, \"echo\": true, "
                  "\"logprobs\": 1, \"temperature\": 0}", NULL, &r);
    int ok = st == 200;
    cJSON *j = cJSON_Parse(r);
    cJSON *lp = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "logprobs");
    cJSON *tlp = cJSON_GetObjectItem(lp, "token_logprobs"), *top = cJSON_GetObjectItem(lp, "top_logprobs");
    ok = ok && cJSON_GetArraySize(tlp) == L && cJSON_IsNull(cJSON_GetArrayItem(tlp, 0));
    double worst = 0;
    int at = 0;
    for (int t = 1; ok && t < L; t++) {
        cJSON *v = cJSON_GetArrayItem(tlp, t), *d = cJSON_GetArrayItem(top, t);
        double x = cJSON_IsNumber(v) ? v->valuedouble : NAN, b = d && d->child ? d->child->valuedouble : NAN;
        double err = fmax(fabs(x - ref[t]), fabs(b - best[t]));
        if (!(err <= worst)) worst = err, at = t;
    }
    if (ok && !(worst <= 1e-4)) {
        test_fail("logprobs vs ttt forward: worst |error| %g at token %d (got %s)", worst, at, r);
        ok = 0;
    }
    if (!ok) test_fail("reply %d: %s", st, r ? r : "");
    cJSON_Delete(j);
    free(r);
    ok &= serve_stop(&sv);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_serve_sessions_continue) {
    if (!gpt2()) return test_skip("data/tok/r50k_base.tiktoken is absent (make data fetches it)");
    const char *md = serve_model("serve_sess", 0);
    EXPECT(md, "model");
    server sv;
    EXPECT(serve_start(&sv, md, "--max-sessions 4"), "start");
    char *r, *r2;
    int ok = 1;
    /* the first part only prefilled, then continued: equals the whole sequence at once */
    int st = http(&sv, "POST", "/v1/completions", "{\"prompt\": [50256, 15496, 995, 11], \"max_tokens\": 0, \"session\": \"s1\"}",
                  NULL, &r);
    ok &= st == 200;
    free(r);
    st = http(&sv, "POST", "/v1/completions",
              "{\"prompt\": [703, 389, 345], \"max_tokens\": 8, \"temperature\": 0, \"session\": \"s1\"}", NULL, &r);
    ok &= st == 200;
    http(&sv, "POST", "/v1/completions", "{\"prompt\": [50256, 15496, 995, 11, 703, 389, 345], \"max_tokens\": 8, "
         "\"temperature\": 0}", NULL, &r2);
    char *a = choice_text(r, 0, "text"), *b = choice_text(r2, 0, "text");
    ok = ok && same_text("session continuation vs the whole prompt", a, b);
    ok = ok && strstr(r, "\"prompt_tokens\":3");
    if (!ok) test_fail("%s", r);
    free(a), free(b), free(r), free(r2);
    st = http(&sv, "GET", "/v1/sessions/s1", NULL, NULL, &r);
    /* 4 + 3 tokens fed, 8 generated of which the last is pending: 15 */
    ok = ok && st == 200 && strstr(r, "\"tokens\":15");
    if (!ok) test_fail("GET session: %d %s", st, r);
    free(r);
    ok = ok && http(&sv, "DELETE", "/v1/sessions/s1", NULL, NULL, NULL) == 200;
    ok = ok && http(&sv, "GET", "/v1/sessions/s1", NULL, NULL, NULL) == 404;
    ok = ok && http(&sv, "DELETE", "/v1/sessions/s1", NULL, NULL, NULL) == 404;
    /* limits: a fifth session drops the least recently used */
    for (int i = 0; i < 5 && ok; i++) {
        char body[200];
        snprintf(body, sizeof body, "{\"prompt\": \"hi\", \"max_tokens\": 1, \"session\": \"k%d\"}", i);
        ok = http(&sv, "POST", "/v1/completions", body, NULL, NULL) == 200;
    }
    ok = ok && http(&sv, "GET", "/v1/sessions/k0", NULL, NULL, NULL) == 404 &&
         http(&sv, "GET", "/v1/sessions/k4", NULL, NULL, NULL) == 200;
    if (!ok) test_fail("session limits");
    ok &= serve_stop(&sv);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* a session saved at SIGTERM continues after a restart exactly as without one; a session over
 * --session-bytes is spilled to disk and reloaded */
TEST(test_serve_sessions_on_disk) {
    if (!gpt2()) return test_skip("data/tok/r50k_base.tiktoken is absent (make data fetches it)");
    const char *md = serve_model("serve_disk", 0), *sd = tmp_path("serve_states");
    EXPECT(md, "model");
    char *out, flags[800], *r, *r2;
    run_cmd(&out, "rm -rf %s && mkdir -p %s", sd, sd);
    free(out);
    snprintf(flags, sizeof flags, "--state-dir %s", sd);
    server sv;
    EXPECT(serve_start(&sv, md, flags), "start");
    int ok = http(&sv, "POST", "/v1/completions", "{\"prompt\": [50256, 15496, 995, 11], \"max_tokens\": 0, \"session\": \"d1\"}",
                  NULL, NULL) == 200;
    ok &= serve_stop(&sv);
    char p[800];
    snprintf(p, sizeof p, "%s/d1.state", sd);
    struct stat st;
    EXPECT(ok && stat(p, &st) == 0, "no %s after SIGTERM", p);
    snprintf(flags, sizeof flags, "--state-dir %s --session-bytes 1", sd);
    EXPECT(serve_start(&sv, md, flags), "restart");
    int s1 = http(&sv, "GET", "/v1/sessions/d1", NULL, NULL, &r);
    ok = s1 == 200 && strstr(r, "\"location\":\"disk\"");
    if (!ok) test_fail("the session after a restart: %d %s", s1, r ? r : "");
    free(r);
    http(&sv, "POST", "/v1/completions", "{\"prompt\": [703, 389, 345], \"max_tokens\": 8, \"temperature\": 0, \"session\": \"d1\"}",
         NULL, &r);
    http(&sv, "POST", "/v1/completions", "{\"prompt\": [50256, 15496, 995, 11, 703, 389, 345], \"max_tokens\": 8, "
         "\"temperature\": 0}", NULL, &r2);
    char *a = choice_text(r, 0, "text"), *b = choice_text(r2, 0, "text");
    ok = ok && same_text("a session resumed from disk vs the whole prompt", a, b);
    free(a), free(b), free(r), free(r2);
    /* over --session-bytes 1: spilled again at once */
    s1 = http(&sv, "GET", "/v1/sessions/d1", NULL, NULL, &r);
    ok = ok && s1 == 200 && strstr(r, "\"location\":\"disk\"") && strstr(r, "\"tokens\":15");
    if (!ok) test_fail("the session after its continuation: %d %s", s1, r ? r : "");
    free(r);
    ok = ok && http(&sv, "POST", "/v1/completions", "{\"prompt\": \" more\", \"max_tokens\": 2, \"session\": \"d1\"}", NULL,
                    NULL) == 200;
    ok = ok && http(&sv, "DELETE", "/v1/sessions/d1", NULL, NULL, NULL) == 200 && stat(p, &st) != 0;
    ok &= serve_stop(&sv);
    return ok ? TEST_PASS : TEST_FAIL;
}

TEST(test_serve_errors_keep_serving) {
    if (!gpt2()) return test_skip("data/tok/r50k_base.tiktoken is absent (make data fetches it)");
    const char *md = serve_model("serve_err", 0);
    EXPECT(md, "model");
    server sv;
    EXPECT(serve_start(&sv, md, "--api-key sekrit --max-body 4096 --max-tokens-cap 100 --body-timeout 1"), "start");
    const char *K = "-H 'Authorization: Bearer sekrit'";
    struct {
        const char *method, *path, *body, *hdr;
        int status;
        const char *needle;
    } cases[] = {
        {"POST", "/v1/completions", "{\"prompt\": \"hi\"", NULL, 400, "not valid JSON"},
        {"POST", "/v1/completions", "[1, 2]", NULL, 400, "JSON object"},
        {"POST", "/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": \"many\"}", NULL, 400, "\"param\":\"max_tokens\""},
        {"POST", "/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 1000000000}", NULL, 400, "limit of 100"},
        {"POST", "/v1/completions", "{\"prompt\": \"hi\", \"temperature\": -1}", NULL, 400, "\"param\":\"temperature\""},
        {"POST", "/v1/completions", "{\"prompt\": \"hi\", \"top_p\": 0}", NULL, 400, "top_p"},
        {"POST", "/v1/completions", "{\"prompt\": \"hi\", \"n\": 0}", NULL, 400, "\"param\":\"n\""},
        {"POST", "/v1/completions", "{\"prompt\": \"hi\", \"stop\": 3}", NULL, 400, "\"param\":\"stop\""},
        {"POST", "/v1/completions", "{\"prompt\": [1, 99999999]}", NULL, 400, "not an id"},
        {"POST", "/v1/completions", "{\"prompt\": 7}", NULL, 400, "\"param\":\"prompt\""},
        {"POST", "/v1/completions", "{}", NULL, 400, "required"},
        {"POST", "/v1/completions", "{\"prompt\": \"hi\", \"session\": \"../x\"}", NULL, 400, "\"param\":\"session\""},
        {"POST", "/v1/completions", "{\"prompt\": \"hi\", \"presence_penalty\": 1}", NULL, 400, "not supported"},
        {"POST", "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}", NULL, 400,
         "no usable chat template"},
        {"GET", "/v1/sessions/nope", NULL, NULL, 404, "session_not_found"},
        {"DELETE", "/v1/sessions/nope", NULL, NULL, 404, "session_not_found"},
        {"GET", "/v1/nothing", NULL, NULL, 404, "no route"},
        {"GET", "/v1/completions", NULL, NULL, 405, "not allowed"},
        {"GET", "/v1/models", NULL, "", 401, "invalid_api_key"},
        {"GET", "/v1/models", NULL, "-H 'Authorization: Bearer wrong'", 401, "invalid_api_key"},
        {"POST", "/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 2}", "-H 'Authorization: Bearer sekri'", 401,
         "invalid_api_key"},
        {"GET", "/health", NULL, "", 200, "ok"},
        {"GET", "/", NULL, "", 200, "fetch('/v1/completions'"}, /* the page, without a key */
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0] && ok; i++) {
        char *r;
        int st = http(&sv, cases[i].method, cases[i].path, cases[i].body, cases[i].hdr ? cases[i].hdr : K, &r);
        ok = st == cases[i].status && r && strstr(r, cases[i].needle);
        if (ok && st >= 400) ok = strstr(r, "{\"error\":{\"message\":") && strstr(r, "\"type\":");
        if (!ok) test_fail("case %zu (%s %s %s): status %d (expected %d), body %s (expected '%s')", i, cases[i].method,
                           cases[i].path, cases[i].body ? cases[i].body : "", st, cases[i].status, r ? r : "",
                           cases[i].needle);
        free(r);
        /* the server keeps serving */
        if (ok && i % 5 == 4)
            ok = http(&sv, "POST", "/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 2}", K, NULL) == 200;
    }
    /* an oversized body: 413 */
    if (ok) {
        size_t n = 20000;
        char *big = malloc(n + 64);
        strcpy(big, "{\"prompt\": \"");
        memset(big + 12, 'a', n);
        strcpy(big + 12 + n, "\"}");
        char *r;
        int st = http(&sv, "POST", "/v1/completions", big, K, &r);
        ok = st == 413 && r && strstr(r, "--max-body");
        if (!ok) test_fail("oversized body: %d %s", st, r ? r : "");
        free(r), free(big);
    }
    /* a body sent at 40 bytes/s (slowloris): the connection is closed after --body-timeout 1
     * (libmicrohttpd cannot send a status while a body arrives), long before the body's 10 s */
    if (ok) {
        char body[400], *out;
        memset(body, ' ', sizeof body - 1);
        body[sizeof body - 1] = 0;
        memcpy(body, "{\"prompt\": \"hi\"}", 16);
        const char *bf = tmp_path("serve_slow.json");
        write_whole(bf, body, strlen(body));
        double t0 = (double)time(NULL);
        run_cmd(&out, "curl -s -o /dev/null -w '%%{http_code}' --limit-rate 40 %s --data-binary @%s %s/v1/completions", K,
                bf, sv.url);
        ok = atoi(out) == 0 && (double)time(NULL) - t0 < 8;
        if (!ok) test_fail("a slow body: status %s after %.0f s (expected the connection closed)", out, (double)time(NULL) - t0);
        free(out);
    }
    ok = ok && http(&sv, "POST", "/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 2}", K, NULL) == 200;
    ok &= serve_stop(&sv);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* a full queue answers 429 (OpenAI's rate-limit error) and the server goes on */
TEST(test_serve_queue_full_429) {
    if (!gpt2()) return test_skip("data/tok/r50k_base.tiktoken is absent (make data fetches it)");
    const char *md = serve_model("serve_q", 0);
    EXPECT(md, "model");
    server sv;
    EXPECT(serve_start(&sv, md, "--parallel 1 --queue 1"), "start");
    const char *bf = tmp_path("serve_q.json");
    const char *b = "{\"prompt\": \"Queue\", \"max_tokens\": 12, \"temperature\": 0}";
    write_whole(bf, b, strlen(b));
    char cmd[4096], *out;
    int n = 0;
    for (int i = 0; i < 8; i++)
        n += snprintf(cmd + n, sizeof cmd - (size_t)n, "curl -s -o %s.%d -w '%%{http_code}\\n' --data-binary @%s %s/v1/completions & ",
                      bf, i, bf, sv.url);
    snprintf(cmd + n, sizeof cmd - (size_t)n, "wait");
    run_cmd(&out, "%s", cmd);
    int n200 = 0, n429 = 0;
    for (char *p = out; *p; p++)
        if (p == out || p[-1] == '\n') n200 += strncmp(p, "200", 3) == 0, n429 += strncmp(p, "429", 3) == 0;
    int ok = n200 >= 1 && n429 >= 1 && n200 + n429 == 8;
    if (!ok) test_fail("statuses of 8 clients on --parallel 1 --queue 1: %s", out);
    free(out);
    for (int i = 0; i < 8 && ok; i++) { /* a 429 has the OpenAI error body */
        char p[700];
        snprintf(p, sizeof p, "%s.%d", bf, i);
        char *r = read_whole(p, NULL);
        ok = r && (strstr(r, "\"choices\"") || strstr(r, "\"code\":\"queue_full\""));
        if (!ok) test_fail("reply %d: %s", i, r ? r : "");
        free(r);
    }
    ok = ok && http(&sv, "POST", "/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 2}", NULL, NULL) == 200;
    ok &= serve_stop(&sv);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* a client that sends a streaming request and never reads (its receive buffer set to 1 KiB, so
 * the server's writes to it block once the socket's buffers fill): another request served
 * meanwhile completes, with the reply it gets alone, and the server answers /health; after the
 * reader goes away the server stops cleanly. If the scheduler wrote to sockets itself, the
 * second request would wait for the first's 3000 tokens to be read, i.e. for ever. */
TEST(test_serve_slow_reader_does_not_stall) {
    if (!gpt2()) return test_skip("data/tok/r50k_base.tiktoken is absent (make data fetches it)");
    const char *md = serve_model("serve_slow_reader", 0);
    EXPECT(md, "model");
    server sv;
    EXPECT(serve_start(&sv, md, "--parallel 4"), "start");
    const char *quick = "{\"prompt\": \"Meanwhile\", \"max_tokens\": 12, \"temperature\": 0.8, \"seed\": 3}";
    char *alone = NULL, *under = NULL;
    int ok = http(&sv, "POST", "/v1/completions", quick, NULL, &alone) == 200;
    if (!ok) test_fail("the request alone: %s", alone ? alone : "");
    int fd = socket(AF_INET, SOCK_STREAM, 0), small = 1024;
    ok = ok && fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0;
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)sv.port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = ok && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (ok) {
        const char *body = "{\"prompt\": \"Never read\", \"max_tokens\": 3000, \"temperature\": 1, \"seed\": 1, "
                           "\"stream\": true}";
        char req[512];
        int n = snprintf(req, sizeof req,
                         "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
        ok = write(fd, req, (size_t)n) == n;
        if (!ok) test_fail("could not send the streaming request");
    } else {
        test_fail("could not connect a raw socket to port %d", sv.port);
    }
    sleep_ms(500); /* the stream is running and its socket buffers fill */
    time_t t0 = time(NULL);
    int st = ok ? http(&sv, "POST", "/v1/completions", quick, "--max-time 60", &under) : 0;
    int el = (int)(time(NULL) - t0);
    if (ok && (st != 200 || el > 30)) {
        test_fail("a request beside a client that does not read: status %d after %d s", st, el);
        ok = 0;
    }
    char *ta = ok ? choice_text(alone, 0, "text") : NULL, *tu = ok ? choice_text(under, 0, "text") : NULL;
    if (ok && (!ta || !tu || strcmp(ta, tu) != 0)) {
        test_fail("beside the non-reading client the reply is \"%s\", alone \"%s\"", tu ? tu : "(none)", ta ? ta : "(none)");
        ok = 0;
    }
    ok = ok && http(&sv, "GET", "/health", NULL, NULL, NULL) == 200;
    if (fd >= 0) close(fd);
    sleep_ms(200);
    ok &= serve_stop(&sv);
    free(alone), free(under), free(ta), free(tu);
    return ok ? TEST_PASS : TEST_FAIL;
}

/* chat through curl and the OpenAI SDK for Node; SIGTERM while a stream runs: it completes */
TEST(test_serve_chat_sdk_and_drain) {
    if (!gpt2()) return test_skip("data/tok/r50k_base.tiktoken is absent (make data fetches it)");
    const char *md = serve_model("serve_chat", 1);
    EXPECT(md, "model");
    server sv;
    EXPECT(serve_start(&sv, md, "--api-key k1"), "start");
    int ok = 1;
    char *r;
    int st = http(&sv, "POST", "/v1/chat/completions",
                  "{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me\"}], \"max_tokens\": 8, \"temperature\": 0}",
                  "-H 'Authorization: Bearer k1'", &r);
    char *g = generate(md, "--chat --prompt 'Tell me' --max-tokens 8 --temperature 0"), *t = choice_text(r, 0, "message");
    ok = st == 200 && same_text("chat vs ttt generate --chat", t, g) && strstr(r, "\"object\":\"chat.completion\"");
    free(r), free(t);
    struct stat sst;
    const char *sdk = "data/pkg/openai-6.9.1/package";
    char *nodev;
    int have_node = run_cmd(&nodev, "node --version") == 0;
    free(nodev);
    if (ok && (!have_node || stat(sdk, &sst) != 0)) {
        printf("    (the OpenAI SDK part skipped: %s)\n", have_node ? "data/pkg/openai-6.9.1 absent (make data)" : "no node");
    } else if (ok) {
        char *out, url[128];
        snprintf(url, sizeof url, "%s/v1", sv.url);
        int rc = run_cmd(&out, "node tests/serve/openai_sdk.js %s/%s %s k1 'Hello world' 5 2>&1", getcwd((char[1024]){0}, 1024),
                         sdk, url);
        cJSON *j = rc == 0 ? cJSON_Parse(out) : NULL;
        char *gc = generate(md, "--prompt 'Hello world' --max-tokens 10 --temperature 0.9 --top-p 0.9 --seed 5");
        cJSON *x;
        ok = j && (x = cJSON_GetObjectItem(j, "completion")) && same_text("SDK completion", x->valuestring, gc) &&
             (x = cJSON_GetObjectItem(j, "completion_stream")) && same_text("SDK stream", x->valuestring, gc) &&
             (x = cJSON_GetObjectItem(j, "chat")) && same_text("SDK chat", x->valuestring, g) &&
             (x = cJSON_GetObjectItem(j, "chat_stream")) && same_text("SDK chat stream", x->valuestring, g) &&
             cJSON_GetObjectItem(j, "wrong_key")->valuedouble == 401 && cJSON_GetObjectItem(j, "bad_field")->valuedouble == 400;
        if (!ok) test_fail("the OpenAI SDK's results: %s", out);
        cJSON_Delete(j);
        free(out), free(gc);
    }
    free(g);
    /* SIGTERM during a stream: the stream still ends with [DONE]; the server exits */
    if (ok) {
        const char *of = tmp_path("serve_drain.out"), *bf = tmp_path("serve_drain.json");
        const char *b = "{\"prompt\": \"Long\", \"max_tokens\": 100, \"temperature\": 1, \"stream\": true}";
        write_whole(bf, b, strlen(b));
        char *out;
        run_cmd(&out, "curl -sN -H 'Authorization: Bearer k1' -o %s --data-binary @%s %s/v1/completions & sleep 0.2; "
                "kill -TERM %d; wait", of, bf, sv.url, sv.pid);
        free(out);
        r = read_whole(of, NULL);
        int done;
        t = stream_text(r, 0, 0, &done);
        ok = done && r && strstr(r, "\"finish_reason\":\"length\"");
        if (!ok) test_fail("a stream during SIGTERM: %.300s", r ? r : "(nothing)");
        free(r), free(t);
    }
    ok &= serve_stop(&sv);
    return ok ? TEST_PASS : TEST_FAIL;
}
