# The event log benchmark (bench/event_log_bench.c): a fake agent's
# stream-json through the line splitter, the normalizer, the durable event
# log and a listener on one loop thread; and memory per idle session.
add_executable(event_log_bench ${CMAKE_CURRENT_SOURCE_DIR}/event_log_bench.c)
target_link_libraries(event_log_bench PRIVATE agentd_host)
