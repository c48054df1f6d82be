#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

int host_buf_append(host_buf_t *b, const void *bytes, size_t n, size_t initial)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : (initial ? initial : 64);
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, n);
    b->len += n;
    return 0;
}
