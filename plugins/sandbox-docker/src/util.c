/* Small string helpers shared by the plugin's files. */
#define _GNU_SOURCE
#include "dk.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int dk_valid_id(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > 100)
        return 0;
    for (const char *p = id; *p != '\0'; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-')
            return 0;
    return 1;
}

char *dk_strdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

char **dk_strv_dup(const char *const *v)
{
    return dk_strv_concat(NULL, v);
}

char **dk_strv_concat(char **a, const char *const *b)
{
    size_t na = 0, nb = 0;
    while (a != NULL && a[na] != NULL)
        na++;
    while (b != NULL && b[nb] != NULL)
        nb++;
    char **v = realloc(a, (na + nb + 1) * sizeof *v);
    if (v == NULL) {
        dk_strv_free(a, 1);
        return NULL;
    }
    v[na] = NULL;
    for (size_t i = 0; i < nb; i++) {
        if ((v[na + i] = strdup(b[i])) == NULL) {
            dk_strv_free(v, 1);
            return NULL;
        }
        v[na + i + 1] = NULL;
    }
    return v;
}

void dk_strv_free(char **v, int wipe)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++) {
        if (wipe) /* environments may hold secret values */
            explicit_bzero(v[i], strlen(v[i]));
        free(v[i]);
    }
    free(v);
}

void dk_urlencode(const char *s, char *buf, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s != '\0' && o + 4 < len; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            buf[o++] = (char)ch;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[ch >> 4];
            buf[o++] = hex[ch & 15];
        }
    }
    buf[o] = '\0';
}

const char *dk_field_of(const char *m)
{
    static const struct {
        const char *word, *field;
    } map[] = {{"CPU", "cpus"},        {"cpu", "cpus"},          {"emory", "memory_mb"},
               {"pids", "pids_max"},   {"PidsLimit", "pids_max"}, {"network", "network_mode"},
               {"seccomp", "seccomp_profile"}, {"user", "user"}, {"mount", "mounts"},
               {"bind", "mounts"},     {"tmpfs", "tmp_mb"},      {"image", "image"}};
    for (size_t i = 0; m != NULL && i < sizeof map / sizeof *map; i++)
        if (strstr(m, map[i].word) != NULL)
            return map[i].field;
    return NULL;
}
