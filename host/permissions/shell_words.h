/*
 * A shell-word splitter for the permission engine: turns a Bash command line
 * into the simple commands it would run, each as its words (quotes removed,
 * escapes applied) and its redirections.
 *
 * It understands what POSIX sh and Bash use to run more than one command or
 * to hide one: ; & && || | |& and newlines, ( subshells ) and { groups },
 * $( ) and backtick substitutions, <( ) >( ) process substitutions, single
 * and double quotes, $'...' ANSI-C quotes, backslash escapes and line
 * continuations, comments, here-documents and here-strings.
 *
 * Commands inside substitutions are returned as commands of their own (with
 * a greater depth); the word that held the substitution is marked dynamic,
 * like any word holding a parameter expansion ($X, ${X}, $1) or a brace
 * expansion: its value is not known before the shell runs it.
 *
 * What the splitter cannot read with certainty (an unterminated quote, a
 * case statement, a function definition, arithmetic holding a substitution,
 * input over the limits below) sets `unknown` with a reason; the caller must
 * then never approve the command. The commands read before that point are
 * still returned, so a deny rule can still match them.
 *
 * Thread: any. No global state. Ownership: the list owns everything in it.
 */
#ifndef AGENTD_HOST_PERMISSIONS_SHELL_WORDS_H
#define AGENTD_HOST_PERMISSIONS_SHELL_WORDS_H

#include <stddef.h>

#define HOST_SH_MAX_LEN 16384u   /* bytes of one command line */
#define HOST_SH_MAX_DEPTH 8      /* nested substitutions, subshells, bash -c */
#define HOST_SH_MAX_CMDS 256u    /* simple commands in one line */
#define HOST_SH_MAX_WORDS 1024u  /* words (and redirections) in one command */

enum {
    HOST_SH_W_DYNAMIC = 1u, /* holds an expansion or substitution */
    HOST_SH_W_QUOTED = 2u,  /* some part was quoted or escaped */
    HOST_SH_W_GLOB = 4u     /* an unquoted * ? or [ */
};

typedef struct host_sh_word {
    char *text;       /* quotes removed; expansions kept as written */
    unsigned flags;
} host_sh_word_t;

typedef enum host_sh_redir_op {
    HOST_SH_R_READ,       /* < */
    HOST_SH_R_WRITE,      /* > >| >> &> &>> <> >&file */
    HOST_SH_R_DUP,        /* >&2 <&0 >&- */
    HOST_SH_R_HEREDOC,    /* << <<- (target: the delimiter) */
    HOST_SH_R_HERESTRING  /* <<< */
} host_sh_redir_op_t;

typedef struct host_sh_redir {
    host_sh_redir_op_t op;
    host_sh_word_t target;
} host_sh_redir_t;

typedef struct host_sh_cmd {
    host_sh_word_t *words;
    size_t nwords, capw;
    host_sh_redir_t *redirs;
    size_t nredirs, capr;
    int depth;
} host_sh_cmd_t;

typedef struct host_sh_list {
    host_sh_cmd_t *cmds;
    size_t n, cap;
    int unknown;        /* something could not be read with certainty */
    char why[128];      /* the first such thing */
} host_sh_list_t;

/* Splits src[0..len) and appends its commands to *out (zero it before the
 * first call; several calls may append to one list). depth is the nesting
 * depth of src itself (0 for a tool's command). Returns 0, or AGENTD_ENOMEM
 * (the list then holds what was read and must still be freed). */
int host_sh_split(const char *src, size_t len, int depth, host_sh_list_t *out);

void host_sh_list_free(host_sh_list_t *list);

#endif /* AGENTD_HOST_PERMISSIONS_SHELL_WORDS_H */
