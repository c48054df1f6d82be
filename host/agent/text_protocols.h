/*
 * The text protocols agents print inside their prose, recognized so that a
 * question or a finished phase becomes an event a client can act on:
 *
 *   [USER_QUESTION]text[/USER_QUESTION]            agent.question {text}
 *   [DEPENDENCY_REQUEST]text[/DEPENDENCY_REQUEST]  agent.dependency_request
 *                                                  {text, json?}
 *   === PHASE N COMPLETE ===                       agent.phase_complete {phase}
 *   [ERROR]text[/ERROR]                            agent.error {text}
 *
 * Thread: any. Ownership: text borrowed; events borrowed for the callback.
 */
#ifndef AGENTD_HOST_TEXT_PROTOCOLS_H
#define AGENTD_HOST_TEXT_PROTOCOLS_H

#include <stddef.h>

#include "agent/stream_json.h"

/* Calls fn once per protocol message found in text (valid UTF-8), in the
 * order they appear; text inside a recognized message is not scanned again.
 * An opening tag without its closing tag is not a message. Returns how many
 * events were produced. */
size_t host_agent_scan_protocols(const char *text, size_t len, host_agent_event_fn fn,
                                 void *ud);

#endif /* AGENTD_HOST_TEXT_PROTOCOLS_H */
