/* line_input.c — the lines `vkagent chat` reads: libedit's readline
 * interface on a terminal (editing keys, a history kept between runs),
 * getline otherwise, so that pipes and tests see no escape sequences. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <editline/readline.h>

#include "line_input.h"

#define HISTORY_LINES 1000

struct cli_line_input {
    bool interactive;
    char *prompt;
    char *line;    /* the last line read (readline's or getline's buffer) */
    size_t cap;    /* getline's buffer size */
    char *history; /* the history file, or NULL */
};

char *cli_history_path(void) {
    const char *env = getenv("VKAGENT_HISTORY");
    if (env) return *env ? strdup(env) : NULL;
    char *path = NULL;
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    if (state && *state) {
        if (asprintf(&path, "%s/vkagent/history", state) < 0) path = NULL;
    } else if (home && *home) {
        if (asprintf(&path, "%s/.vkagent_history", home) < 0) path = NULL;
    }
    return path;
}

cli_line_input *cli_line_input_open(const char *prompt) {
    cli_line_input *in = calloc(1, sizeof *in);
    if (!in || !(in->prompt = strdup(prompt))) {
        free(in);
        return NULL;
    }
    in->interactive = isatty(STDIN_FILENO);
    if (!in->interactive) return in;
    rl_outstream = stderr; /* the prompt is not part of the replies on stdout */
    using_history();
    stifle_history(HISTORY_LINES);
    in->history = cli_history_path();
    if (in->history) read_history(in->history); /* none yet is fine */
    return in;
}

/* Drops the line end ("\n" or "\r\n"). */
static void chomp(char *line) {
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
}

/* The history may hold private text: only its owner reads it. */
static void save_history(const char *path) {
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        char *dir = strndup(path, (size_t)(slash - path));
        if (dir) mkdir(dir, 0700); /* $XDG_STATE_HOME/vkagent; already there is fine */
        free(dir);
    }
    int fd = open(path, O_WRONLY | O_CREAT, 0600); /* a new file is private from the start */
    if (fd >= 0) close(fd);
    if (write_history(path) != 0) return;
    history_truncate_file(path, HISTORY_LINES);
    chmod(path, 0600);
}

const char *cli_line_input_read(cli_line_input *in) {
    if (!in->interactive) {
        if (getline(&in->line, &in->cap, stdin) < 0) return NULL;
        chomp(in->line);
        return in->line;
    }
    free(in->line);
    in->line = readline(in->prompt);
    if (!in->line) {
        fputc('\n', stderr); /* Ctrl-D: the shell's prompt on a line of its own */
        return NULL;
    }
    chomp(in->line);
    if (*in->line) {
        add_history(in->line);
        /* saved at once: Ctrl-C at the prompt ends the process without a goodbye */
        if (in->history) save_history(in->history);
    }
    return in->line;
}

bool cli_line_input_interactive(const cli_line_input *in) { return in->interactive; }

void cli_line_input_close(cli_line_input *in) {
    if (!in) return;
    free(in->history);
    free(in->line);
    free(in->prompt);
    free(in);
}
