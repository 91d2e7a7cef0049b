/* commands.h: the subcommands of the ttt tool; each returns the process exit status. */
#ifndef TTT_CLI_COMMANDS_H
#define TTT_CLI_COMMANDS_H

int cmd_init(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_tokenizer(int argc, char **argv);
int cmd_synth(int argc, char **argv);

/* print "ttt CMD: <library error message>" and return 1 */
int cli_fail(const char *cmd);
/* wall clock in seconds */
double cli_now(void);

#endif
