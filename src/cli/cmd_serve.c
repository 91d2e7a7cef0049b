/* cmd_serve.c: `ttt serve`: load a model and its tokenizer as `ttt generate` does, take the
 * generation defaults of `ttt generate` for it (generation_config.json, EOS ids), and run the
 * OpenAI-compatible HTTP server of src/serve/ until SIGTERM or SIGINT. */
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_tok.h"
#include "generate/chat.h"
#include "serve/serve.h"
#include "ttt.h"
#include "ttt_generate.h"

static const flag_spec flags[] = {
    {"model", 1},        {"host", 1},        {"port", 1},          {"parallel", 1},    {"api-key", 1},
    {"state-dir", 1},    {"queue", 1},       {"max-tokens-cap", 1}, {"max-prompt", 1},  {"max-n", 1},
    {"max-body", 1},     {"timeout", 1},     {"max-sessions", 1},   {"session-bytes", 1}, {"session-idle", 1}, {"body-timeout", 1}, {"tokenizer", 1},
    {"threads", 1},      {"name", 1},        {"bf16", 0},           {"quiet", 0},       {NULL, 0}};

static void help(void) {
    printf("usage: ttt serve --model DIR [--host 127.0.0.1] [--port 8080] [--parallel N] [--api-key K]\n"
           "                 [--state-dir D] [limits...]\n\n"
           "An OpenAI-compatible HTTP server: POST /v1/completions, POST /v1/chat/completions, GET /v1/models,\n"
           "GET /health, GET /metrics (Prometheus), GET/DELETE /v1/sessions/{id}, and a page at /.\n"
           "Requests join and leave a running batch token by token; each sequence has its own cache. Replies\n"
           "equal `ttt generate` for the same prompt, seed and settings (unset fields take ttt generate's\n"
           "defaults for the model: generation_config.json, else temperature 0.8, max_tokens 128).\n\n"
           "  --host H           address to listen on (default 127.0.0.1: this machine only)\n"
           "  --port P           TCP port (default 8080; 0: any free port, printed at start)\n"
           "  --parallel N       sequences decoded together (default 8)\n"
           "  --api-key K        require 'Authorization: Bearer K' (default: none; also $TTT_API_KEY)\n"
           "  --state-dir D      directory for session states spilled from RAM (see the notes)\n"
           "  --queue N          requests waiting for the batch before 429 (default 64)\n"
           "  --max-tokens-cap N largest max_tokens accepted (default 4096)\n"
           "  --max-prompt N     longest prompt in tokens (default 32768)\n"
           "  --max-n N          most sequences (prompts x n) per request (default 16)\n"
           "  --max-body BYTES   largest request body (default 1048576; 413 above)\n"
           "  --timeout S        seconds a request may take from arrival to its last token (default 600)\n"
           "  --body-timeout S   seconds the request body may take to arrive (default 20; 408 after)\n"
           "  --max-sessions N   sessions kept (default 1024); --session-bytes B their total state bytes\n"
           "                     (default 1 GiB, the states in RAM); past --max-sessions the least recently\n"
           "                     used is dropped, past --session-bytes it is spilled to --state-dir (else dropped)\n"
           "  --session-idle S   with --state-dir: sessions idle for S seconds are spilled (default 300);\n"
           "                     SIGTERM spills all, and a server started on the same directory resumes them\n"
           "  --name NAME        the model's id in the API (default: the directory's name)\n"
           "  --tokenizer P, --threads N, --bf16   as for ttt generate\n"
           "  --quiet            no log lines but the listening address\n");
}

int cmd_serve(int argc, char **argv) {
    args a;
    if (args_parse(&a, "serve", flags, argc, argv)) return 2;
    if (a.help) {
        help();
        return 0;
    }
    if (args_require(&a, "model")) return 2;
    static srv s;
    memset(&s, 0, sizeof s);
    srv_opts *o = &s.o;
    int64_t port, par, q, cap, mp, mn, mb, ms, sb, thr;
    double to;
    if (args_int(&a, "port", 8080, 0, 65535, &port) || args_int(&a, "parallel", 8, 1, 4096, &par) ||
        args_int(&a, "queue", 64, 1, 1 << 20, &q) || args_int(&a, "max-tokens-cap", 4096, 0, (int64_t)1 << 30, &cap) ||
        args_int(&a, "max-prompt", 32768, 1, (int64_t)1 << 30, &mp) || args_int(&a, "max-n", 16, 1, 4096, &mn) ||
        args_int(&a, "max-body", 1 << 20, 64, (int64_t)1 << 32, &mb) ||
        args_int(&a, "max-sessions", 1024, 0, 1 << 24, &ms) ||
        args_int(&a, "session-bytes", (int64_t)1 << 30, 0, INT64_MAX, &sb) || args_int(&a, "threads", 0, 0, 4096, &thr) ||
        args_double(&a, "timeout", 600, &to) || args_double(&a, "session-idle", 300, &o->session_idle_s) ||
        args_double(&a, "body-timeout", 20, &o->body_timeout_s))
        return 2;
    if (!(o->body_timeout_s > 0)) {
        fprintf(stderr, "ttt serve: --body-timeout must be a number of seconds > 0, got %g\n", o->body_timeout_s);
        return 2;
    }
    if (!(o->session_idle_s >= 0)) {
        fprintf(stderr, "ttt serve: --session-idle must be a number of seconds >= 0, got %g\n", o->session_idle_s);
        return 2;
    }
    if (!(to > 0) || to > 86400 * 7) {
        fprintf(stderr, "ttt serve: --timeout must be a number of seconds in (0, 604800], got %g\n", to);
        return 2;
    }
    o->model_dir = args_str(&a, "model", "");
    o->host = args_str(&a, "host", "127.0.0.1");
    o->api_key = args_str(&a, "api-key", getenv("TTT_API_KEY"));
    if (o->api_key && !o->api_key[0]) o->api_key = NULL;
    o->state_dir = args_str(&a, "state-dir", NULL);
    o->port = (int)port, o->parallel = par, o->queue_max = q, o->max_tokens_cap = cap, o->max_prompt = mp;
    o->max_n = mn, o->max_body = (size_t)mb, o->timeout_s = to, o->max_sessions = ms, o->session_bytes = (size_t)sb;
    o->quiet = args_has(&a, "quiet");
    unsigned char addr[16];
    if (inet_pton(AF_INET, o->host, addr) != 1 && inet_pton(AF_INET6, o->host, addr) != 1) {
        fprintf(stderr, "ttt serve: --host '%s' is not an IPv4 or IPv6 address (e.g. 127.0.0.1, 0.0.0.0, ::1)\n", o->host);
        return 2;
    }
    if (o->state_dir) {
        struct stat st;
        if (stat(o->state_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "ttt serve: --state-dir %s is not a directory\n", o->state_dir);
            return 2;
        }
    }
    const char *name = args_str(&a, "name", NULL);
    if (!name) {
        size_t l = strlen(o->model_dir);
        while (l > 1 && o->model_dir[l - 1] == '/') l--;
        size_t b = l;
        while (b > 0 && o->model_dir[b - 1] != '/') b--;
        snprintf(o->model_name, sizeof o->model_name, "%.*s", (int)(l - b), o->model_dir + b);
    } else {
        snprintf(o->model_name, sizeof o->model_name, "%s", name);
    }
    ttt_options mo;
    ttt_options_default(&mo);
    mo.threads = (int)thr;
    mo.bf16_weights = args_has(&a, "bf16");
    model_tok mt = {0};
    srv_metrics metrics;
    int rc = 1;
    if (ttt_model_load(o->model_dir, &mo, &s.m) != TTT_OK) return cli_fail("serve");
    const ttt_config *cfg = ttt_model_config(s.m);
    if (model_tok_find(args_str(&a, "tokenizer", NULL), o->model_dir, cfg->tokenizer, &mt) != TTT_OK) {
        rc = cli_fail("serve");
        goto done;
    }
    s.tok = mt.tok;
    if (ttt_tok_vocab_size(s.tok) > cfg->vocab_size) {
        fprintf(stderr, "ttt serve: the tokenizer %s has %lld tokens but the model only %lld (vocab_size)\n",
                ttt_tok_name(s.tok), (long long)ttt_tok_vocab_size(s.tok), (long long)cfg->vocab_size);
        goto done;
    }
    s.V = cfg->vocab_size;
    s.rows = ttt_config_vocab_rows(cfg);
    s.max_context = ttt_config_max_context(cfg);
    /* the defaults of ttt generate: its own (temperature 0.8, max 128), then generation_config.json */
    s.def_sp = (ttt_sampling){0.8, 0, 1.0};
    s.def_max_tokens = 128;
    char ignored[256];
    if (ttt_generate_settings(o->model_dir, cfg, s.tok, 0, 0, &s.def_sp, &s.def_max_tokens, s.eos, &s.n_eos, ignored,
                              sizeof ignored) != TTT_OK) {
        rc = cli_fail("serve");
        goto done;
    }
    if (s.def_max_tokens > cap) s.def_max_tokens = cap;
    if (ignored[0] && !o->quiet)
        fprintf(stderr, "ttt serve: note: %s/generation_config.json sets %s, which ttt does not apply\n", o->model_dir,
                ignored);
    char *probe = NULL;
    if (ttt_chat_format_dir(o->model_dir, "hi", &probe, NULL) != TTT_OK)
        snprintf(s.chat_error, sizeof s.chat_error, "%s", ttt_last_error());
    free(probe);
    srv_metrics_init(&metrics);
    s.metrics = &metrics;
    if (srv_sessions_init(&s)) {
        fprintf(stderr, "ttt serve: out of memory\n");
        goto done;
    }
    srv_sessions_scan(&s);
    rc = srv_http_run(&s);
    srv_sessions_free(&s);
done:
    model_tok_free(&mt);
    ttt_model_free(s.m);
    return rc;
}
