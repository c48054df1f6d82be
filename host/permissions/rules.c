#include "permissions/rules.h"

#include <fnmatch.h>
#include <string.h>

/* The input field a tool's rule argument is matched against. */
static const char *primary_argument(const char *tool, json_t *input)
{
    static const char *const keys[] = {"command", "file_path", "notebook_path", "path",
                                       "url", "pattern", "query"};
    if (strcmp(tool, "Bash") == 0)
        return json_string_value(json_object_get(input, "command"));
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = json_string_value(json_object_get(input, keys[i]));
        if (v != NULL)
            return v;
    }
    return NULL;
}

static int has_shell_control(const char *cmd)
{
    return strpbrk(cmd, ";&|`<>\n\r") != NULL || strstr(cmd, "$(") != NULL;
}

static int match_argument(const char *tool, const char *spec, size_t spec_len, const char *value)
{
    if (value == NULL)
        return 0;
    int is_bash = strcmp(tool, "Bash") == 0;
    if (is_bash && has_shell_control(value))
        return 0;
    if (spec_len >= 2 && spec[spec_len - 2] == ':' && spec[spec_len - 1] == '*') {
        size_t n = spec_len - 2;
        /* "npm run:*" matches "npm run" and "npm run x", not "npm runx". */
        return strncmp(value, spec, n) == 0 && (value[n] == '\0' || value[n] == ' ');
    }
    char pattern[1024];
    if (spec_len >= sizeof pattern)
        return 0;
    memcpy(pattern, spec, spec_len);
    pattern[spec_len] = '\0';
    if (is_bash)
        return strcmp(pattern, value) == 0;
    return fnmatch(pattern, value, 0) == 0;
}

int host_permission_rule_matches(const char *rule, const char *tool, json_t *input)
{
    if (rule == NULL || tool == NULL)
        return 0;
    const char *open = strchr(rule, '(');
    if (open == NULL) {
        if (strcmp(rule, tool) == 0)
            return 1;
        /* mcp__server covers mcp__server__anything */
        size_t n = strlen(rule);
        return strncmp(rule, "mcp__", 5) == 0 && strncmp(tool, rule, n) == 0 &&
               strncmp(tool + n, "__", 2) == 0;
    }
    size_t name_len = (size_t)(open - rule);
    size_t rule_len = strlen(rule);
    if (rule[rule_len - 1] != ')' || strlen(tool) != name_len ||
        strncmp(rule, tool, name_len) != 0)
        return 0;
    return match_argument(tool, open + 1, rule_len - name_len - 2,
                          primary_argument(tool, input));
}

static const char *first_match(json_t *list, const char *tool, json_t *input)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *r = json_string_value(v);
        if (host_permission_rule_matches(r, tool, input))
            return r;
    }
    return NULL;
}

host_permission_decision_t host_permission_decide(json_t *allow, json_t *deny,
                                                  host_permission_decision_t fallback,
                                                  const char *tool, json_t *input,
                                                  const char **rule)
{
    const char *r = first_match(deny, tool, input);
    if (r != NULL) {
        *rule = r;
        return HOST_PERMISSION_DENY;
    }
    r = first_match(allow, tool, input);
    *rule = r;
    return r != NULL ? HOST_PERMISSION_ALLOW : fallback;
}
