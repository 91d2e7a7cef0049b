/* request.c: the body of POST /v1/completions and /v1/chat/completions (libcjson) into a
 * validated srv_params, and OpenAI-style error bodies. Every field has its type and range
 * checked; a wrong one is a 400 naming the field (param) and what was expected. Fields this
 * server does not implement are refused when they would change the result (penalties,
 * logit_bias, best_of, suffix, tools) and ignored otherwise (user, metadata, ...). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate/chat.h"
#include "serve/serve.h"

void srv_set_error(srv_error *e, int status, const char *type, const char *param, const char *code, const char *fmt,
                   ...) {
    e->status = status;
    e->type = type;
    e->param = param;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* the length of the well-formed UTF-8 sequence at u[i] (no NUL, overlong form or surrogate), or 0 */
static size_t utf8_seq(const unsigned char *u, size_t i, size_t n) {
    unsigned c = u[i];
    size_t need = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    int ok = need > 0 && i + need <= n && !(need == 1 && c == 0);
    for (size_t j = 1; ok && j < need; j++) ok = (u[i + j] & 0xC0) == 0x80;
    if (ok && need == 2) ok = c >= 0xC2;
    if (ok && need == 3) {
        unsigned cp = ((c & 15u) << 12) | ((u[i + 1] & 63u) << 6) | (u[i + 2] & 63u);
        ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (ok && need == 4) {
        unsigned cp = ((c & 7u) << 18) | ((u[i + 1] & 63u) << 12) | ((u[i + 2] & 63u) << 6) | (u[i + 3] & 63u);
        ok = cp >= 0x10000 && cp <= 0x10FFFF;
    }
    return ok ? need : 0;
}

char *srv_utf8_clean(const char *s, size_t n) {
    char *o = malloc(n * 3 + 1);
    if (!o) return NULL;
    size_t k = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t need = utf8_seq(u, i, n);
        if (need) {
            memcpy(o + k, s + i, need);
            k += need, i += need;
        } else {
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3, i++;
        }
    }
    o[k] = 0;
    return o;
}

char *srv_error_json(const srv_error *e) {
    cJSON *r = cJSON_CreateObject(), *o = cJSON_AddObjectToObject(r, "error");
    char *msg = srv_utf8_clean(e->message, strlen(e->message));
    cJSON_AddStringToObject(o, "message", msg ? msg : "error");
    free(msg);
    cJSON_AddStringToObject(o, "type", e->type ? e->type : "invalid_request_error");
    if (e->param)
        cJSON_AddStringToObject(o, "param", e->param);
    else
        cJSON_AddNullToObject(o, "param");
    if (e->code)
        cJSON_AddStringToObject(o, "code", e->code);
    else
        cJSON_AddNullToObject(o, "code");
    char *s = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return s;
}

void srv_params_free(srv_params *p) {
    for (int i = 0; i < p->n_stop; i++) free(p->stop[i]);
    for (int64_t i = 0; p->prompt && i < p->n_prompts; i++) free(p->prompt[i]);
    free(p->prompt), free(p->prompt_len);
    memset(p, 0, sizeof *p);
}

/* a 400 naming the field; returns -1 */
static int __attribute__((format(printf, 3, 4))) bad(srv_error *e, const char *param, const char *fmt, ...) {
    e->status = 400;
    e->type = "invalid_request_error";
    e->param = param;
    e->code = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}
#define BAD(param, ...) bad(e, param, __VA_ARGS__)

/* an integer field in [lo, hi]; absent or null: 0 (nothing set), 1 set, -1 error */
static int get_int(cJSON *root, const char *name, int64_t lo, int64_t hi, int64_t *out, srv_error *e) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble != floor(v->valuedouble))
        return BAD(name, "'%s' must be an integer", name);
    if (v->valuedouble < (double)lo || v->valuedouble > (double)hi)
        return BAD(name, "'%s' is %.17g; expected an integer from %lld to %lld", name, v->valuedouble, (long long)lo,
                   (long long)hi);
    *out = (int64_t)v->valuedouble;
    return 1;
}

static int get_num(cJSON *root, const char *name, double lo, double hi, int lo_open, double *out, srv_error *e) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return BAD(name, "'%s' must be a number", name);
    double x = v->valuedouble;
    if (x < lo || x > hi || (lo_open && x == lo))
        return BAD(name, "'%s' is %g; expected a number in %s%g, %g]", name, x, lo_open ? "(" : "[", lo, hi);
    *out = x;
    return 1;
}

static int get_bool(cJSON *root, const char *name, int *out, srv_error *e) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return BAD(name, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(v);
    return 1;
}

/* a field that must keep its neutral value */
static int refuse_unsupported(cJSON *root, srv_error *e) {
    static const char *zero[] = {"frequency_penalty", "presence_penalty", "repetition_penalty"};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(root, zero[i]);
        if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == (strcmp(zero[i], "repetition_penalty") ? 0 : 1)))
            return BAD(zero[i], "'%s' is not supported by ttt serve (leave it out or at its neutral value)", zero[i]);
    }
    static const char *empty[] = {"logit_bias", "tools", "functions", "tool_choice", "suffix", "response_format"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        cJSON *v = cJSON_GetObjectItemCaseSensitive(root, empty[i]);
        if (!v || cJSON_IsNull(v)) continue;
        if ((cJSON_IsObject(v) || cJSON_IsArray(v)) && !v->child) continue;
        if (strcmp(empty[i], "response_format") == 0 && cJSON_IsObject(v)) {
            cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "type");
            if (cJSON_IsString(t) && strcmp(t->valuestring, "text") == 0) continue;
        }
        if (strcmp(empty[i], "tool_choice") == 0 && cJSON_IsString(v) && strcmp(v->valuestring, "none") == 0) continue;
        return BAD(empty[i], "'%s' is not supported by ttt serve", empty[i]);
    }
    cJSON *bo = cJSON_GetObjectItemCaseSensitive(root, "best_of");
    if (bo && !cJSON_IsNull(bo) && !(cJSON_IsNumber(bo) && bo->valuedouble == 1))
        return BAD("best_of", "'best_of' is not supported by ttt serve (use n)");
    return 0;
}

static int add_prompt(srv_params *p, int32_t *ids, int64_t n) {
    int32_t **np = realloc(p->prompt, sizeof *np * (size_t)(p->n_prompts + 1));
    if (!np) return -1;
    p->prompt = np;
    int64_t *nl = realloc(p->prompt_len, sizeof *nl * (size_t)(p->n_prompts + 1));
    if (!nl) return -1;
    p->prompt_len = nl;
    p->prompt[p->n_prompts] = ids;
    p->prompt_len[p->n_prompts++] = n;
    return 0;
}

static int check_len(srv *s, srv_params *p, int64_t n, srv_error *e, const char *param) {
    if (n > s->o.max_prompt)
        return BAD(param, "the prompt has %lld tokens, more than this server's limit of %lld (--max-prompt)",
                   (long long)n, (long long)s->o.max_prompt);
    if (s->max_context > 0 && n + p->max_tokens > s->max_context)
        return BAD(param, "the prompt (%lld tokens) plus max_tokens (%lld) exceeds the model's context of %lld tokens",
                   (long long)n, (long long)p->max_tokens, (long long)s->max_context);
    return 0;
}

static int encode_text(srv *s, srv_params *p, const char *text, size_t len, int chat, srv_error *e,
                       const char *param) {
    int addbos = !chat && ttt_tok_bos(s->tok) >= 0;
    int32_t *ids = NULL;
    int64_t n = 0;
    if (ttt_tok_encode(s->tok, text, len, addbos ? TTT_TOK_ADD_BOS : 0, &ids, &n) != TTT_OK)
        return BAD(param, "the prompt cannot be tokenized: %s", ttt_last_error());
    if (n <= (addbos ? 1 : 0)) {
        free(ids);
        return BAD(param, "the prompt encodes to no tokens (give some text)");
    }
    if (check_len(s, p, n, e, param) || add_prompt(p, ids, n)) {
        free(ids);
        return e->status ? -1 : BAD(param, "out of memory");
    }
    return 0;
}

static int ids_prompt(srv *s, srv_params *p, cJSON *arr, srv_error *e) {
    int64_t n = cJSON_GetArraySize(arr);
    if (n == 0) return BAD("prompt", "a prompt of token ids is empty");
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    if (!ids) return BAD("prompt", "out of memory");
    int64_t i = 0;
    for (cJSON *v = arr->child; v; v = v->next, i++) {
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0 ||
            v->valuedouble >= (double)s->V) {
            free(ids);
            return BAD("prompt", "token %lld of the prompt is not an id in [0, %lld)", (long long)i, (long long)s->V);
        }
        ids[i] = (int32_t)v->valuedouble;
    }
    if (check_len(s, p, n, e, "prompt") || add_prompt(p, ids, n)) {
        free(ids);
        return e->status ? -1 : BAD("prompt", "out of memory");
    }
    return 0;
}

static int parse_prompt(srv *s, srv_params *p, cJSON *v, srv_error *e) {
    if (!v || cJSON_IsNull(v)) return BAD("prompt", "'prompt' is required (a string, a list of strings, or token ids)");
    if (cJSON_IsString(v)) {
        p->prompt_is_text = 1;
        return encode_text(s, p, v->valuestring, strlen(v->valuestring), 0, e, "prompt");
    }
    if (!cJSON_IsArray(v) || !v->child)
        return BAD("prompt", "'prompt' must be a string, a non-empty list of strings, a list of token ids or a list of "
                             "lists of token ids");
    cJSON *c0 = v->child;
    if (cJSON_IsNumber(c0)) return ids_prompt(s, p, v, e);
    if (cJSON_GetArraySize(v) > 64) return BAD("prompt", "more than 64 prompts in one request");
    for (cJSON *c = v->child; c; c = c->next) {
        if (cJSON_IsString(c) && cJSON_IsString(c0)) {
            p->prompt_is_text = 1;
            if (encode_text(s, p, c->valuestring, strlen(c->valuestring), 0, e, "prompt")) return -1;
        } else if (cJSON_IsArray(c) && cJSON_IsArray(c0)) {
            if (ids_prompt(s, p, c, e)) return -1;
        } else {
            return BAD("prompt", "the prompts of a list must all be strings or all lists of token ids");
        }
    }
    return 0;
}

static int parse_messages(srv *s, srv_params *p, cJSON *v, srv_error *e) {
    if (s->chat_error[0])
        return BAD("messages", "this model has no usable chat template: %s; use /v1/completions", s->chat_error);
    if (!cJSON_IsArray(v) || !v->child) return BAD("messages", "'messages' must be a non-empty list of messages");
    if (v->child->next)
        return BAD("messages", "ttt serve formats one user message per request (the recognised chat templates render a "
                               "single user turn); continue a conversation with the 'session' field");
    cJSON *m = v->child, *role = cJSON_GetObjectItemCaseSensitive(m, "role"),
          *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!cJSON_IsObject(m) || !cJSON_IsString(role)) return BAD("messages", "a message needs a string 'role'");
    if (strcmp(role->valuestring, "user") != 0)
        return BAD("messages", "the message's role is '%s'; expected 'user'", role->valuestring);
    srv_buf text = {0};
    if (cJSON_IsString(content)) {
        srv_buf_puts(&text, content->valuestring);
    } else if (cJSON_IsArray(content)) { /* [{"type": "text", "text": ...}] */
        for (cJSON *c = content->child; c; c = c->next) {
            cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type"), *tx = cJSON_GetObjectItemCaseSensitive(c, "text");
            if (!cJSON_IsString(t) || strcmp(t->valuestring, "text") != 0 || !cJSON_IsString(tx)) {
                srv_buf_free(&text);
                return BAD("messages", "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported");
            }
            srv_buf_puts(&text, tx->valuestring);
        }
    } else {
        return BAD("messages", "a message's 'content' must be a string or a list of text parts");
    }
    if (!text.p || text.failed) {
        srv_buf_free(&text);
        return BAD("messages", "the message is empty");
    }
    char *fmt = NULL;
    if (ttt_chat_format_dir(s->o.model_dir, text.p, &fmt, NULL) != TTT_OK) {
        srv_buf_free(&text);
        return BAD("messages", "%s", ttt_last_error());
    }
    srv_buf_free(&text);
    int r = encode_text(s, p, fmt, strlen(fmt), 1, e, "messages");
    free(fmt);
    return r;
}

int srv_parse_request(srv *s, int kind, const char *body, size_t len, srv_params *p, srv_error *e) {
    memset(p, 0, sizeof *p);
    memset(e, 0, sizeof *e);
    p->kind = kind;
    p->logprobs = -1;
    p->n = 1;
    p->sp = s->def_sp;
    p->max_tokens = s->def_max_tokens;
    /* JSON text is UTF-8 (RFC 8259); cJSON would pass invalid bytes to the tokenizer, and it
     * ends a string at a NUL (a raw one or the escape \u0000): "a\u0000b" would become "a" */
    const unsigned char *u = (const unsigned char *)body;
    for (size_t i = 0; i < len;) {
        if (u[i] == 0) return BAD(NULL, "the request body holds a NUL byte (at byte %zu)", i);
        if (u[i] == '\\' && i + 5 < len && memcmp(body + i + 1, "u0000", 5) == 0)
            return BAD(NULL, "a string of the request holds \\u0000 (at byte %zu): NUL characters are not accepted", i);
        size_t k = u[i] == '\\' && i + 1 < len ? 2 : utf8_seq(u, i, len);
        if (!k) return BAD(NULL, "the request body is not valid UTF-8 (at byte %zu)", i);
        i += k;
    }
    const char *endp = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &endp, 0);
    if (!root) {
        size_t at = endp && endp >= body ? (size_t)(endp - body) : 0;
        return BAD(NULL, "the request body is not valid JSON (error near byte %zu)", at);
    }
    int rc = -1;
    while (endp && endp < body + len && (*endp == ' ' || *endp == '\t' || *endp == '\n' || *endp == '\r')) endp++;
    if (endp && endp < body + len) {
        BAD(NULL, "the request body is not valid JSON (data after the JSON value at byte %zu)", (size_t)(endp - body));
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        BAD(NULL, "the request body must be a JSON object");
        goto out;
    }
    cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsNull(model) && !cJSON_IsString(model)) {
        BAD("model", "'model' must be a string");
        goto out;
    }
    if (refuse_unsupported(root, e)) goto out;
    int64_t iv;
    double dv;
    int r;
    if (get_bool(root, "stream", &p->stream, e) < 0 || get_bool(root, "echo", &p->echo, e) < 0) goto out;
    cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) {
            BAD("stream_options", "'stream_options' must be an object");
            goto out;
        }
        if (get_bool(so, "include_usage", &p->include_usage, e) < 0) goto out;
    }
    if (kind == SRV_CHAT && p->echo) {
        BAD("echo", "'echo' is a field of /v1/completions");
        goto out;
    }
    const char *mt_name = kind == SRV_CHAT && cJSON_GetObjectItemCaseSensitive(root, "max_completion_tokens")
                              ? "max_completion_tokens" : "max_tokens";
    r = get_int(root, mt_name, 0, INT64_MAX / 4, &iv, e);
    if (r < 0) goto out;
    if (r) {
        if (iv > s->o.max_tokens_cap) {
            BAD(mt_name, "'%s' is %lld, more than this server's limit of %lld", mt_name, (long long)iv,
                (long long)s->o.max_tokens_cap);
            goto out;
        }
        p->max_tokens = iv;
        p->given |= TTT_GIVEN_MAX_TOKENS;
    }
    if ((r = get_num(root, "temperature", 0, 2, 0, &dv, e)) < 0) goto out;
    if (r) p->sp.temperature = dv, p->given |= TTT_GIVEN_TEMPERATURE;
    if ((r = get_num(root, "top_p", 0, 1, 1, &dv, e)) < 0) goto out;
    if (r) p->sp.top_p = dv, p->given |= TTT_GIVEN_TOP_P;
    if ((r = get_int(root, "top_k", -1, (int64_t)1 << 40, &iv, e)) < 0) goto out;
    if (r) p->sp.top_k = iv < 0 ? 0 : iv, p->given |= TTT_GIVEN_TOP_K;
    if ((r = get_int(root, "seed", INT64_MIN / 2, INT64_MAX / 2, &iv, e)) < 0) goto out;
    if (r) p->seed = (uint64_t)iv;
    if ((r = get_int(root, "n", 1, s->o.max_n, &p->n, e)) < 0) goto out;
    if (kind == SRV_COMPLETION) {
        if ((r = get_int(root, "logprobs", 0, SRV_MAX_TOP_LOGPROBS, &iv, e)) < 0) goto out;
        if (r) p->logprobs = (int)iv;
    } else {
        int lb = 0;
        if (get_bool(root, "logprobs", &lb, e) < 0) goto out;
        int64_t tk = 0;
        if ((r = get_int(root, "top_logprobs", 0, 20, &tk, e)) < 0) goto out;
        if (r && !lb) {
            BAD("top_logprobs", "'top_logprobs' needs 'logprobs': true");
            goto out;
        }
        if (tk > SRV_MAX_TOP_LOGPROBS) {
            BAD("top_logprobs", "'top_logprobs' above %d is not supported by ttt serve", SRV_MAX_TOP_LOGPROBS);
            goto out;
        }
        if (lb) p->logprobs = (int)tk;
    }
    cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop");
    if (stop && !cJSON_IsNull(stop)) {
        if (cJSON_IsString(stop)) {
            if (!stop->valuestring[0]) {
                BAD("stop", "'stop' is an empty string");
                goto out;
            }
            p->stop[p->n_stop++] = strdup(stop->valuestring);
        } else if (cJSON_IsArray(stop)) {
            if (cJSON_GetArraySize(stop) > SRV_MAX_STOP) {
                BAD("stop", "'stop' holds more than %d strings", SRV_MAX_STOP);
                goto out;
            }
            for (cJSON *c = stop->child; c; c = c->next) {
                if (!cJSON_IsString(c) || !c->valuestring[0]) {
                    BAD("stop", "'stop' must be a string or a list of up to %d non-empty strings", SRV_MAX_STOP);
                    goto out;
                }
                p->stop[p->n_stop++] = strdup(c->valuestring);
            }
        } else {
            BAD("stop", "'stop' must be a string or a list of up to %d non-empty strings", SRV_MAX_STOP);
            goto out;
        }
    }
    cJSON *sess = cJSON_GetObjectItemCaseSensitive(root, "session");
    if (sess && !cJSON_IsNull(sess)) {
        size_t sl = cJSON_IsString(sess) ? strlen(sess->valuestring) : 0;
        int ok = sl >= 1 && sl <= 64;
        for (size_t i = 0; ok && i < sl; i++) {
            char c = sess->valuestring[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                 c == '.';
        }
        if (!ok || sess->valuestring[0] == '.') {
            BAD("session", "'session' must be a string of 1 to 64 letters, digits, '-', '_' or '.' (not starting with '.')");
            goto out;
        }
        strcpy(p->session, sess->valuestring);
        if (p->n != 1) {
            BAD("n", "a request with a 'session' has n = 1");
            goto out;
        }
    }
    if (ttt_sampling_check(&p->sp) != TTT_OK) {
        BAD(NULL, "%s", ttt_last_error());
        goto out;
    }
    if (kind == SRV_COMPLETION) {
        if (parse_prompt(s, p, cJSON_GetObjectItemCaseSensitive(root, "prompt"), e)) goto out;
    } else {
        if (parse_messages(s, p, cJSON_GetObjectItemCaseSensitive(root, "messages"), e)) goto out;
    }
    if (p->session[0] && p->n_prompts != 1) {
        BAD("session", "a request with a 'session' has one prompt");
        goto out;
    }
    if (p->n_prompts * p->n > s->o.max_n) {
        BAD("n", "%lld prompts times n = %lld gives more than %lld sequences (--max-n)", (long long)p->n_prompts,
            (long long)p->n, (long long)s->o.max_n);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc) srv_params_free(p);
    return rc;
}
