# The redaction benchmark (bench/redact_bench.c): MB/s of one-shot and
# streamed redaction on prose, stream-json lines and \u-escaped JSON, for 1,
# 50 and 500 secrets, and the automaton's build time.
add_executable(redact_bench ${CMAKE_CURRENT_SOURCE_DIR}/redact_bench.c)
target_link_libraries(redact_bench PRIVATE agentd_host)
