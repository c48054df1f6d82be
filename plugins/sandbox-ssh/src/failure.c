/*
 * What an ssh failure means, and how long to wait before trying again.
 * OpenSSH's messages are stable across releases (they are what operators
 * search for): a refused host key or authentication is final, never retried;
 * anything else (refused port, timeout, reset) is a connection failure,
 * retried with exponential backoff.
 */
#include "ssh.h"

#include <stdio.h>
#include <string.h>

int ssh_classify_refusal(const char *msg, char *why, size_t why_len)
{
    if (strstr(msg, "REMOTE HOST IDENTIFICATION HAS CHANGED") != NULL ||
        strstr(msg, "Host key for") != NULL) {
        snprintf(why, why_len, "its host key has changed (it differs from known_hosts): "
                               "refused");
        return 1;
    }
    if (strstr(msg, "host key is known") != NULL ||
        strstr(msg, "Host key verification failed") != NULL) {
        snprintf(why, why_len, "its host key is not in known_hosts: refused (add it, or set "
                               "trust_on_first_use)");
        return 1;
    }
    if (strstr(msg, "Permission denied") != NULL ||
        strstr(msg, "Too many authentication failures") != NULL) {
        snprintf(why, why_len, "authentication was refused (the key is not authorized for "
                               "this user)");
        return 1;
    }
    return 0;
}

uint64_t ssh_backoff_ms(const ssh_plugin_t *pl, unsigned attempt)
{
    uint64_t ms = pl->backoff_base_ms;
    for (unsigned i = 1; i < attempt && ms < pl->backoff_max_ms; i++)
        ms *= 2;
    return ms < pl->backoff_max_ms ? ms : pl->backoff_max_ms;
}

