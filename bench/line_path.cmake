# The agent-line path benchmark (bench/line_path_bench.c): CPU and
# allocations per stdout line of an agent, from the session layer's line
# handler to a committed, fanned-out event, over the real runtime. Included
# from bench/CMakeLists.txt. Run: bin/line_path_bench [--kind flood|claude]
add_executable(line_path_bench ${CMAKE_CURRENT_LIST_DIR}/line_path_bench.c
               ${CMAKE_CURRENT_LIST_DIR}/bench_host.c)
target_link_libraries(line_path_bench PRIVATE agentd_host)
target_compile_definitions(line_path_bench PRIVATE
  BENCH_PLUGIN_DIR="${AGENTD_PLUGIN_OUTPUT_DIR}")
add_dependencies(line_path_bench sandbox-seccomp)
