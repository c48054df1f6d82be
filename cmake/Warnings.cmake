# Warnings and sanitizers for every target in the tree.
add_compile_options(-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
                    -Wformat=2 -Wno-unused-parameter)
if(AGENTD_WERROR)
  add_compile_options(-Werror)
endif()

if(AGENTD_SANITIZE)
  if(AGENTD_SANITIZE MATCHES "thread" AND AGENTD_SANITIZE MATCHES "address")
    message(FATAL_ERROR "AGENTD_SANITIZE: 'thread' cannot be combined with 'address'")
  endif()
  add_compile_options(-fsanitize=${AGENTD_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${AGENTD_SANITIZE})
endif()

# Plugins: one exported symbol, nothing undefined.
function(agentd_plugin_target target)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    LIBRARY_OUTPUT_DIRECTORY "${AGENTD_PLUGIN_OUTPUT_DIR}")
  if(NOT AGENTD_SANITIZE)
    # Sanitizer runtimes are provided by the sanitized daemon at load time.
    target_link_options(${target} PRIVATE -Wl,--no-undefined)
  endif()
  target_link_libraries(${target} PRIVATE agentd::sdk)
  install(TARGETS ${target} LIBRARY DESTINATION "${AGENTD_PLUGIN_SUBDIR}")
endfunction()
