# sandbox-docker benchmark (bench/sandbox_docker_bench.c, driven by
# bench/sandbox_docker_bench.py, which starts a private dockerd): create-to-
# agent-running time of a container from an image, from a template built
# cold, and from the template cached. Run as root:
#   python3 bench/sandbox_docker_bench.py BUILD_DIR [RUNS]
add_executable(sandbox_docker_bench ${CMAKE_CURRENT_LIST_DIR}/sandbox_docker_bench.c)
target_link_libraries(sandbox_docker_bench PRIVATE agentd_host)
add_dependencies(sandbox_docker_bench sandbox-docker)
