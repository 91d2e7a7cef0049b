/* model_flags.h: the model-configuration flags that `ttt init` and `ttt train --preset` share
 * (a preset plus overrides of its sizes and options), parsed in one place so that the two
 * commands accept the same model flags with the same meaning. The flags are those every
 * family has (--layers, --width, --tied/--untied) and those each registered family lists
 * (model/family.h); one that the preset's family does not list is an error. */
#ifndef TTT_CLI_MODEL_FLAGS_H
#define TTT_CLI_MODEL_FLAGS_H

#include <stdio.h>

#include "cli/args.h"
#include "ttt.h"

/* out[0..cap) = the model flags (of every family), then the command's own flags `own`
 * (NULL-terminated); returns out */
const flag_spec *model_flags_spec(flag_spec *out, int cap, const flag_spec *own);

/* the help lines of those flags (after the command's own usage lines) */
void model_flags_help(FILE *fp);

/* the first model flag other than --preset that `a` has, or NULL */
const char *model_flag_given(const args *a);

/* cfg = the preset named by --preset with the overrides applied. 0 on success; on an unknown
 * preset or a bad value prints "ttt CMD: ..." and returns nonzero (the command's exit status). */
int model_config_from_flags(const args *a, const char *cmd, ttt_config *cfg);

#endif
