# agentd_add_plugin(<target> [NO_INSTALL] [DESTINATION <dir>] <source>...)
#
# Builds <target>.so as an agentd plugin, the way the loader expects it
# (DESIGN.md, "Plugin ABI rules" 4 and 10):
#   * a MODULE library (loaded with dlopen, never linked against), named
#     <target>.so without the "lib" prefix;
#   * -fvisibility=hidden: the only exported symbol is the descriptor you
#     mark AGENTD_EXPORT (agentd_plugin);
#   * -Wl,--no-undefined: every symbol resolves at link time, because the
#     daemon exports none (skipped when the flags ask for a sanitizer, whose
#     runtime the sanitized daemon provides);
#   * linked with agentd::sdk (headers only).
# and installs it into DESTINATION, by default the cache variable
# AGENTD_PLUGIN_INSTALL_DIR, which defaults to AGENTD_PLUGIN_DIR: the plugin
# directory of the agentd installation this SDK belongs to. Override it with
# -DAGENTD_PLUGIN_INSTALL_DIR=/some/dir (then list that dir in the config's
# plugins.dirs). NO_INSTALL skips the install rule.
include_guard(GLOBAL)

if(NOT DEFINED AGENTD_PLUGIN_DIR)
  message(FATAL_ERROR "AgentdPlugin.cmake: use find_package(AgentdSDK) instead of including it")
endif()
set(AGENTD_PLUGIN_INSTALL_DIR "${AGENTD_PLUGIN_DIR}" CACHE PATH
    "Where agentd_add_plugin() installs plugins (the daemon's plugin directory)")

function(agentd_add_plugin target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "NO_INSTALL" "DESTINATION" "")
  if(NOT ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "agentd_add_plugin(${target}): no source files")
  endif()
  add_library(${target} MODULE ${ARG_UNPARSED_ARGUMENTS})
  target_link_libraries(${target} PRIVATE agentd::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(NOT CMAKE_C_FLAGS MATCHES "-fsanitize" AND NOT CMAKE_MODULE_LINKER_FLAGS MATCHES "-fsanitize")
    target_link_options(${target} PRIVATE "LINKER:--no-undefined")
  endif()
  if(NOT ARG_NO_INSTALL)
    if(NOT ARG_DESTINATION)
      set(ARG_DESTINATION "${AGENTD_PLUGIN_INSTALL_DIR}")
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION "${ARG_DESTINATION}")
  endif()
endfunction()
