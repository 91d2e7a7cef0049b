/* error.c: per-thread error message storage and the panic handler for internal bugs. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char err_msg[2048];

ttt_status ttt_err(ttt_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    va_end(ap);
    return code;
}

void ttt_clear_error(void) { err_msg[0] = 0; }

const char *ttt_last_error(void) { return err_msg; }

void ttt_panic(const char *file, int line, const char *expr) {
    fprintf(stderr, "ttt: internal error at %s:%d: assertion failed: %s\n", file, line, expr);
    abort();
}
