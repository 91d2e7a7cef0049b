/* cmd_state.c: `ttt info --state FILE [--model DIR]`: the format, family, precision, batch,
 * position, model identity and tensors of a state file (ttt_state_describe) and, with a model,
 * whether the state loads into it. */
#include <stdio.h>

#include "cli/cmd_state.h"
#include "cli/commands.h"
#include "ttt.h"
#include "ttt_state.h"

int cmd_info_state(const char *path, const char *model_dir) {
    if (ttt_state_describe(path, stdout) != TTT_OK) return cli_fail("info");
    if (!model_dir) return 0;
    ttt_model *m;
    if (ttt_model_load(model_dir, NULL, &m) != TTT_OK) return cli_fail("info");
    ttt_cache *c;
    ttt_state_extra x;
    int rc = 0;
    if (ttt_cache_load_ex(m, path, &c, &x) != TTT_OK) {
        printf("  loads into %s: no\n", model_dir);
        rc = cli_fail("info");
    } else {
        printf("  loads into %s: yes (cache of %.2f MiB in memory)\n", model_dir, (double)ttt_cache_bytes(c) / 1048576.0);
        ttt_cache_free(c);
        ttt_state_extra_free(&x);
    }
    ttt_model_free(m);
    return rc;
}
