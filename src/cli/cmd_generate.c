/* cmd_generate.c: `ttt generate`: tokenize a prompt with the model's tokenizer, prefill it in
 * one pass (dual form for TTT, tiled attention for the Transformer, chunked scan for Mamba),
 * then decode token by token through the recurrent (or key/value) cache, sampling each token
 * and streaming the text to stdout on UTF-8 boundaries. Statistics go to stderr. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_tok.h"
#include "core/error.h"
#include "core/mem.h"
#include "generate/chat.h"
#include "generate/gen_config.h"
#include "io/fsutil.h"
#include "ttt.h"
#include "ttt_generate.h"
#include "ttt_state.h"
#include "ttt_tokenizer.h"

static const flag_spec flags[] = {
    {"model", 1},   {"prompt", 1}, {"prompt-file", 1}, {"max-tokens", 1}, {"temperature", 1},
    {"top-k", 1},   {"top-p", 1},  {"seed", 1},        {"batch", 1},      {"stop", 1},
    {"tokenizer", 1}, {"threads", 1}, {"no-bos", 0},   {"quiet", 0},      {"bf16", 0},
    {"chat", 0},    {"save-state", 1}, {"load-state", 1}, {NULL, 0}};

static void help(void) {
    printf("usage: ttt generate --model DIR (--prompt TEXT | --prompt-file FILE) [--max-tokens N]\n"
           "                    [--temperature T] [--top-k K] [--top-p P] [--seed S] [--batch N]\n"
           "                    [--stop STRING] [--tokenizer PATH] [--chat] [--bf16]\n"
           "                    [--save-state FILE] [--load-state FILE]\n\n"
           "Prefills the prompt in one pass, then decodes token by token through the model's cache and\n"
           "streams the continuation to stdout. Stops at EOS (any of the model's EOS ids), at the stop\n"
           "string, or after N tokens.\n\n"
           "  --max-tokens N   tokens to generate (default 128; 0 runs the prefill only)\n"
           "  --temperature T  0 = greedy (default 0.8); --top-k K (default 0 = off); --top-p P in (0, 1]\n"
           "                   (default 1 = off); --seed S (default 0)\n"
           "                   A generation_config.json in the model directory sets these defaults as\n"
           "                   transformers reads it (do_sample false or absent: greedy; do_sample true:\n"
           "                   its temperature, top_k, top_p, else 1.0, 50, 1.0; max_new_tokens, else\n"
           "                   max_length minus the prompt) and the EOS ids (eos_token_id: an id or a\n"
           "                   list); the flags above override it\n"
           "  --chat           the prompt is one user message of a chat: formatted with the chat\n"
           "                   template of the model's tokenizer_config.json (Llama 3, ChatML and Zephyr\n"
           "                   templates are recognised), the assistant's turn opened, no automatic BOS\n"
           "  --batch N        N continuations at once (seeds S, S+1, ...), printed one after another\n"
           "  --tokenizer P    a tokenizer.json (or a directory holding one), a .tiktoken file or a Llama-2\n"
           "                   tokenizer directory; by default the tokenizer named in the model's\n"
           "                   config.json (\"ttt_tokenizer\") in the model directory, else the directory's\n"
           "                   tokenizer.json (as ttt init --tokenizer and ttt train --tokenizer write it),\n"
           "                   else the named one in data/tok/\n"
           "  --no-bos         do not start the prompt with the BOS token\n"
           "  --bf16           multiply by bfloat16 copies of the weights (float32 accumulation): about\n"
           "                   twice the decode speed, logits within about 1e-2 (docs/gemm.md)\n"
           "  --save-state F   after generating, write the decoding state (the cache covering prompt and\n"
           "                   generated tokens, the token ids, the next token's logits and the\n"
           "                   sampler's random stream) to F (atomically; --batch 1)\n"
           "  --load-state F   continue the text of a state file of this model: the prompt (optional)\n"
           "                   is appended after the saved tokens (no BOS); without a prompt the next\n"
           "                   token is drawn from the saved logits with the saved random stream, so\n"
           "                   N tokens, --save-state, then M tokens with --load-state are bit for bit\n"
           "                   the N + M tokens of one run (--seed S restarts the stream from S)\n"
           "Prints prompt and generated token counts, prefill and decode tokens/s and peak memory to\n"
           "stderr (--quiet: nothing).\n");
}

int cmd_generate(int argc, char **argv) {
    args a;
    if (args_parse(&a, "generate", flags, argc, argv)) return 2;
    if (a.help) {
        help();
        return 0;
    }
    if (args_require(&a, "model")) return 2;
    const char *load_state = args_str(&a, "load-state", NULL), *save_state = args_str(&a, "save-state", NULL);
    int has_prompt = args_has(&a, "prompt") || args_has(&a, "prompt-file");
    if ((args_has(&a, "prompt") && args_has(&a, "prompt-file")) || (!has_prompt && !load_state)) {
        fprintf(stderr, "ttt generate: give exactly one of --prompt TEXT and --prompt-file FILE (or --load-state FILE "
                        "to continue a saved text)\n");
        return 2;
    }
    ttt_sampling sp = {0.8, 0, 1.0};
    if (args_has(&a, "stop") && !*args_str(&a, "stop", "")) {
        fprintf(stderr, "ttt generate: --stop is empty (it would stop before the first token; leave it out "
                        "for no stop string)\n");
        return 2;
    }
    int64_t maxt, seed, B, thr;
    if (args_int(&a, "max-tokens", 128, 0, (int64_t)1 << 30, &maxt) || args_int(&a, "seed", 0, 0, INT64_MAX, &seed) ||
        args_int(&a, "batch", 1, 1, 4096, &B) || args_int(&a, "top-k", 0, -((int64_t)1 << 40), (int64_t)1 << 40, &sp.top_k) ||
        args_double(&a, "temperature", sp.temperature, &sp.temperature) || args_double(&a, "top-p", sp.top_p, &sp.top_p) ||
        args_int(&a, "threads", 0, 0, 4096, &thr))
        return 2;
    if (ttt_sampling_check(&sp) != TTT_OK) return cli_fail("generate");
    if ((load_state || save_state) && B != 1) {
        fprintf(stderr, "ttt generate: --save-state and --load-state work with --batch 1 (got --batch %lld)\n", (long long)B);
        return 2;
    }
    ttt_gen_flags given = {args_has(&a, "temperature"), args_has(&a, "top-k"), args_has(&a, "top-p"),
                           args_has(&a, "max-tokens")};
    int quiet = args_has(&a, "quiet");
    const char *mdir = args_str(&a, "model", "");
    ttt_options mo;
    ttt_options_default(&mo);
    mo.threads = (int)thr;
    mo.bf16_weights = args_has(&a, "bf16");
    ttt_model *m = NULL;
    model_tok mt = {0};
    const ttt_tok *tok = NULL;
    char *prompt = NULL;
    size_t plen = 0;
    int32_t *pids = NULL, *ids = NULL, *gen = NULL;
    float *logits = NULL;
    ttt_cache *c = NULL;
    ttt_sampler **smp = NULL;
    ttt_text_stream *ts = NULL;
    ttt_state_extra sx = {0};
    int32_t *hist = NULL; /* --save-state: every token the cache has seen */
    int64_t nhist = 0, P0 = 0;
    int rc = 0;
    if (ttt_model_load(mdir, &mo, &m) != TTT_OK) return cli_fail("generate");
    const ttt_config *cfg = ttt_model_config(m);
    if (model_tok_find(args_str(&a, "tokenizer", NULL), mdir, cfg->tokenizer, &mt) != TTT_OK) {
        rc = cli_fail("generate");
        goto done;
    }
    tok = mt.tok;
    ttt_gen_config gc;
    if (ttt_gen_config_load(mdir, cfg->vocab_size, &gc) != TTT_OK) {
        rc = cli_fail("generate");
        goto done;
    }
    if (gc.ignored[0] && !quiet)
        fprintf(stderr, "ttt generate: note: %s/generation_config.json sets %s, which ttt does not apply\n", mdir,
                gc.ignored);
    if (ttt_tok_vocab_size(tok) > cfg->vocab_size) {
        fprintf(stderr, "ttt generate: the tokenizer %s has %lld tokens but the model only %lld (vocab_size)\n",
                ttt_tok_name(tok), (long long)ttt_tok_vocab_size(tok), (long long)cfg->vocab_size);
        rc = 1;
        goto done;
    }
    if (load_state) { /* the saved cache, tokens, logits and random stream */
        if (ttt_cache_load_ex(m, load_state, &c, &sx) != TTT_OK) {
            rc = cli_fail("generate");
            goto done;
        }
        if (ttt_cache_batch(c) != 1) {
            fprintf(stderr, "ttt generate: %s holds %lld sequences; ttt generate continues states of one sequence\n",
                    load_state, (long long)ttt_cache_batch(c));
            rc = 2;
            goto done;
        }
        if (!sx.tokens || (!has_prompt && (!sx.logits || !sx.rng))) {
            fprintf(stderr, "ttt generate: %s holds no %s (a state of ttt generate --save-state has them)%s\n",
                    load_state, !sx.tokens ? "token ids" : "logits and random stream to continue from",
                    sx.tokens ? "; give --prompt to continue it with new text" : "");
            rc = 2;
            goto done;
        }
        P0 = ttt_cache_position(c);
        if (args_has(&a, "seed") && !quiet)
            fprintf(stderr, "ttt generate: note: --seed restarts the random stream; the one saved in %s is not used\n",
                    load_state);
    }
    if (!has_prompt) {
        prompt = strdup("");
        plen = 0;
    } else if (args_has(&a, "prompt")) {
        prompt = strdup(args_str(&a, "prompt", ""));
        plen = strlen(prompt);
    } else if (ttt_read_file(args_str(&a, "prompt-file", ""), (size_t)1 << 30, &prompt, &plen) != TTT_OK) {
        rc = cli_fail("generate");
        goto done;
    }
    if (plen == 0 && has_prompt) {
        fprintf(stderr, "ttt generate: the prompt is empty (give some text to continue)\n");
        rc = 2;
        goto done;
    }
    int chat = args_has(&a, "chat");
    if (chat) { /* the chat template's text; its special tokens become their ids in the tokenizer */
        char *txt;
        if (memchr(prompt, 0, plen)) {
            fprintf(stderr, "ttt generate: --chat: the prompt contains a NUL byte\n");
            rc = 2;
            goto done;
        }
        if (ttt_chat_format_dir(mdir, prompt, &txt, NULL) != TTT_OK) {
            rc = cli_fail("generate");
            goto done;
        }
        free(prompt);
        prompt = txt;
        plen = strlen(txt);
    }
    int64_t P;
    int addbos = !chat && !load_state && !args_has(&a, "no-bos") && ttt_tok_bos(tok) >= 0;
    if (!has_prompt) {
        P = 0;
        pids = malloc(sizeof(int32_t));
    } else if (ttt_tok_encode(tok, prompt, plen, addbos ? TTT_TOK_ADD_BOS : 0, &pids, &P) != TTT_OK) {
        rc = cli_fail("generate");
        goto done;
    }
    if (has_prompt && P <= (addbos ? 1 : 0)) {
        fprintf(stderr, "ttt generate: the prompt encodes to no tokens\n");
        rc = 2;
        goto done;
    }
    ttt_gen_config_apply(&gc, &given, P0 + P, &sp, &maxt);
    int64_t limit = ttt_config_max_context(cfg); /* attention models have a context limit */
    if (limit > 0) {
        if (P0 + P > limit) {
            fprintf(stderr, "ttt generate: the prompt has %lld tokens%s, more than the model's limit of %lld "
                    "(max_position_embeddings)\n", (long long)(P0 + P), P0 ? " with the saved ones" : "", (long long)limit);
            rc = 2;
            goto done;
        }
        if (P0 + P + maxt > limit) maxt = limit - P0 - P;
    }
    if (save_state) {
        hist = malloc(sizeof(int32_t) * (size_t)(P0 + P + maxt + 1));
        if (!hist) {
            fprintf(stderr, "ttt generate: out of memory\n");
            rc = 1;
            goto done;
        }
        if (P0) memcpy(hist, sx.tokens, sizeof(int32_t) * (size_t)P0);
        if (P) memcpy(hist + P0, pids, sizeof(int32_t) * (size_t)P);
        nhist = P0 + P;
    }
    int64_t V = cfg->vocab_size;
    ids = malloc(sizeof(int32_t) * (size_t)(B * P + 1));
    gen = malloc(sizeof(int32_t) * (size_t)(B * (maxt + 1)));
    logits = malloc(sizeof(float) * (size_t)(B * ttt_config_vocab_rows(cfg)));
    smp = calloc((size_t)B, sizeof *smp);
    ts = calloc((size_t)B, sizeof *ts);
    int64_t *ngen = calloc((size_t)B, sizeof(int64_t));
    int *done = calloc((size_t)B, sizeof(int));
    if (!ids || !gen || !logits || !smp || !ts || !ngen || !done) {
        fprintf(stderr, "ttt generate: out of memory\n");
        rc = 1;
        free(ngen), free(done);
        goto done;
    }
    for (int64_t b = 0; b < B; b++) {
        memcpy(ids + b * P, pids, sizeof(int32_t) * (size_t)P);
        ttt_text_stream_init(&ts[b], args_str(&a, "stop", NULL));
        if (ttt_sampler_create(V, (uint64_t)seed + (uint64_t)b, &smp[b]) != TTT_OK ||
            (sx.rng && !args_has(&a, "seed") && ttt_sampler_set_rng(smp[b], sx.rng + 4 * b) != TTT_OK)) {
            rc = cli_fail("generate");
            free(ngen), free(done);
            goto done;
        }
    }
    if (!c && ttt_cache_create(m, B, &c) != TTT_OK) {
        rc = cli_fail("generate");
        free(ngen), free(done);
        goto done;
    }
    double t0 = cli_now();
    if (P == 0) /* the saved next-token logits */
        memcpy(logits, sx.logits, sizeof(float) * (size_t)(B * ttt_config_vocab_rows(cfg)));
    else if (ttt_prefill_last(m, c, ids, P, logits) != TTT_OK) {
        rc = cli_fail("generate");
        free(ngen), free(done);
        goto done;
    }
    double t1 = cli_now();
    /* the EOS ids: generation_config.json's, else config.json's (an id or a list), else the
     * tokenizer's */
    int32_t eos_ids[TTT_GEN_MAX_EOS];
    int n_eos = 0;
    if (gc.has_eos) {
        n_eos = gc.n_eos;
        memcpy(eos_ids, gc.eos, sizeof(int32_t) * (size_t)n_eos);
    } else if (ttt_gen_config_model_eos(mdir, cfg->vocab_size, eos_ids, &n_eos) != TTT_OK) {
        rc = cli_fail("generate");
        free(ngen), free(done);
        goto done;
    }
    if (!gc.has_eos && n_eos == 0 && cfg->eos_token_id < 0 && ttt_tok_eos(tok) >= 0) eos_ids[n_eos++] = ttt_tok_eos(tok);
    int32_t eos = n_eos ? eos_ids[0] : -1;
    int32_t last_prompt = P ? pids[P - 1] : sx.tokens[P0 - 1];
    int64_t steps = 0, produced = 0;
    int32_t *col = malloc(sizeof(int32_t) * (size_t)B);
    int32_t *ctx = malloc(sizeof(int32_t) * (size_t)(maxt + 2));
    char *base = NULL;
    size_t baselen = 0;
    ttt_tok_decode(tok, &last_prompt, 1, 0, &base, &baselen);
    int nonfinite = 0;
    for (int64_t t = 0; t < maxt; t++) {
        int alive = 0;
        for (int64_t b = 0; b < B; b++) {
            if (done[b]) {
                col[b] = eos >= 0 ? eos : 0;
                continue;
            }
            const float *row = logits + b * ttt_config_vocab_rows(cfg);
            int64_t bad = -1;
            for (int64_t v = 0; v < V && bad < 0; v++)
                if (!isfinite(row[v])) bad = v;
            if (bad >= 0) {
                fprintf(stderr,
                        "ttt generate: the logits of step %lld are not finite (token %lld: %g): the "
                        "model's activations overflow (check the weights)\n",
                        (long long)t, (long long)bad, (double)row[bad]);
                nonfinite = 1;
                break;
            }
            int32_t y = ttt_sample(smp[b], row, V, &sp);
            col[b] = y;
            int is_eos = 0;
            for (int e = 0; e < n_eos; e++) is_eos |= y == eos_ids[e];
            if (is_eos) {
                done[b] = 1;
                continue;
            }
            gen[b * (maxt + 1) + ngen[b]++] = y;
            produced++;
            /* text of [last prompt token, generated...] minus the text of the last prompt token:
             * the continuation exactly as it follows the prompt (spaces included) */
            ctx[0] = last_prompt;
            memcpy(ctx + 1, gen + b * (maxt + 1), sizeof(int32_t) * (size_t)ngen[b]);
            char *txt;
            size_t tl;
            if (ttt_tok_decode(tok, ctx, ngen[b] + 1, 0, &txt, &tl) == TTT_OK) {
                size_t off = tl >= baselen ? baselen : tl, from;
                size_t n = ttt_text_stream_update(&ts[b], txt + off, tl - off, 0, &from);
                if (B == 1 && n) {
                    fwrite(ts[b].text + from, 1, n, stdout);
                    fflush(stdout);
                }
                free(txt);
            }
            if (ts[b].stopped) done[b] = 1;
            alive += !done[b];
        }
        if (nonfinite) {
            rc = 1;
            break;
        }
        if (!alive) break;
        if (t + 1 == maxt) break;
        if (ttt_decode_step(m, c, col, logits) != TTT_OK) {
            rc = cli_fail("generate");
            break;
        }
        if (hist) hist[nhist++] = col[0];
        steps++;
    }
    if (save_state && rc == 0) { /* the last drawn token goes into the cache, then the state is written */
        if (maxt > 0 && produced + done[0] > 0) {
            if (ttt_decode_step(m, c, col, logits) != TTT_OK) rc = cli_fail("generate");
            hist[nhist++] = col[0];
        }
        uint64_t rng[4];
        ttt_sampler_get_rng(smp[0], rng);
        ttt_state_extra x = {hist, logits, rng};
        if (rc == 0 && nhist != ttt_cache_position(c)) {
            fprintf(stderr, "ttt generate: internal error: %lld tokens recorded for a cache at position %lld\n",
                    (long long)nhist, (long long)ttt_cache_position(c));
            rc = 1;
        }
        if (rc == 0 && ttt_cache_save_ex(c, save_state, &x) != TTT_OK) rc = cli_fail("generate");
    }
    double t2 = cli_now();
    for (int64_t b = 0; b < B && rc == 0; b++) { /* flush what was held back */
        size_t from, n = ttt_text_stream_update(&ts[b], ts[b].text, ts[b].len, 1, &from);
        if (B == 1) {
            fwrite(ts[b].text + from, 1, n, stdout);
            fputc('\n', stdout);
        } else {
            printf("--- continuation %lld (seed %lld) ---\n%s\n", (long long)b, (long long)(seed + b), ts[b].text);
        }
    }
    fflush(stdout);
    if (!quiet && rc == 0)
        fprintf(stderr,
                "ttt generate: prompt %lld tokens, prefill %.1f tokens/s (%.3f s); generated %lld tokens in %lld "
                "sequence%s, decode %.1f tokens/s (%.2f ms per step); cache %.1f MiB; peak memory %.1f MiB\n",
                (long long)P, (double)(B * P) / (t1 - t0), t1 - t0, (long long)produced, (long long)B, B > 1 ? "s" : "",
                steps ? (double)(B * steps) / (t2 - t1) : 0.0, steps ? 1e3 * (t2 - t1) / (double)steps : 0.0,
                ttt_cache_bytes(c) / 1048576.0, ttt_peak_rss_bytes() / 1048576.0);
    free(base), free(col), free(ctx), free(ngen), free(done);
done:
    for (int64_t b = 0; smp && b < B; b++) ttt_sampler_free(smp[b]);
    for (int64_t b = 0; ts && b < B; b++) ttt_text_stream_free(&ts[b]);
    free(smp), free(ts);
    ttt_cache_free(c);
    free(logits), free(gen), free(ids), free(pids), free(prompt), free(hist);
    ttt_state_extra_free(&sx);
    model_tok_free(&mt);
    ttt_model_free(m);
    return rc;
}
