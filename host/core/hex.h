/* Hex digits, for the parsers that decode escapes (JSON \u, shell $'\x',
 * URL %XX, hex keys). Thread: any. */
#ifndef AGENTD_HOST_HEX_H
#define AGENTD_HOST_HEX_H

/* The value 0..15 of a hex digit (either case), or -1. */
static inline int host_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
