/* test_generate_hf.c: the Hugging Face pieces of `ttt generate`: chat templates (--chat) and
 * generation_config.json.
 * Chat oracle: the strings transformers' Jinja rendering gives (jinja2.Environment(trim_blocks,
 * lstrip_blocks) .render(messages=[user], add_generation_prompt=True, bos_token, eos_token))
 * for the real templates below, rendered once with python3-jinja2 and written here; when
 * /usr/bin/python3 has jinja2 the test renders them again and compares.
 * generation_config: parsing (an int and a list of EOS ids, null, every bad field with its
 * message), the precedence flags > file > ttt's defaults, and the command end to end (greedy by
 * default, max_new_tokens, stopping at any listed EOS id). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "generate/chat.h"
#include "generate/gen_config.h"
#include "test.h"
#include "ttt_generate.h"
#include "ttt_tokenizer.h"

/* Meta-Llama-3-8B-Instruct, a plain ChatML, Qwen2-Instruct (a default system message),
 * zephyr-7b-beta / TinyLlama-Chat (as in their tokenizer_config.json) */
static const char *const T_LLAMA3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
static const char *const T_CHATML =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
static const char *const T_QWEN2 =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou "
    "are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] "
    "+ '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
static const char *const T_ZEPHYR =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
    "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

static const char *const MSG[2] = {"Hello, who are you?", "  padded\n message \n"};

static const struct {
    const char *name, *const *tmpl, *bos, *eos, *kind, *want[2];
} CASES[] = {
    {"llama3", &T_LLAMA3, "<|begin_of_text|>", "<|eot_id|>", "llama3",
     {"<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello, who are you?<|eot_id|><|start_header_id|>"
      "assistant<|end_header_id|>\n\n",
      "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\npadded\n message<|eot_id|><|start_header_id|>"
      "assistant<|end_header_id|>\n\n"}},
    {"chatml", &T_CHATML, "<s>", "</s>", "chatml",
     {"<|im_start|>user\nHello, who are you?<|im_end|>\n<|im_start|>assistant\n",
      "<|im_start|>user\n  padded\n message \n<|im_end|>\n<|im_start|>assistant\n"}},
    {"qwen2", &T_QWEN2, "<s>", "</s>", "chatml",
     {"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHello, who are you?<|im_end|>\n"
      "<|im_start|>assistant\n",
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n  padded\n message \n<|im_end|>\n"
      "<|im_start|>assistant\n"}},
    {"zephyr", &T_ZEPHYR, "<s>", "</s>", "zephyr",
     {"<|user|>\nHello, who are you?</s>\n<|assistant|>\n", "<|user|>\n  padded\n message \n</s>\n<|assistant|>\n"}},
};

/* show control characters of a string (for messages) */
static const char *vis(const char *s) {
    static char buf[4][600];
    static int k;
    char *o = buf[k++ & 3], *w = o;
    for (; *s && w < o + sizeof buf[0] - 4; s++) {
        if (*s == '\n')
            *w++ = '\\', *w++ = 'n';
        else
            *w++ = *s;
    }
    *w = 0;
    return o;
}

TEST(test_generate_hf_chat_templates) {
    int ok = 1;
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++)
        for (int m = 0; m < 2; m++) {
            char *out;
            const char *kind;
            if (ttt_chat_format(*CASES[c].tmpl, CASES[c].bos, CASES[c].eos, MSG[m], &out, &kind) != TTT_OK) {
                test_fail("%s: %s", CASES[c].name, ttt_last_error());
                ok = 0;
                continue;
            }
            if (strcmp(out, CASES[c].want[m]) != 0 || strcmp(kind, CASES[c].kind) != 0) {
                test_fail("%s, message %d: got \"%s\" (%s), expected \"%s\"", CASES[c].name, m, vis(out), kind,
                          vis(CASES[c].want[m]));
                ok = 0;
            }
            free(out);
        }
    /* the templates ttt cannot render are refused, saying so */
    static const struct {
        const char *tmpl, *needle;
    } bad[] = {
        {"{{- bos_token }}{%- if not date_string is defined %}{%- set date_string = \"26 Jul 2024\" %}{%- endif %}"
         "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}{{- \"Cutting Knowledge Date: December 2023\\n\" }}"
         "<|eot_id|>", "Llama 3.1-style"},
        {"{% for m in messages %}{{ m['content'] }}{% endfor %}", "cannot apply it"},
        {"", "empty"},
        {"{{ '<|im_start|>' + m }}", "no <|im_end|>"},
        {"{{ '<|user|>\\n' + m + '<|assistant|>' }}", "neither eos_token nor </s>"},
        {"{{ '<|im_start|>system\\nA<|im_end|>' }}{{ '<|im_start|>system\\nB<|im_end|>' }}", "two different default system"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = (char *)1;
        ttt_status s = ttt_chat_format(bad[i].tmpl, "<s>", "</s>", "hi", &out, NULL);
        if (s != TTT_ERR_ARG || out != NULL || !strstr(ttt_last_error(), bad[i].needle)) {
            test_fail("template %zu: status %d, message \"%s\" (expected \"%s\")", i, (int)s, ttt_last_error(), bad[i].needle);
            ok = 0;
        }
    }
    char *out;
    EXPECT(ttt_chat_format(T_ZEPHYR, "<s>", NULL, "hi", &out, NULL) == TTT_ERR_ARG && strstr(ttt_last_error(), "eos_token"),
           "zephyr without an eos_token: %s", ttt_last_error());
    EXPECT(ttt_chat_format(T_LLAMA3, NULL, NULL, "hi", &out, NULL) == TTT_ERR_ARG && strstr(ttt_last_error(), "bos_token"),
           "llama3 without a bos_token: %s", ttt_last_error());
    return ok ? TEST_PASS : TEST_FAIL;
}

/* the expected strings above again from jinja2, when /usr/bin/python3 has it */
TEST(test_generate_hf_chat_jinja2) {
    char *out;
    if (run_cmd(&out, "/usr/bin/python3 -c 'import jinja2' 2>&1") != 0) {
        free(out);
        return test_skip("/usr/bin/python3 has no jinja2 (apt-get install python3-jinja2); the strings of "
                         "test_generate_hf_chat_templates stand");
    }
    free(out);
    int ok = 1;
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; c++)
        for (int m = 0; m < 2; m++) {
            /* template, message, bos and eos as files: no quoting problems */
            const char *dir = tmp_path("chat_j2");
            char path[1100];
            run_cmd(&out, "mkdir -p %s", dir);
            free(out);
            const char *vals[4] = {*CASES[c].tmpl, MSG[m], CASES[c].bos, CASES[c].eos};
            for (int k = 0; k < 4; k++) {
                snprintf(path, sizeof path, "%s/%d", dir, k);
                write_whole(path, vals[k], strlen(vals[k]));
            }
            snprintf(path, sizeof path, "%s/r.py", dir);
            const char *py = "import jinja2, sys\n"
                             "r = lambda k: open(sys.argv[1] + '/' + str(k)).read()\n"
                             "e = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)\n"
                             "sys.stdout.write(e.from_string(r(0)).render(messages=[{'role': 'user', 'content': r(1)}], "
                             "add_generation_prompt=True, bos_token=r(2), eos_token=r(3)))\n";
            write_whole(path, py, strlen(py));
            if (run_cmd(&out, "/usr/bin/python3 %s %s", path, dir) != 0 || strcmp(out, CASES[c].want[m]) != 0) {
                test_fail("%s, message %d: jinja2 renders \"%s\", the test expects \"%s\"", CASES[c].name, m,
                          out ? vis(out) : "(nothing)", vis(CASES[c].want[m]));
                ok = 0;
            }
            free(out);
        }
    return ok ? TEST_PASS : TEST_FAIL;
}

/* a model directory's tokenizer_config.json: string template, a list of templates,
 * chat_template.jinja, tokens as {"content": ...}; none */
TEST(test_generate_hf_chat_dir) {
    const char *d = tmp_path("chat_dir");
    char *out, path[1100];
    run_cmd(&out, "rm -rf %s && mkdir -p %s", d, d);
    free(out);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", d);
    const char *j1 = "{\"bos_token\": {\"content\": \"<|begin_of_text|>\", \"lstrip\": false}, \"eos_token\": \"<|eot_id|>\", "
                     "\"chat_template\": \"{{ '<|start_header_id|>' + m + '<|end_header_id|>\\n\\n' | trim + '<|eot_id|>' "
                     "+ bos_token }}\"}";
    write_whole(path, j1, strlen(j1));
    const char *kind;
    EXPECT(ttt_chat_format_dir(d, " hi ", &out, &kind) == TTT_OK, "%s", ttt_last_error());
    EXPECT(strcmp(kind, "llama3") == 0 &&
               strcmp(out, "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|><|start_header_id|>"
                           "assistant<|end_header_id|>\n\n") == 0,
           "string template: \"%s\"", vis(out));
    free(out);
    const char *j2 = "{\"eos_token\": \"</s>\", \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}, "
                     "{\"name\": \"default\", \"template\": \"{{ '<|user|>\\n' + c + eos_token }}{{ '<|assistant|>' }}\"}]}";
    write_whole(path, j2, strlen(j2));
    EXPECT(ttt_chat_format_dir(d, "hi", &out, &kind) == TTT_OK, "%s", ttt_last_error());
    EXPECT(strcmp(out, "<|user|>\nhi</s>\n<|assistant|>\n") == 0, "list of templates: \"%s\"", vis(out));
    free(out);
    const char *j3 = "{\"eos_token\": \"</s>\"}";
    write_whole(path, j3, strlen(j3));
    EXPECT(ttt_chat_format_dir(d, "hi", &out, &kind) == TTT_ERR_ARG && strstr(ttt_last_error(), "no chat template"),
           "no template: %s", ttt_last_error());
    snprintf(path, sizeof path, "%s/chat_template.jinja", d);
    write_whole(path, T_CHATML, strlen(T_CHATML));
    EXPECT(ttt_chat_format_dir(d, "hi", &out, &kind) == TTT_OK && strcmp(kind, "chatml") == 0, "%s", ttt_last_error());
    EXPECT(strcmp(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n") == 0, "chat_template.jinja: \"%s\"", vis(out));
    free(out);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", d);
    write_whole(path, "{\"chat_template\": 5}", 20);
    EXPECT(ttt_chat_format_dir(d, "hi", &out, &kind) == TTT_ERR_FORMAT && strstr(ttt_last_error(), "tokenizer_config.json"),
           "chat_template 5: %s", ttt_last_error());
    return TEST_PASS;
}

/* ------------------------------------------------------------------------------------------ */
/* generation_config.json                                                                      */

static ttt_status gen_load(const char *json, ttt_gen_config *g) {
    const char *d = tmp_path("gencfg");
    char *out, path[1100];
    run_cmd(&out, "mkdir -p %s", d);
    free(out);
    snprintf(path, sizeof path, "%s/generation_config.json", d);
    write_whole(path, json, strlen(json));
    return ttt_gen_config_load(d, 1000, g);
}

TEST(test_generate_hf_gen_config) {
    ttt_gen_config g;
    ttt_gen_flags none = {0, 0, 0, 0}, all = {1, 1, 1, 1};
    ttt_sampling sp;
    int64_t mt;
    /* Llama 3.1's file: sampling, a list of EOS ids */
    EXPECT(gen_load("{\"bos_token_id\": 128, \"do_sample\": true, \"eos_token_id\": [1, 8, 9], \"temperature\": 0.6, "
                    "\"top_p\": 0.9, \"transformers_version\": \"4.42.3\"}", &g) == TTT_OK, "%s", ttt_last_error());
    EXPECT(g.found && g.n_eos == 3 && g.eos[0] == 1 && g.eos[1] == 8 && g.eos[2] == 9 && !g.ignored[0], "eos list: %d ids",
           g.n_eos);
    sp = (ttt_sampling){0.8, 0, 1.0}, mt = 128;
    ttt_gen_config_apply(&g, &none, 10, &sp, &mt);
    EXPECT(sp.temperature == 0.6 && sp.top_k == 50 && sp.top_p == 0.9 && mt == 128,
           "do_sample true: T %g k %lld p %g max %lld (expected 0.6, 50 (transformers' default), 0.9, 128)", sp.temperature,
           (long long)sp.top_k, sp.top_p, (long long)mt);
    sp = (ttt_sampling){0.3, 7, 0.5}, mt = 9;
    ttt_gen_config_apply(&g, &all, 10, &sp, &mt);
    EXPECT(sp.temperature == 0.3 && sp.top_k == 7 && sp.top_p == 0.5 && mt == 9, "flags win: T %g k %lld p %g max %lld",
           sp.temperature, (long long)sp.top_k, sp.top_p, (long long)mt);
    /* an int EOS, no do_sample (greedy, as transformers), max_length */
    EXPECT(gen_load("{\"eos_token_id\": 2, \"temperature\": 0.7, \"max_length\": 30, \"repetition_penalty\": 1.1, "
                    "\"num_beams\": 1}", &g) == TTT_OK, "%s", ttt_last_error());
    EXPECT(g.n_eos == 1 && g.eos[0] == 2 && strcmp(g.ignored, "repetition_penalty") == 0, "int eos %d, ignored \"%s\"",
           g.n_eos, g.ignored);
    sp = (ttt_sampling){0.8, 0, 1.0}, mt = 128;
    ttt_gen_config_apply(&g, &none, 12, &sp, &mt);
    EXPECT(sp.temperature == 0 && mt == 18, "no do_sample: T %g (greedy), max %lld (30 - 12)", sp.temperature, (long long)mt);
    sp = (ttt_sampling){0.9, 0, 1.0}, mt = 128;
    ttt_gen_flags tflag = {1, 0, 0, 0};
    ttt_gen_config_apply(&g, &tflag, 40, &sp, &mt);
    EXPECT(sp.temperature == 0.9 && mt == 0, "--temperature over greedy: T %g, max %lld (prompt past max_length)",
           sp.temperature, (long long)mt);
    EXPECT(gen_load("{\"do_sample\": false, \"max_new_tokens\": 5, \"max_length\": 99, \"eos_token_id\": null}", &g) == TTT_OK,
           "%s", ttt_last_error());
    sp = (ttt_sampling){0.8, 0, 1.0}, mt = 128;
    ttt_gen_config_apply(&g, &none, 3, &sp, &mt);
    EXPECT(sp.temperature == 0 && mt == 5 && g.has_eos && g.n_eos == 0, "max_new_tokens wins over max_length: %lld", (long long)mt);
    /* no file: nothing changes */
    const char *d = tmp_path("gencfg_none");
    char *out;
    run_cmd(&out, "rm -rf %s && mkdir -p %s", d, d);
    free(out);
    EXPECT(ttt_gen_config_load(d, 1000, &g) == TTT_OK && !g.found, "absent file");
    sp = (ttt_sampling){0.8, 0, 1.0}, mt = 128;
    ttt_gen_config_apply(&g, &none, 3, &sp, &mt);
    EXPECT(sp.temperature == 0.8 && mt == 128, "absent file changed the settings");
    /* bad values */
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"do_sample\": 1}", "\"do_sample\" must be true or false"},
        {"{\"temperature\": -1}", "\"temperature\" must be a number >= 0"},
        {"{\"temperature\": \"hot\"}", "\"temperature\" must be a number >= 0"},
        {"{\"top_k\": 2.5}", "\"top_k\" must be an integer in [0, 2^31)"},
        /* found by fuzz_genconfig: a value past int64 was converted before it was refused (UB) */
        {"{\"top_k\": 44444444444444444444444444444440}", "\"top_k\" must be an integer in [0, 2^31)"},
        {"{\"top_p\": 0}", "\"top_p\" must be a number in (0, 1]"},
        {"{\"top_p\": 1.5}", "\"top_p\" must be a number in (0, 1]"},
        {"{\"max_new_tokens\": -3}", "\"max_new_tokens\" must be an integer"},
        {"{\"max_length\": 0}", "\"max_length\" must be an integer in [1"},
        {"{\"eos_token_id\": 1000}", "\"eos_token_id\" is not a token id in [0, 1000)"},
        {"{\"eos_token_id\": [1, -2]}", "\"eos_token_id\" entry 1 is not a token id"},
        {"{\"eos_token_id\": []}", "a list of 1 to 32 token ids"},
        {"{\"eos_token_id\": \"2\"}", "must be a token id, a list"},
        {"{\"top_k\": 1, \"top_k\": 2}", "top_k"},
        {"[1, 2]", "generation_config.json"},
    };
    int ok = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ttt_status s = gen_load(bad[i].json, &g);
        if (s == TTT_OK || !strstr(ttt_last_error(), bad[i].needle) || !strstr(ttt_last_error(), "generation_config.json")) {
            test_fail("%s: status %d, message \"%s\" (expected the file and \"%s\")", bad[i].json, (int)s, ttt_last_error(),
                      bad[i].needle);
            ok = 0;
        }
    }
    return ok ? TEST_PASS : TEST_FAIL;
}

/* ------------------------------------------------------------------------------------------ */
/* the command                                                                                 */

static int generated(const char *out) { /* "generated N tokens" of the statistics line */
    const char *p = strstr(out, "generated ");
    return p ? atoi(p + 10) : -1;
}

TEST(test_generate_hf_cli) {
    static const char *tk = "data/tok/r50k_base.tiktoken";
    struct stat st;
    if (stat(tk, &st) != 0) return test_skip("data/tok/r50k_base.tiktoken is absent (make data fetches it)");
    const char *md = tmp_path("gen_hf_model");
    char *out, *o2, gp[1100];
    EXPECT(run_cmd(&out, "rm -rf %s && %s init --preset llama-tiny --vocab 50257 --bos 50256 --eos 50256 --attention-bias "
                   "--out %s", md, test_ttt_bin, md) == 0, "%s", out);
    free(out);
    snprintf(gp, sizeof gp, "%s/generation_config.json", md);
    /* the greedy continuation and its first token */
    EXPECT(run_cmd(&out, "%s generate --model %s --tokenizer %s --prompt 'Hello world' --max-tokens 8 --temperature 0", test_ttt_bin,
                   md, tk) == 0 && generated(out) == 8, "%s", out);
    ttt_model *m;
    ttt_tok *tok;
    EXPECT(ttt_model_load(md, NULL, &m) == TTT_OK && ttt_tok_load(tk, NULL, &tok) == TTT_OK, "%s", ttt_last_error());
    int32_t *ids;
    int64_t P;
    EXPECT(ttt_tok_encode(tok, "Hello world", 11, ttt_tok_bos(tok) >= 0 ? TTT_TOK_ADD_BOS : 0, &ids, &P) == TTT_OK, "%s",
           ttt_last_error());
    ttt_cache *c;
    float *lg = malloc(sizeof(float) * 50257);
    EXPECT(ttt_cache_create(m, 1, &c) == TTT_OK && ttt_prefill_last(m, c, ids, P, lg) == TTT_OK, "%s", ttt_last_error());
    int32_t first = 0;
    for (int32_t v = 1; v < 50257; v++)
        if (lg[v] > lg[first]) first = v;
    ttt_cache_free(c), free(lg), free(ids), ttt_tok_free(tok), ttt_model_free(m);
    /* do_sample false: greedy without --temperature; max_new_tokens 5 */
    const char *j = "{\"do_sample\": false, \"max_new_tokens\": 5, \"temperature\": 0.9}";
    write_whole(gp, j, strlen(j));
    EXPECT(run_cmd(&o2, "%s generate --model %s --tokenizer %s --prompt 'Hello world' --seed 3", test_ttt_bin, md, tk) == 0 &&
               generated(o2) == 5, "%s", o2);
    EXPECT(strncmp(out, o2, 8) == 0, "greedy from generation_config.json \"%.40s\" vs --temperature 0 \"%.40s\"", o2, out);
    free(o2);
    /* --max-tokens overrides it */
    EXPECT(run_cmd(&o2, "%s generate --model %s --tokenizer %s --prompt 'Hello world' --max-tokens 2", test_ttt_bin, md, tk) == 0 &&
               generated(o2) == 2, "%s", o2);
    free(o2), free(out);
    /* EOS: a list holding the greedy first token stops at once; so does the int */
    char buf[256];
    snprintf(buf, sizeof buf, "{\"max_new_tokens\": 6, \"eos_token_id\": [7, %d]}", (int)first);
    write_whole(gp, buf, strlen(buf));
    EXPECT(run_cmd(&out, "%s generate --model %s --tokenizer %s --prompt 'Hello world'", test_ttt_bin, md, tk) == 0 &&
               generated(out) == 0, "eos list [7, %d]: %s", (int)first, out);
    free(out);
    snprintf(buf, sizeof buf, "{\"max_new_tokens\": 6, \"eos_token_id\": %d}", (int)first);
    write_whole(gp, buf, strlen(buf));
    EXPECT(run_cmd(&out, "%s generate --model %s --tokenizer %s --prompt 'Hello world'", test_ttt_bin, md, tk) == 0 &&
               generated(out) == 0, "eos %d: %s", (int)first, out);
    free(out);
    /* bad file: a clear error */
    write_whole(gp, "{\"top_p\": 2}", 12);
    int ok = expect_cli_error("generation_config.json|top_p", "generate --model %s --tokenizer %s --prompt x", md, tk);
    /* --chat without a template */
    unlink(gp);
    ok &= expect_cli_error("--chat|no chat template", "generate --model %s --tokenizer %s --prompt x --chat", md, tk);
    /* --chat with a ChatML template: the formatted text is what gets tokenized (its length in
     * tokens shows in the statistics: more than the bare prompt's) */
    snprintf(gp, sizeof gp, "%s/tokenizer_config.json", md);
    j = "{\"chat_template\": \"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\\\n' + "
        "message['content'] + '<|im_end|>' + '\\\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant"
        "\\\\n' }}{% endif %}\"}";
    write_whole(gp, j, strlen(j));
    EXPECT(run_cmd(&out, "%s generate --model %s --tokenizer %s --prompt 'Hello world' --chat --max-tokens 1", test_ttt_bin, md,
                   tk) == 0, "%s", out);
    const char *pp = strstr(out, "prompt ");
    EXPECT(pp && atoi(pp + 7) > 10, "--chat prompt length: %s", out);
    free(out);
    return ok ? TEST_PASS : TEST_FAIL;
}
