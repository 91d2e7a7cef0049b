/* cmd_state.h: `ttt info --state FILE [--model DIR]` (cmd_state.c), what a state file holds. */
#ifndef TTT_CLI_CMD_STATE_H
#define TTT_CLI_CMD_STATE_H

/* describe the state file PATH; with MODEL_DIR (nullable) also whether it loads into that
 * model (the refusal's reason when not). Returns the exit status. */
int cmd_info_state(const char *path, const char *model_dir);

/* `ttt info --state-size N[,N...] (--model DIR | --preset NAME)`: the bytes of a state at each
 * context length N (one sequence, float32). Returns the exit status. */
int cmd_info_state_size(const char *list, const char *model_dir, const char *preset);

#endif
