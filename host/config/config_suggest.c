/*
 * "did you mean": the known key nearest to an unknown one, by optimal string
 * alignment distance (Damerau-Levenshtein where a transposition counts as
 * one edit: "listne" -> "listen" is 1), ASCII case folded. Suggested only
 * when the distance is small for the candidate's length.
 */
#include "config/config_internal.h"

#include <stdlib.h>
#include <string.h>

static unsigned char fold(char ch)
{
    unsigned char u = (unsigned char)ch;
    return u >= 'A' && u <= 'Z' ? (unsigned char)(u - 'A' + 'a') : u;
}

static size_t min3(size_t a, size_t b, size_t c)
{
    size_t m = a < b ? a : b;
    return m < c ? m : c;
}

size_t cfg_edit_distance(const char *a, size_t alen, const char *b, size_t blen, size_t max)
{
    if (alen < blen) {
        const char *t = a;
        a = b;
        b = t;
        size_t tl = alen;
        alen = blen;
        blen = tl;
    }
    /* Now alen >= blen. */
    if (alen - blen > max)
        return max + 1;
    if (blen == 0)
        return alen;

    size_t *rows = malloc(3 * (blen + 1) * sizeof *rows);
    if (rows == NULL)
        return max + 1;
    size_t *prev2 = rows, *prev = rows + (blen + 1), *cur = rows + 2 * (blen + 1);
    for (size_t j = 0; j <= blen; j++)
        prev[j] = j;
    size_t result = max + 1;
    for (size_t i = 1; i <= alen; i++) {
        cur[0] = i;
        size_t row_min = cur[0];
        for (size_t j = 1; j <= blen; j++) {
            size_t cost = fold(a[i - 1]) == fold(b[j - 1]) ? 0 : 1;
            size_t v = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) &&
                fold(a[i - 2]) == fold(b[j - 1]) && prev2[j - 2] + 1 < v)
                v = prev2[j - 2] + 1;
            cur[j] = v;
            if (v < row_min)
                row_min = v;
        }
        if (row_min > max)
            goto out; /* every path is already too long */
        size_t *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    result = prev[blen] <= max ? prev[blen] : max + 1;
out:
    free(rows);
    return result;
}

const char *cfg_suggest(const char *key, size_t key_len, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    if (key == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *cand = cands[i];
        if (cand == NULL)
            continue;
        size_t clen = strlen(cand);
        size_t max = clen <= 4 ? 1 : clen <= 8 ? 2 : 3;
        /* Never "fix" a short key into a long one or the other way round. */
        if (key_len <= 2 && clen > 3)
            continue;
        size_t d = cfg_edit_distance(key, key_len, cand, clen, max);
        if (d <= max && d < best_d) {
            best = cand;
            best_d = d;
        }
    }
    if (best != NULL)
        return best;
    /* "warning" for "warn", "session_timeout" for "session_timeout_minutes":
     * one candidate that the key starts, or that starts the key. */
    size_t matches = 0;
    for (size_t i = 0; i < n; i++) {
        const char *cand = cands[i];
        if (cand == NULL)
            continue;
        size_t clen = strlen(cand);
        size_t shorter = clen < key_len ? clen : key_len;
        if (shorter < 4 || clen == key_len)
            continue;
        int prefix = 1;
        for (size_t j = 0; j < shorter && prefix; j++)
            prefix = fold(cand[j]) == fold(key[j]);
        if (prefix) {
            best = cand;
            matches++;
        }
    }
    return matches == 1 ? best : NULL;
}
