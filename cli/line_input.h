/* line_input.h — the lines `vkagent chat` reads: line editing with history
 * (libedit) when standard input is a terminal, plain reads otherwise (pipes,
 * tests). */
#ifndef VKA_CLI_LINE_INPUT_H
#define VKA_CLI_LINE_INPUT_H

#include <stdbool.h>

typedef struct cli_line_input cli_line_input;

/* Opens the reader; `prompt` is shown before each line on a terminal. On a
 * terminal the history is read from cli_history_path() (if any). NULL when
 * out of memory. */
cli_line_input *cli_line_input_open(const char *prompt);

/* The next line without its line end, or NULL at the end of input. Valid
 * until the next call. On a terminal, non-empty lines enter the history,
 * which is saved at once. */
const char *cli_line_input_read(cli_line_input *in);

/* Whether lines come from a terminal (with editing and history). */
bool cli_line_input_interactive(const cli_line_input *in);

/* Frees the reader. */
void cli_line_input_close(cli_line_input *in);

/* Where the history lives: $VKAGENT_HISTORY (empty: no history), else
 * $XDG_STATE_HOME/vkagent/history when XDG_STATE_HOME is set, else
 * ~/.vkagent_history. Malloc'ed; NULL when there is none. */
char *cli_history_path(void);

#endif
