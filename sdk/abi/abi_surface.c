/*
 * The ABI surface of the agentd plugin SDK, for libabigail.
 *
 * The SDK is headers only, so there is no library whose ABI abidw could
 * read. This file makes one: a tiny shared object whose exported functions
 * each take a pointer to (or a value of) one public SDK type. Built with -g,
 * its DWARF describes every struct, enum, typedef and callback type of the
 * SDK exactly as a compiler lays them out, and `abidw` turns that into the
 * committed baseline sdk/abi/agentd-sdk-abi.xml. scripts/abi-check.sh
 * compares the current headers against it; scripts/abi-update.sh rewrites
 * it on purpose.
 *
 * The #define constants that are part of the ABI (the magic, flag bits,
 * buffer sizes) are not in DWARF, so they are mirrored below as enumerators
 * of agentd_abi_constants: a changed value is then a changed enumerator.
 * AGENTD_ABI_MINOR is left out on purpose: it grows with every additive
 * release.
 *
 * When you add a public type to a header, add a line here (and run
 * scripts/abi-update.sh, which shows the additions for review).
 */
#include <agentd/agentd.h>

/* One exported function per public type: abi_surface_<type>. */
#define SURFACE(type)                                               \
    AGENTD_EXPORT void abi_surface_##type(type *p);                 \
    AGENTD_EXPORT void abi_surface_##type(type *p) { (void)p; }

/* Function-pointer typedefs are passed by value. */
#define SURFACE_FN(type)                                            \
    AGENTD_EXPORT void abi_surface_##type(type fn);                 \
    AGENTD_EXPORT void abi_surface_##type(type fn) { (void)fn; }

enum agentd_abi_constants {
    agentd_abi_plugin_magic = (int)AGENTD_PLUGIN_MAGIC,
    agentd_abi_major = AGENTD_ABI_MAJOR,
    agentd_abi_plugin_symbol_len = (int)sizeof AGENTD_PLUGIN_SYMBOL,
    agentd_abi_err_max = AGENTD_ERR_MAX,
    agentd_abi_poll_read = AGENTD_POLL_READ,
    agentd_abi_poll_write = AGENTD_POLL_WRITE,
    agentd_abi_poll_hup = AGENTD_POLL_HUP,
    agentd_abi_spawn_stdin = AGENTD_SPAWN_STDIN,
    agentd_abi_spawn_stdout = AGENTD_SPAWN_STDOUT,
    agentd_abi_spawn_stderr = AGENTD_SPAWN_STDERR,
    agentd_abi_spawn_new_group = AGENTD_SPAWN_NEW_GROUP,
    agentd_abi_exec_tty = AGENTD_EXEC_TTY,
    agentd_abi_sandbox_cap_pause = AGENTD_SANDBOX_CAP_PAUSE,
    agentd_abi_sandbox_cap_copy = AGENTD_SANDBOX_CAP_COPY,
    agentd_abi_sandbox_cap_egress = AGENTD_SANDBOX_CAP_EGRESS,
    agentd_abi_sandbox_cap_adopt = AGENTD_SANDBOX_CAP_ADOPT,
    agentd_abi_sandbox_cap_remote = AGENTD_SANDBOX_CAP_REMOTE,
    agentd_abi_plugin_size_v1_0 = (int)AGENTD_PLUGIN_SIZE_V1_0
};
typedef enum agentd_abi_constants agentd_abi_constants_t;
SURFACE(agentd_abi_constants_t)

/* abi.h */
SURFACE(agentd_error_code_t)
SURFACE(agentd_err_t)

/* stream.h */
SURFACE_FN(agentd_read_cb)
SURFACE_FN(agentd_write_cb)
SURFACE_FN(agentd_close_cb)
SURFACE(agentd_stream_ops_t)
SURFACE(agentd_stream_t)

/* host.h */
SURFACE(agentd_host_t)
SURFACE(agentd_timer_t)
SURFACE(agentd_poll_t)
SURFACE(agentd_work_t)
SURFACE(agentd_process_t)
SURFACE(agentd_log_level_t)
SURFACE_FN(agentd_timer_cb)
SURFACE_FN(agentd_post_cb)
SURFACE_FN(agentd_work_cb)
SURFACE_FN(agentd_after_work_cb)
SURFACE_FN(agentd_poll_cb)
SURFACE_FN(agentd_exit_cb)
SURFACE(agentd_spawn_opts_t)
SURFACE(agentd_spawn_io_t)
SURFACE(agentd_host_api_t)

/* plugin.h */
SURFACE(agentd_plugin_kind_t)
SURFACE(agentd_config_type_t)
SURFACE(agentd_config_field_t)
SURFACE_FN(agentd_done_cb)
SURFACE_FN(agentd_json_cb)
SURFACE(agentd_plugin_t)

/* sandbox.h */
SURFACE(agentd_sandbox_t)
SURFACE(agentd_exec_t)
SURFACE(agentd_sandbox_spec_t)
SURFACE(agentd_exec_spec_t)
SURFACE(agentd_exec_io_t)
SURFACE(agentd_sandbox_signal_t)
SURFACE_FN(agentd_sandbox_create_cb)
SURFACE_FN(agentd_exec_exit_cb)
SURFACE(agentd_sandbox_info_t)
SURFACE_FN(agentd_sandbox_list_cb)
SURFACE(agentd_sandbox_vtable_t)

/* vcs.h */
SURFACE(agentd_vcs_vtable_t)

/* mcp.h */
SURFACE(agentd_mcp_vtable_t)

/* notify.h */
SURFACE(agentd_event_view_t)
SURFACE_FN(agentd_notify_resume_fn)
SURFACE(agentd_notify_vtable_t)
