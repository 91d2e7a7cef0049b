/* args.h: command-line flag parsing for the ttt subcommands: "--name value", "--name=value"
 * and boolean "--name"; unknown flags, missing values and malformed numbers are errors that
 * name the flag and what was expected. */
#ifndef TTT_CLI_ARGS_H
#define TTT_CLI_ARGS_H

#include <stdint.h>

typedef struct {
    const char *name;  /* without the leading dashes */
    int takes_value;
} flag_spec;

#define ARGS_MAX 128 /* flags a command may have */

typedef struct {
    const char *cmd;
    const flag_spec *spec;
    const char *values[ARGS_MAX];
    int set[ARGS_MAX];
    int help;
} args;

/* 0 on success; on error prints "ttt CMD: message" and returns 2 */
int args_parse(args *a, const char *cmd, const flag_spec *spec, int argc, char **argv);
int args_has(const args *a, const char *name);
const char *args_str(const args *a, const char *name, const char *def);
/* parse helpers: on error print and return nonzero */
int args_int(const args *a, const char *name, int64_t def, int64_t lo, int64_t hi, int64_t *out);
int args_double(const args *a, const char *name, double def, double *out);
int args_require(const args *a, const char *name);

#endif
