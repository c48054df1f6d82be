/*
 * Placement: among the enabled hosts the profile allows that carry every
 * label it asks for and have a free slot, the least loaded (load divided by
 * capacity; ties: the larger free capacity, then configuration order).
 * Hosts that are up or not yet connected (connected on demand) come before
 * hosts whose last connection failed; refused hosts (host key,
 * authentication) are never chosen.
 */
#include "ssh.h"

#include <stdio.h>
#include <string.h>

static int has(char *const *list, const char *s)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

static int allowed(const ssh_host_t *h, const ssh_profile_t *prof)
{
    if (!h->enabled)
        return 0;
    if (prof->hosts != NULL && prof->hosts[0] != NULL && !has(prof->hosts, h->name))
        return 0;
    for (size_t i = 0; prof->labels != NULL && prof->labels[i] != NULL; i++)
        if (!has(h->labels, prof->labels[i]))
            return 0;
    return 1;
}

/* Is a less loaded than b? Compares load/capacity without division. */
static int less_loaded(const ssh_host_t *a, const ssh_host_t *b)
{
    uint64_t la = (uint64_t)a->load * b->capacity, lb = (uint64_t)b->load * a->capacity;
    if (la != lb)
        return la < lb;
    return a->capacity - a->load > b->capacity - b->load;
}

ssh_host_t *ssh_place(ssh_plugin_t *pl, const ssh_profile_t *prof, uint64_t skip, char *msg,
                      size_t msg_len)
{
    ssh_host_t *best = NULL;
    size_t candidates = 0, full = 0, refused = 0;
    for (size_t i = 0; i < pl->nhosts; i++) {
        ssh_host_t *h = pl->hosts[i];
        if (!allowed(h, prof))
            continue;
        candidates++;
        if (h->state == SSH_HOST_REFUSED) {
            refused++;
            continue;
        }
        if (h->load >= h->capacity) {
            full++;
            continue;
        }
        if (i < 64 && (skip & (1ull << i)))
            continue;
        int up = h->reason[0] == '\0', best_up = best != NULL && best->reason[0] == '\0';
        if (best == NULL || (up && !best_up) || (up == best_up && less_loaded(h, best)))
            best = h;
    }
    if (best == NULL) {
        if (candidates == 0)
            snprintf(msg, msg_len, "no enabled host matches the profile (hosts and labels)");
        else if (full + refused == candidates && full > 0)
            snprintf(msg, msg_len, "every matching host is at capacity (%zu full, %zu refused)",
                     full, refused);
        else if (refused == candidates)
            snprintf(msg, msg_len, "every matching host was refused (host key or "
                                   "authentication): see the log");
        else
            snprintf(msg, msg_len, "no matching host could be reached");
    }
    return best;
}
