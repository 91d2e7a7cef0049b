/* error.h: status codes with a per-thread message, and the assertion used for programmer bugs.
 * Library code reports everything a user or a file can cause through ttt_err(); only broken
 * internal invariants abort, with file:line and the failed expression. */
#ifndef TTT_CORE_ERROR_H
#define TTT_CORE_ERROR_H

#include "ttt.h"

/* Record a formatted message for ttt_last_error() and return code. */
ttt_status ttt_err(ttt_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ttt_clear_error(void);

_Noreturn void ttt_panic(const char *file, int line, const char *expr);
#define TTT_ASSERT(cond) \
    do { \
        if (!(cond)) ttt_panic(__FILE__, __LINE__, #cond); \
    } while (0)

/* Propagate a failing status. */
#define TRY(expr) \
    do { \
        ttt_status try_status_ = (expr); \
        if (try_status_ != TTT_OK) return try_status_; \
    } while (0)

#endif
