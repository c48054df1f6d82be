/*
 * agentd plugin SDK: the one header a plugin needs.
 *
 * Start with abi.h (the rules: ownership, threads, errors, struct growth),
 * then plugin.h (the descriptor), host.h (services), and the header of the
 * kind you implement. docs/plugins.md walks through a whole plugin.
 */
#ifndef AGENTD_AGENTD_H
#define AGENTD_AGENTD_H

#include "abi.h"
#include "stream.h"
#include "host.h"
#include "plugin.h"
#include "sandbox.h"
#include "vcs.h"
#include "mcp.h"
#include "notify.h"

#endif /* AGENTD_AGENTD_H */
