/*
 * sandbox-ssh benchmark: how long from "create a sandbox" to the agent
 * process running on a remote host (first byte of its stdout), with a cold
 * connection (a fresh plugin: private agent, SSH handshake, authentication)
 * and with a pooled one (a channel on the host's ControlMaster); and how a
 * sandbox whose workspace is a repository starts from the host's
 * repository cache (fetch into the mirror, clone --reference) compared with
 * a full clone.
 *
 * It loads the plugin through the host's own registry and calls it through
 * the host API, as the daemon does. The hosts, keys and repository come
 * from bench/sandbox_ssh_bench.py, which starts a real sshd on loopback and
 * runs this program:
 *
 *   sandbox_ssh_bench RUNS CONFIG_WITH_CACHE CONFIG_WITHOUT_CACHE
 *
 * Both configs have the profiles "plain" (empty workspace) and "repo"
 * (the repository); the second one sets repo_cache=false.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "config/config.h"
#include "sandbox_start.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while (m != NULL && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(f);
    if (m != NULL)
        fclose(m);
    return buf;
}

/* `runs` sandboxes one after the other on one plugin instance; the first
 * `skip` are not counted (they warm the pool or the cache). */
static int time_runs(const char *config, const char *profile, int skip, int runs,
                     double *out, double *first)
{
    bench_sandbox_t *b = calloc(1, sizeof *b);
    if (b == NULL || bench_sandbox_open(b, config, profile) != 0)
        return free(b), -1;
    snprintf(b->workspace, sizeof b->workspace, "/tmp/ssh-bench-ws-%d", (int)getpid());
    b->runs = skip + runs;
    b->to_running = calloc((size_t)b->runs, sizeof(double));
    int ok = b->to_running != NULL && bench_sandbox_run(b) == 0;
    if (ok) {
        memcpy(out, b->to_running + skip, (size_t)runs * sizeof(double));
        if (first != NULL)
            *first = b->to_running[0];
    }
    free(b->to_running);
    bench_sandbox_close(b, 10000);
    free(b);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 0;
    char *with = argc > 2 ? slurp(argv[2]) : NULL;
    char *without = argc > 3 ? slurp(argv[3]) : NULL;
    if (runs < 1 || with == NULL || without == NULL) {
        fprintf(stderr, "usage: %s RUNS CONFIG_WITH_CACHE CONFIG_WITHOUT_CACHE\n"
                        "  (run by bench/sandbox_ssh_bench.py, which starts sshd)\n", argv[0]);
        return 2;
    }
    int cold_n = runs < 10 ? runs : 10, clone_n = runs < 10 ? runs : 10;
    double *v = calloc((size_t)runs + 1, sizeof(double));
    double *cold = calloc((size_t)cold_n, sizeof(double));
    double first = 0, pooled, cached, full, cold_median;
    int rc = v == NULL || cold == NULL ? -1 : 0;
    printf("sandbox-ssh: create -> agent process running on the host (first byte of its "
           "stdout)\n");
    /* Cold: every run is a fresh plugin (its agent, a new SSH connection). */
    for (int i = 0; rc == 0 && i < cold_n; i++)
        rc = time_runs(with, "plain", 0, 1, &cold[i], NULL);
    if (rc == 0)
        cold_median = bench_report("cold connection (agent, handshake, auth)", cold, cold_n);
    if (rc == 0)
        rc = time_runs(with, "plain", 1, runs, v, NULL);
    if (rc == 0) {
        pooled = bench_report("pooled connection (ControlMaster)", v, runs);
        printf("  -> pooled: %s the 50 ms target; %.1fx faster than cold\n",
               pooled < 50.0 ? "meets" : "MISSES", cold_median / pooled);
    }
    printf("repository workspace (the repository from bench/sandbox_ssh_bench.py):\n");
    if (rc == 0)
        rc = time_runs(with, "repo", 1, runs, v, &first);
    if (rc == 0) {
        printf("  %-44s %8.2f ms\n", "first sandbox (fills the host's mirror)", first);
        cached = bench_report("cached (fetch into mirror, clone --shared)", v, runs);
        rc = time_runs(without, "repo", 0, clone_n, v, NULL);
        if (rc == 0) {
            full = bench_report("full clone (repo_cache=false)", v, clone_n);
            printf("  -> cached start is %.1fx faster than a full clone (target: >= 10x): "
                   "%s\n", full / cached, full / cached >= 10.0 ? "meets" : "MISSES");
        }
    }
    free(v);
    free(cold);
    free(with);
    free(without);
    char ws[64];
    snprintf(ws, sizeof ws, "/tmp/ssh-bench-ws-%d", (int)getpid());
    rmdir(ws);
    return rc == 0 ? 0 : 1;
}
