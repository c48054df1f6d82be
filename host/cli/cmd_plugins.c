/* `agentd plugins`: every plugin file found, and whether it loaded. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "plugins/registry.h"

static const char *const type_names[] = {
    "?", "string", "int", "number", "bool", "string list", "object", "secret",
};

static const char *type_name(agentd_config_type_t t)
{
    return (unsigned)t < sizeof type_names / sizeof type_names[0] ? type_names[t] : "?";
}

/* Field i of a plugin's array, read with the plugin's stride. */
static void field_at(const agentd_config_field_t *fields, uint32_t i, agentd_config_field_t *out)
{
    size_t stride = fields[0].size;
    memset(out, 0, sizeof *out);
    memcpy(out, (const char *)fields + i * stride, stride < sizeof *out ? stride : sizeof *out);
}

static const char *status_text(const host_plugin_t *p, char *buf, size_t size)
{
    switch (p->status) {
    case HOST_PLUGIN_LOADED: return "loaded";
    case HOST_PLUGIN_AVAILABLE: return "available";
    default:
        snprintf(buf, size, "refused: %s (fix: %s)", p->reason, p->fix);
        return buf;
    }
}

static json_t *fields_json(const agentd_config_field_t *fields, uint32_t count)
{
    json_t *arr = json_array();
    for (uint32_t i = 0; arr != NULL && fields != NULL && fields[0].size > 0 && i < count; i++) {
        agentd_config_field_t f;
        field_at(fields, i, &f);
        json_t *o = json_pack("{s:s?, s:s, s:b, s:s?, s:s?}", "name", f.name, "type",
                              type_name(f.type), "required", f.required, "default",
                              f.default_json, "description", f.description);
        if (o != NULL && f.type == AGENTD_CONFIG_INT && f.min < f.max) {
            json_object_set_new(o, "min", json_integer(f.min));
            json_object_set_new(o, "max", json_integer(f.max));
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

static int has_fields(const host_plugin_t *p)
{
    return p->dl != NULL || p->status == HOST_PLUGIN_LOADED;
}

static json_t *plugin_json(const host_plugin_t *p)
{
    char abi[32] = "", status[1400];
    if (p->abi_major != 0 || p->has_descriptor)
        snprintf(abi, sizeof abi, "%u.%u", p->abi_major, p->abi_minor);
    const char *st = p->status == HOST_PLUGIN_REFUSED ? "refused" : status_text(p, status, sizeof status);
    json_t *o = json_pack("{s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?}", "file",
                          p->file, "id", p->id, "kind",
                          p->has_descriptor ? host_plugin_kind_name(p->kind) : NULL,
                          "version", p->version, "abi", abi[0] ? abi : NULL, "status",
                          st, "reason",
                          p->reason, "fix", p->fix, "limitations", p->limitations);
    if (o != NULL && has_fields(p)) {
        json_object_set_new(o, "fields",
                            fields_json(p->desc.config_fields, p->desc.config_field_count));
        if (p->kind == AGENTD_KIND_SANDBOX)
            json_object_set_new(o, "profile_fields",
                                fields_json(p->desc.profile_fields, p->desc.profile_field_count));
    }
    return o;
}

static void print_fields(const char *title, const agentd_config_field_t *fields, uint32_t count)
{
    if (fields == NULL || count == 0 || fields[0].size == 0)
        return;
    printf("    %s:\n", title);
    for (uint32_t i = 0; i < count; i++) {
        agentd_config_field_t f;
        field_at(fields, i, &f);
        printf("      %-22s %-11s %s%s%s", f.name != NULL ? f.name : "?", type_name(f.type),
               f.required ? "required" : "default ",
               f.required ? "" : " ", f.required ? "" : (f.default_json ? f.default_json : "none"));
        if (f.type == AGENTD_CONFIG_INT && f.min < f.max)
            printf(" [%lld..%lld]", (long long)f.min, (long long)f.max);
        printf("  %s\n", f.description != NULL ? f.description : "");
    }
}

static void print_table(host_registry_t *reg, int verbose)
{
    size_t wfile = 4, wid = 2;
    for (size_t i = 0; i < reg->count; i++) {
        const host_plugin_t *p = reg->items[i];
        if (strlen(p->file) > wfile) wfile = strlen(p->file);
        if (p->id != NULL && strlen(p->id) > wid) wid = strlen(p->id);
    }
    printf("%-*s  %-*s  %-8s %-9s %-4s %s\n", (int)wfile, "FILE", (int)wid, "ID", "KIND",
           "VERSION", "ABI", "STATUS");
    for (size_t i = 0; i < reg->count; i++) {
        const host_plugin_t *p = reg->items[i];
        char abi[32] = "-", status[1400];
        if (p->has_descriptor || p->abi_major != 0)
            snprintf(abi, sizeof abi, "%u.%u", p->abi_major, p->abi_minor);
        printf("%-*s  %-*s  %-8s %-9s %-4s %s\n", (int)wfile, p->file, (int)wid,
               p->id != NULL ? p->id : "-",
               p->has_descriptor ? host_plugin_kind_name(p->kind) : "-",
               p->version != NULL ? p->version : "-", abi,
               status_text(p, status, sizeof status));
        if (!verbose || !p->has_descriptor)
            continue;
        printf("    %s\n", p->description != NULL ? p->description : "");
        if (p->limitations != NULL)
            printf("    not yet: %s\n", p->limitations);
        if (has_fields(p)) {
            print_fields("settings (plugins.settings.<id>)", p->desc.config_fields,
                         p->desc.config_field_count);
            print_fields("profile settings (sandboxes.<name>)", p->desc.profile_fields,
                         p->desc.profile_field_count);
        }
    }
    if (reg->count == 0) {
        const char *const *dirs;
        size_t n = host_registry_dirs(reg, &dirs);
        printf("(no plugin files found in %s)\n", n > 0 ? dirs[0] : "any plugin directory");
    }
}

static void usage(FILE *out)
{
    fprintf(out, "usage: agentd [--config FILE] plugins [--json] [--verbose]\n\n"
                 "Lists every plugin file in the plugin directories: its id, kind, version,\n"
                 "ABI, and whether it loaded (or why not). Plugins named in plugins.load are\n"
                 "initialised. --verbose also shows each plugin's settings.\n"
                 "Exit status 1 if a plugin the configuration asks for was refused and\n"
                 "plugins.fatal_on_refusal is true.\n");
}

int cli_cmd_plugins(int argc, char **argv, const cli_global_t *g)
{
    int as_json = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return CLI_OK;
        } else {
            fprintf(stderr, "agentd plugins: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return CLI_USAGE;
        }
    }
    host_ctx_t ctx;
    if (cli_open_host(g, &ctx) != 0)
        return CLI_FAILED;
    int rc = host_registry_load(ctx.registry);
    if (as_json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < ctx.registry->count; i++)
            json_array_append_new(arr, plugin_json(ctx.registry->items[i]));
        char *text = json_dumps(arr, JSON_INDENT(2));
        if (text != NULL)
            printf("%s\n", text);
        free(text);
        json_decref(arr);
    } else {
        print_table(ctx.registry, verbose);
    }
    fflush(stdout);
    cli_close_host(&ctx);
    return rc == 0 ? CLI_OK : CLI_FAILED;
}
