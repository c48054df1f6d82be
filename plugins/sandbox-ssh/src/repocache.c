/*
 * The repository cache: one bare mirror per repository URL per host, at
 * <root>/.agentd-cache/<hash of the URL>.git. The first session for a
 * repository fills it (git clone --mirror); later ones fetch into it. A
 * workspace is then a local clone of the mirror with --shared (the mirror
 * is its --reference: objects are borrowed through git alternates), so a
 * session starts without copying the history and without asking the
 * remote again; its `origin` is then set back to the real URL. The
 * mirror is updated under flock(1), so concurrent sessions of the same
 * repository on one host do not race; the workspaces are independent.
 */
#include "ssh.h"

void ssh_script_repo_checkout(ssh_str_t *b, const ssh_host_t *h, const char *url,
                              const char *workspace)
{
    char hash[17];
    ssh_hash_hex(url, hash);
    ssh_str_add(b, "c=");
    ssh_str_quote(b, h->root);
    ssh_str_addf(b, "/.agentd-cache\nm=\"$c/%s.git\"\nu=", hash);
    ssh_str_quote(b, url);
    ssh_str_add(b, "\nw=");
    ssh_str_quote(b, workspace);
    ssh_str_add(b,
                "\nmkdir -p \"$c\"\n"
                "(\n"
                "  flock 9\n"
                "  if [ -d \"$m\" ]; then\n"
                "    git -C \"$m\" fetch --quiet --prune origin >&2\n"
                "    echo agentd-cache=hit\n"
                "  else\n"
                "    rm -rf \"$m.tmp\"\n"
                "    git clone --quiet --mirror -- \"$u\" \"$m.tmp\" >&2\n"
                "    mv \"$m.tmp\" \"$m\"\n"
                "    echo agentd-cache=miss\n"
                "  fi\n"
                ") 9>\"$m.lock\"\n"
                "git clone --quiet --shared -- \"$m\" \"$w\" >&2\n"
                "git -C \"$w\" remote set-url origin \"$u\"\n");
}
