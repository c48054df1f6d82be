/* Mapping between libuv/errno error codes and AGENTD_E* codes. */
#ifndef AGENTD_HOST_ERRORS_H
#define AGENTD_HOST_ERRORS_H

/* A libuv error (negative UV_E*) as the closest AGENTD_E* code; 0 stays 0. */
int host_err_from_uv(int uverr);

#endif
