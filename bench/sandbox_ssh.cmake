# sandbox-ssh benchmark (bench/sandbox_ssh_bench.c, driven by
# bench/sandbox_ssh_bench.py, which starts a real sshd on loopback with
# generated keys and a repository of 1,000 commits). Included from
# bench/CMakeLists.txt. Run as root:
#   python3 bench/sandbox_ssh_bench.py <build>/bin/sandbox_ssh_bench [RUNS]
add_executable(sandbox_ssh_bench ${CMAKE_CURRENT_LIST_DIR}/sandbox_ssh_bench.c
               ${CMAKE_CURRENT_LIST_DIR}/sandbox_start.c)
target_link_libraries(sandbox_ssh_bench PRIVATE agentd_host)
add_dependencies(sandbox_ssh_bench sandbox-ssh)
