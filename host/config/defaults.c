/*
 * The embedded defaults: the config the daemon runs with when it is given no
 * file, and the value of every key a file leaves out. The text and the
 * constants in config_internal.h / cfg_limit_keys must agree (a unit test
 * checks that loading this text gives the same config as loading "{}").
 */
#include "config/config_internal.h"

const char cfg_default_text[] =
    "{\n"
    "  \"data_dir\": \"./var\",\n"
    "  \"listen\": {\n"
    "    \"address\": \"127.0.0.1\",\n"
    "    \"port\": 7878\n"
    "  },\n"
    "  \"log\": {\n"
    "    \"level\": \"info\",\n"
    "    \"format\": \"auto\"\n"
    "  },\n"
    "  \"plugins\": {\n"
    "    \"dirs\": [],\n"
    "    \"load\": [\"sandbox-seccomp\"],\n"
    "    \"fatal_on_refusal\": true,\n"
    "    \"settings\": {}\n"
    "  },\n"
    "  \"sandboxes\": {\n"
    "    \"local\": {\n"
    "      \"plugin\": \"sandbox-seccomp\"\n"
    "    }\n"
    "  },\n"
    "  \"default_sandbox\": \"local\",\n"
    "  \"limits\": {\n"
    "    \"shutdown_timeout_ms\": 10000,\n"
    "    \"plugin_stop_timeout_ms\": 5000,\n"
    "    \"max_sessions\": 64,\n"
    "    \"session_timeout_minutes\": 60,\n"
    "    \"max_message_bytes\": 1048576,\n"
    "    \"max_config_bytes\": 4194304,\n"
    "    \"max_pending_requests\": 32\n"
    "  },\n"
    "  \"agent\": {\n"
    "    \"command\": \"claude\",\n"
    "    \"idle_timeout_s\": 300,\n"
    "    \"exit_deadline_s\": 10,\n"
    "    \"stop_grace_s\": 5,\n"
    "    \"idle_pause_s\": 900,\n"
    "    \"max_line_bytes\": 67108864\n"
    "  },\n"
    "  \"events\": {\n"
    "    \"retention_days\": 0,\n"
    "    \"max_per_session\": 0,\n"
    "    \"wal_max_mb\": 64\n"
    "  },\n"
    "  \"api\": {\n"
    "    \"max_connections\": 1024,\n"
    "    \"max_connections_per_address\": 256,\n"
    "    \"handshake_timeout_s\": 10,\n"
    "    \"idle_timeout_s\": 120,\n"
    "    \"ping_interval_s\": 30,\n"
    "    \"client_queue_bytes\": 8388608,\n"
    "    \"token_recheck_ms\": 1000\n"
    "  },\n"
    "  \"permissions\": {\n"
    "    \"mode\": \"allowlist\",\n"
    "    \"phase\": \"execute\",\n"
    "    \"allow\": [],\n"
    "    \"ask\": [],\n"
    "    \"deny\": [],\n"
    "    \"approval_timeout_s\": 600\n"
    "  }\n"
    "}\n";

/* "limits": name, allowed range, default. Order is the order of
 * host_limits_t and of the docs. */
const cfg_int_key_t cfg_limit_keys[CFG_LIMIT_KEY_COUNT] = {
    {"shutdown_timeout_ms", 100, 600000, 10000},
    {"plugin_stop_timeout_ms", 100, 600000, 5000},
    {"max_sessions", 1, 10000, 64},
    {"session_timeout_minutes", 1, 240, 60},
    {"max_message_bytes", 1024, 64LL * 1024 * 1024, 1024 * 1024},
    {"max_config_bytes", 1024, 64LL * 1024 * 1024, 4 * 1024 * 1024},
    {"max_pending_requests", 1, 1024, 32},
};

const char *host_config_default_text(void)
{
    return cfg_default_text;
}
