/* args.c: flag parsing (see args.h). */
#include "cli/args.h"

#include "core/error.h"
#include "core/parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int find(const args *a, const char *name, size_t len) {
    for (int i = 0; a->spec[i].name; i++)
        if (strlen(a->spec[i].name) == len && strncmp(a->spec[i].name, name, len) == 0) return i;
    return -1;
}

int args_parse(args *a, const char *cmd, const flag_spec *spec, int argc, char **argv) {
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    a->spec = spec;
    int nspec = 0;
    while (spec[nspec].name) nspec++;
    TTT_ASSERT(nspec <= ARGS_MAX);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0) {
            a->help = 1;
            continue;
        }
        if (strncmp(s, "--", 2) != 0) {
            fprintf(stderr, "ttt %s: unexpected argument '%s' (flags start with --; see 'ttt %s --help')\n",
                    cmd, s, cmd);
            return 2;
        }
        const char *name = s + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        int k = find(a, name, len);
        if (k < 0) {
            fprintf(stderr, "ttt %s: unknown flag '--%.*s' (see 'ttt %s --help')\n", cmd, (int)len,
                    name, cmd);
            return 2;
        }
        if (spec[k].takes_value) {
            if (eq) {
                a->values[k] = eq + 1;
            } else if (i + 1 < argc) {
                a->values[k] = argv[++i];
            } else {
                fprintf(stderr, "ttt %s: flag '--%s' needs a value\n", cmd, spec[k].name);
                return 2;
            }
        } else if (eq) {
            fprintf(stderr, "ttt %s: flag '--%s' takes no value\n", cmd, spec[k].name);
            return 2;
        }
        a->set[k] = 1;
    }
    return 0;
}

int args_has(const args *a, const char *name) {
    int k = find(a, name, strlen(name));
    return k >= 0 && a->set[k];
}

const char *args_str(const args *a, const char *name, const char *def) {
    int k = find(a, name, strlen(name));
    return k >= 0 && a->set[k] ? a->values[k] : def;
}

int args_int(const args *a, const char *name, int64_t def, int64_t lo, int64_t hi, int64_t *out) {
    const char *v = args_str(a, name, NULL);
    if (!v) {
        *out = def;
        return 0;
    }
    int64_t x;
    if (!ttt_parse_i64_ok(v, lo, hi, &x)) {
        fprintf(stderr, "ttt %s: --%s must be an integer in [%lld, %lld], got '%s'\n", a->cmd, name,
                (long long)lo, (long long)hi, v);
        return 2;
    }
    *out = x;
    return 0;
}

int args_double(const args *a, const char *name, double def, double *out) {
    const char *v = args_str(a, name, NULL);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x)) {
        fprintf(stderr, "ttt %s: --%s must be a finite number, got '%s'\n", a->cmd, name, v);
        return 2;
    }
    *out = x;
    return 0;
}

int args_require(const args *a, const char *name) {
    if (args_str(a, name, NULL)) return 0;
    fprintf(stderr, "ttt %s: missing required flag --%s (see 'ttt %s --help')\n", a->cmd, name, a->cmd);
    return 2;
}
