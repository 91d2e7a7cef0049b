/* pretok.c: PCRE2-based pre-tokenizer (see pretok.h). */
#include "tokenizer/pretok.h"

#include <string.h>

#include "core/error.h"

ttt_status pretok_compile(pretok *p, const char *pattern, const char *name) {
    memset(p, 0, sizeof *p);
    int err;
    PCRE2_SIZE off;
    /* DOLLAR_ENDONLY: '$' means the end of the text only, as in JavaScript and tiktoken */
    uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
    p->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &err, &off, NULL);
    if (!p->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return ttt_err(TTT_ERR_ARG, "%s: cannot compile the split pattern at offset %zu: %s", name,
                       (size_t)off, (const char *)msg);
    }
    p->jit = pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE) == 0;
    return TTT_OK;
}

void pretok_free(pretok *p) {
    if (p->code) pcre2_code_free(p->code);
    memset(p, 0, sizeof *p);
}

ttt_status pretok_state_init(pretok_state *st, const pretok *p) {
    memset(st, 0, sizeof *st);
    st->md = pcre2_match_data_create_from_pattern(p->code, NULL);
    st->mctx = pcre2_match_context_create(NULL);
    /* long runs (a 100 kB line of spaces) need more than the default 32 kB JIT stack */
    if (p->jit) st->stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (!st->md || !st->mctx || (p->jit && !st->stack)) {
        pretok_state_free(st);
        return ttt_err(TTT_ERR_NOMEM, "out of memory for the pre-tokenizer");
    }
    if (st->stack) pcre2_jit_stack_assign(st->mctx, NULL, st->stack);
    /* the match limit counts backtracking steps, and a whitespace run of n bytes takes about n
     * of them in \s+(?!\S) (the default limit, 10 million, refused valid 10 MB runs): the
     * patterns are fixed and linear, so no limit is needed; the JIT stack and the heap limit
     * still bound memory */
    pcre2_set_match_limit(st->mctx, UINT32_MAX);
    return TTT_OK;
}

void pretok_state_free(pretok_state *st) {
    if (st->md) pcre2_match_data_free(st->md);
    if (st->mctx) pcre2_match_context_free(st->mctx);
    if (st->stack) pcre2_jit_stack_free(st->stack);
    memset(st, 0, sizeof *st);
}

ttt_status pretok_split(const pretok *p, pretok_state *st, const char *text, size_t len, size_t start,
                        size_t stop, pretok_piece_fn fn, void *ctx, size_t *end) {
    size_t pos = start;
    *end = start;
    while (pos < len && pos < stop) {
        int rc = p->jit ? pcre2_jit_match(p->code, (PCRE2_SPTR)text, len, pos, 0, st->md, st->mctx)
                        : pcre2_match(p->code, (PCRE2_SPTR)text, len, pos, 0, st->md, st->mctx);
        size_t b, e;
        if (rc == PCRE2_ERROR_NOMATCH) {
            b = e = len;
        } else if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return ttt_err(TTT_ERR_ARG, "pre-tokenizer failed at byte %zu: %s", pos, (const char *)msg);
        } else {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
            b = ov[0], e = ov[1];
        }
        /* bytes the pattern skipped (invalid UTF-8) form a piece of their own */
        if (b > pos) {
            if (fn(ctx, pos, b)) return ttt_err(TTT_ERR_NOMEM, "out of memory while encoding");
            pos = b;
        }
        if (pos >= len || pos >= stop) break; /* a piece starting at stop belongs to the next segment */
        if (e == b) { /* an empty match cannot happen with the built-in patterns; be safe */
            e = b + 1;
            while (e < len && ((unsigned char)text[e] & 0xC0) == 0x80) e++;
        }
        if (fn(ctx, b, e)) return ttt_err(TTT_ERR_NOMEM, "out of memory while encoding");
        pos = e;
    }
    *end = pos;
    return TTT_OK;
}
