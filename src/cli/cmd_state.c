/* cmd_state.c: `ttt info --state FILE [--model DIR]`: the format, family, precision, batch,
 * position, model identity and tensors of a state file (ttt_state_describe) and, with a model,
 * whether the state loads into it; `ttt info --state-size N,...` the size of a state at each
 * context length, from the configuration alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_state.h"
#include "cli/commands.h"
#include "core/parse.h"
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

int cmd_info_state_size(const char *list, const char *model_dir, const char *preset) {
    if (!model_dir == !preset) {
        fprintf(stderr, "ttt info: --state-size needs exactly one of --model DIR and --preset NAME\n");
        return 2;
    }
    ttt_config cfg;
    if ((preset ? ttt_config_preset(preset, &cfg) : TTT_OK) != TTT_OK) return cli_fail("info");
    if (model_dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/config.json", model_dir);
        if (ttt_config_load(path, &cfg) != TTT_OK) return cli_fail("info");
    }
    printf("state of one sequence, float32 (%s):\n", preset ? preset : model_dir);
    char *dup = strdup(list), *save = NULL;
    if (!dup) return cli_fail("info");
    int rc = 0, any = 0;
    for (char *tok = strtok_r(dup, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        int64_t n;
        uint64_t bytes;
        if (!ttt_parse_i64_ok(tok, 1, (int64_t)1 << 40, &n)) {
            fprintf(stderr, "ttt info: --state-size: '%s' is not a context length (an integer in [1, 2^40])\n", tok);
            rc = 2;
        } else if (ttt_state_bytes(&cfg, 1, n, &bytes) != TTT_OK) {
            rc = cli_fail("info");
        } else {
            int64_t limit = ttt_config_max_context(&cfg);
            printf("  context %8lld: %12llu bytes (%8.2f MiB) of cache tensors; ttt generate adds %lld bytes of "
                   "token ids, logits and random stream%s\n",
                   (long long)n, (unsigned long long)bytes, (double)bytes / 1048576.0,
                   (long long)(4 * n + 4 * ttt_config_vocab_rows(&cfg) + 32),
                   limit > 0 && n > limit ? " (past the model's context limit)" : "");
            any = 1;
        }
    }
    free(dup);
    if (!any && rc == 0) {
        fprintf(stderr, "ttt info: --state-size: give context lengths, e.g. 100,8192\n");
        rc = 2;
    }
    return rc;
}
