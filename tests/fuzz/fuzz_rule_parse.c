/* libFuzzer target: the rule grammar, then matching with what parsed, and
 * the glob matcher with the input as a pattern. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "permissions/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const words[] = {"git", "log", "--oneline", "x"};
    static const char *const tools[] = {"Bash", "Edit", "Write", "Read", "Grep",
                                        "WebFetch", "mcp__s__t", "Other"};
    char why[160];
    host_rule_t r;
    if (host_rule_parse((const char *)data, size, &r, why, sizeof why) == 0) {
        if (r.text == NULL || r.tool == NULL)
            abort();
        for (size_t i = 0; i < sizeof tools / sizeof tools[0]; i++)
            (void)host_rule_names_tool(&r, tools[i]);
        for (size_t n = 0; n <= 4; n++)
            (void)host_rule_match_words(&r, words, n);
        (void)host_rule_match_path(&r, "src/a/b.c", "/ws/src/a/b.c");
        (void)host_rule_match_path(&r, NULL, "/etc/passwd");
        (void)host_rule_match_url(&r, "https://user@a.example.com:8080/x?y");
        (void)host_rule_match_glob(&r, "some value");
        host_rule_free(&r);
    } else if (why[0] == '\0') {
        abort();
    }
    if (size <= HOST_RULE_MAX_LEN) {
        char pat[HOST_RULE_MAX_LEN + 1];
        memcpy(pat, data, size);
        pat[size] = '\0';
        (void)host_glob_match(pat, "src/deep/dir/file.c");
        (void)host_glob_match(pat, "");
    }
    return 0;
}
