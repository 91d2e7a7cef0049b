/* chat.c: the chat templates `ttt generate --chat` recognises, rendered for one user message
 * with the generation prompt (see chat.h for the three forms and their strings). */
#include "generate/chat.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "io/json.h"

#define MAX_TOKCONFIG_BYTES (64u << 20) /* tokenizer_config.json can list many added tokens */

static int has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

/* concatenation of up to 8 strings (NULL ends) into a malloc'd string */
static ttt_status cat(char **out, const char *const *parts) {
    size_t n = 1;
    for (int i = 0; parts[i]; i++) n += strlen(parts[i]);
    char *s = malloc(n);
    if (!s) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    s[0] = 0;
    for (int i = 0; parts[i]; i++) strcat(s, parts[i]);
    *out = s;
    return TTT_OK;
}

/* Jinja's trim (Python str.strip() of ASCII whitespace; other Unicode spaces are kept) */
static char *trim_copy(const char *s) {
    while (*s == ' ' || (*s >= '\t' && *s <= '\r')) s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r'))) n--;
    char *o = malloc(n + 1);
    if (o) memcpy(o, s, n), o[n] = 0;
    return o;
}

/* ChatML templates that open with a fixed system message when the chat has none (Qwen's
 * "You are a helpful assistant."): the literal text between "<|im_start|>system" + newline and
 * "<|im_end|>" inside one string literal of the template (no quote, brace or '+' in it). One
 * such text, or none (*sys NULL); two different ones are ambiguous. */
static ttt_status chatml_system(const char *t, char **sys) {
    *sys = NULL;
    const char *key = "<|im_start|>system";
    for (const char *p = strstr(t, key); p; p = strstr(p + 1, key)) {
        const char *q = p + strlen(key);
        if (q[0] == '\n')
            q += 1;
        else if (q[0] == '\\' && q[1] == 'n')
            q += 2;
        else
            continue;
        const char *e = strstr(q, "<|im_end|>");
        if (!e || e == q) continue;
        size_t n = (size_t)(e - q);
        if (memchr(q, '\'', n) || memchr(q, '"', n) || memchr(q, '{', n) || memchr(q, '}', n) || memchr(q, '+', n))
            continue;
        char *s = malloc(n + 1), *w = s; /* the literal's escapes \n \t \\ \' \" */
        if (!s) return ttt_err(TTT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            if (q[i] == '\\' && i + 1 < n) {
                char c = q[++i];
                *w++ = c == 'n' ? '\n' : c == 't' ? '\t' : c;
            } else {
                *w++ = q[i];
            }
        }
        *w = 0;
        if (*sys && strcmp(*sys, s) != 0) {
            free(s), free(*sys);
            *sys = NULL;
            return ttt_err(TTT_ERR_ARG, "chat template: two different default system messages in a ChatML "
                           "template; cannot tell which one it applies");
        }
        free(*sys);
        *sys = s;
    }
    return TTT_OK;
}

ttt_status ttt_chat_format(const char *t, const char *bos, const char *eos, const char *user, char **out,
                           const char **kind) {
    *out = NULL;
    if (!t || !t[0]) return ttt_err(TTT_ERR_ARG, "chat template: empty; cannot apply it");
    if (has(t, "<|start_header_id|>")) {
        if (kind) *kind = "llama3";
        if (has(t, "Cutting Knowledge Date") || has(t, "date_string") || has(t, "strftime_now") || has(t, "tools"))
            return ttt_err(TTT_ERR_ARG, "chat template: a Llama 3.1-style template (a system block with dates and "
                           "tools); ttt --chat renders only the Llama 3 one, so it cannot apply this template "
                           "(format the prompt yourself and leave out --chat)");
        if (!has(t, "<|end_header_id|>") || !has(t, "<|eot_id|>"))
            return ttt_err(TTT_ERR_ARG, "chat template: has <|start_header_id|> but not <|end_header_id|> and "
                           "<|eot_id|>; not the Llama 3 template, cannot apply it");
        if (has(t, "bos_token") && !bos)
            return ttt_err(TTT_ERR_ARG, "chat template: the Llama 3 template writes bos_token, but the tokenizer "
                           "config has no \"bos_token\"");
        char *msg = has(t, "trim") ? trim_copy(user) : strdup(user);
        if (!msg) return ttt_err(TTT_ERR_NOMEM, "out of memory");
        const char *parts[] = {has(t, "bos_token") ? bos : "", "<|start_header_id|>user<|end_header_id|>\n\n", msg,
                               "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", NULL};
        ttt_status s = cat(out, parts);
        free(msg);
        return s;
    }
    if (has(t, "<|im_start|>")) {
        if (kind) *kind = "chatml";
        if (!has(t, "<|im_end|>"))
            return ttt_err(TTT_ERR_ARG, "chat template: has <|im_start|> but no <|im_end|>; not ChatML, cannot "
                           "apply it");
        char *sys;
        TRY(chatml_system(t, &sys));
        const char *parts[] = {sys ? "<|im_start|>system\n" : "", sys ? sys : "", sys ? "<|im_end|>\n" : "",
                               "<|im_start|>user\n", user, "<|im_end|>\n<|im_start|>assistant\n", NULL};
        ttt_status s = cat(out, parts);
        free(sys);
        return s;
    }
    if (has(t, "<|user|>") && has(t, "<|assistant|>")) {
        if (kind) *kind = "zephyr";
        const char *e = has(t, "eos_token") ? eos : has(t, "</s>") ? "</s>" : NULL;
        if (!e)
            return ttt_err(TTT_ERR_ARG, "chat template: a Zephyr-style template (<|user|>, <|assistant|>) that ends "
                           "turns with %s", has(t, "eos_token") ? "eos_token, but the tokenizer config has no "
                           "\"eos_token\"" : "neither eos_token nor </s>; cannot apply it");
        const char *parts[] = {"<|user|>\n", user, e, "\n<|assistant|>\n", NULL};
        return cat(out, parts);
    }
    if (kind) *kind = NULL;
    return ttt_err(TTT_ERR_ARG, "chat template: not one ttt recognises (Llama 3: <|start_header_id|>; ChatML: "
                   "<|im_start|>; Zephyr: <|user|>), so it cannot apply it (format the prompt yourself and leave "
                   "out --chat)");
}

/* a token of tokenizer_config.json: "text" or {"content": "text", ...} (NULL: absent / null) */
static const char *token_text(const cJSON *root, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

ttt_status ttt_chat_format_dir(const char *dir, const char *user, char **out, const char **kind) {
    *out = NULL;
    char path[1200], jpath[1200];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    snprintf(jpath, sizeof jpath, "%s/chat_template.jinja", dir);
    struct stat st;
    cJSON *root = NULL;
    if (stat(path, &st) == 0) TRY(ttt_json_load(path, MAX_TOKCONFIG_BYTES, TTT_ERR_FORMAT, &root));
    const char *tmpl = NULL;
    char *jtext = NULL;
    ttt_status s = TTT_OK;
    const cJSON *ct = root ? cJSON_GetObjectItemCaseSensitive(root, "chat_template") : NULL;
    if (cJSON_IsString(ct)) {
        tmpl = ct->valuestring;
    } else if (cJSON_IsArray(ct)) { /* [{"name": "default", "template": ...}, {"name": "tool_use", ...}] */
        for (const cJSON *e = ct->child; e; e = e->next) {
            const cJSON *n = cJSON_GetObjectItemCaseSensitive(e, "name"), *tv = cJSON_GetObjectItemCaseSensitive(e, "template");
            if (cJSON_IsString(n) && strcmp(n->valuestring, "default") == 0 && cJSON_IsString(tv)) tmpl = tv->valuestring;
        }
        if (!tmpl)
            s = ttt_err(TTT_ERR_ARG, "%s: \"chat_template\" is a list without a template named \"default\"; cannot "
                        "apply it", path);
    } else if (ct && !cJSON_IsNull(ct)) {
        s = ttt_err(TTT_ERR_FORMAT, "%s: \"chat_template\" must be a string or a list of {\"name\", \"template\"}", path);
    }
    if (s == TTT_OK && !tmpl) {
        size_t len;
        if (stat(jpath, &st) == 0) {
            s = ttt_read_file(jpath, MAX_TOKCONFIG_BYTES, &jtext, &len);
            tmpl = jtext;
        } else {
            s = ttt_err(TTT_ERR_ARG, "--chat: %s has no chat template (neither \"chat_template\" in "
                        "tokenizer_config.json nor chat_template.jinja); cannot apply one", dir);
        }
    }
    if (s == TTT_OK)
        s = ttt_chat_format(tmpl, root ? token_text(root, "bos_token") : NULL, root ? token_text(root, "eos_token") : NULL,
                            user, out, kind);
    free(jtext);
    cJSON_Delete(root);
    return s;
}
