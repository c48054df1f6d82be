# sandbox-seccomp benchmark (bench/sandbox_seccomp_bench.c): create-to-running
# time and idle memory of a sandbox. Include from bench/CMakeLists.txt:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/sandbox_seccomp.cmake)
# Run as root: bin/sandbox_seccomp_bench [RUNS]
add_executable(sandbox_seccomp_bench ${CMAKE_CURRENT_LIST_DIR}/sandbox_seccomp_bench.c
               ${CMAKE_CURRENT_LIST_DIR}/sandbox_start.c)
target_link_libraries(sandbox_seccomp_bench PRIVATE agentd_host)
target_compile_definitions(sandbox_seccomp_bench PRIVATE
  SBX_BENCH_PLUGIN_DIR="${AGENTD_PLUGIN_OUTPUT_DIR}")
add_dependencies(sandbox_seccomp_bench sandbox-seccomp)
