/*
 * agentd plugin SDK: MCP server management (AGENTD_KIND_MCP).
 *
 * An MCP provider knows the MCP servers a team has configured (with their
 * secrets) and gives each session the `--mcp-config` document its agent
 * runs with, resolving secret references at the moment of use. It may
 * start shared servers itself and stop them when no session needs them.
 *
 * Threads, errors, ownership: abi.h.
 */
#ifndef AGENTD_MCP_H
#define AGENTD_MCP_H

#include "abi.h"
#include "plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct agentd_mcp_vtable {
    uint32_t size;                 /* sizeof(agentd_mcp_vtable_t) */

    /* minor 0, required: the servers this provider offers. result:
     * {"servers": [{"name", "description", "tools": [...], "state"}]}. */
    int (*list_servers)(void *self, agentd_json_cb cb, void *ud, agentd_err_t *err);

    /* minor 0, required: the MCP configuration for one session. request:
     * {"session_id", "servers": ["name", ...], "sandbox": "<profile>"};
     * result: {"mcpServers": {...}} in Claude Code's --mcp-config format.
     * Secret values in the result are meant for the sandbox only: the host
     * writes them to a file of mode 0600, never to argv, a log or an event. */
    int (*session_config)(void *self, const char *request_json, size_t len,
                          agentd_json_cb cb, void *ud, agentd_err_t *err);

    /* minor 0, optional: the session ended; release what it held. request:
     * {"session_id"}. */
    int (*session_release)(void *self, const char *request_json, size_t len,
                           agentd_json_cb cb, void *ud, agentd_err_t *err);
} agentd_mcp_vtable_t;

#ifdef __cplusplus
}
#endif
#endif /* AGENTD_MCP_H */
