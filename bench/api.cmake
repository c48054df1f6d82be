# API benchmark (bench/api_bench.mjs, Node.js with npm `ws` from
# tests/package.json): N sessions x M subscribers through the real daemon,
# events/s and latency p50/p99, against a Node `ws` relay without persistence
# (bench/api_relay.mjs) in the same run. Included from bench/CMakeLists.txt.
# Run: cmake --build BUILD --target api_bench (or node bench/api_bench.mjs
# with AGENTD_BIN and AGENTD_PLUGIN_DIR set; --help in the file's header).
find_program(AGENTD_BENCH_NODE node)
if(AGENTD_BENCH_NODE)
  add_custom_target(api_bench
    COMMAND ${CMAKE_COMMAND} -E env "AGENTD_BIN=$<TARGET_FILE:agentd>"
            "AGENTD_PLUGIN_DIR=${AGENTD_PLUGIN_OUTPUT_DIR}"
            ${AGENTD_BENCH_NODE} ${CMAKE_CURRENT_LIST_DIR}/api_bench.mjs
    DEPENDS agentd sandbox-seccomp
    USES_TERMINAL)
endif()
