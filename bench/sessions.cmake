# Sessions benchmark (bench/sessions_bench.c): host memory per idle session
# with 1,000 sessions open through the session C API (the real runtime:
# config, sandbox-seccomp plugin, database, event log, sessions). Included
# from bench/CMakeLists.txt. Run: bin/sessions_bench [--sessions N]
add_executable(sessions_bench ${CMAKE_CURRENT_LIST_DIR}/sessions_bench.c
               ${CMAKE_CURRENT_LIST_DIR}/bench_host.c)
target_link_libraries(sessions_bench PRIVATE agentd_host)
target_compile_definitions(sessions_bench PRIVATE
  BENCH_PLUGIN_DIR="${AGENTD_PLUGIN_OUTPUT_DIR}")
add_dependencies(sessions_bench sandbox-seccomp)
