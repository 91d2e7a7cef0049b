/* text_stream.c: printing generated text as it is produced without breaking UTF-8
 * characters and without printing the beginning of a stop string (see ttt_generate.h). */
#include <stdlib.h>
#include <string.h>

#include "ttt_generate.h"

void ttt_text_stream_init(ttt_text_stream *ts, const char *stop) {
    memset(ts, 0, sizeof *ts);
    ts->stop = stop && stop[0] ? stop : NULL;
}

void ttt_text_stream_free(ttt_text_stream *ts) {
    free(ts->text);
    memset(ts, 0, sizeof *ts);
}

/* length of the longest prefix of s[0..n) that ends on a UTF-8 character boundary
 * (an incomplete multi-byte sequence at the end is held back; invalid bytes pass) */
static size_t utf8_complete(const unsigned char *s, size_t n) {
    size_t i = n, back = 0;
    while (i > 0 && back < 4 && (s[i - 1] & 0xC0) == 0x80) i--, back++;
    if (i == 0) return n;
    unsigned char c = s[i - 1];
    size_t need = c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (c < 0x80) return n;
    return back + 1 >= need ? n : i - 1;
}

size_t ttt_text_stream_update(ttt_text_stream *ts, const char *text, size_t len, int final, size_t *from) {
    if (len + 1 > ts->cap) {
        size_t nc = (len + 1) * 2;
        char *t = realloc(ts->text, nc);
        if (!t) return 0;
        ts->text = t;
        ts->cap = nc;
    }
    if (len) memmove(ts->text, text, len); /* TEXT may be ts->text itself (the final flush) */
    ts->text[len] = 0;
    ts->len = len;
    size_t ready = len;
    if (ts->stop) {
        const char *hit = strstr(ts->text, ts->stop);
        if (hit) {
            ts->stopped = 1;
            ts->len = ready = (size_t)(hit - ts->text);
            ts->text[ready] = 0;
            final = 1;
        } else if (!final) { /* hold back what could still be the start of the stop string */
            size_t sl = strlen(ts->stop);
            for (size_t k = sl - 1; k > 0; k--)
                if (len >= k && memcmp(ts->text + len - k, ts->stop, k) == 0) {
                    ready = len - k;
                    break;
                }
        }
    }
    if (!final) ready = utf8_complete((const unsigned char *)ts->text, ready);
    if (ready < ts->emitted) ready = ts->emitted;
    *from = ts->emitted;
    size_t n = ready - ts->emitted;
    ts->emitted = ready;
    return n;
}
