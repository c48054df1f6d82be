# Every library agentd links, found with pkg-config. A missing one stops
# configure with the Debian package that provides it.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config")
endif()

function(agentd_require prefix module debian_package)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET ${module})
  if(NOT ${prefix}_FOUND)
    message(FATAL_ERROR
      "agentd needs ${module} (pkg-config module '${module}' not found).\n"
      "On Debian 12: apt-get install ${debian_package}\n"
      "or run scripts/setup-deps.sh, which installs every build dependency.")
  endif()
  message(STATUS "Found ${module} ${${prefix}_VERSION}")
endfunction()

agentd_require(LIBUV      libuv          libuv1-dev)
agentd_require(JANSSON    jansson        libjansson-dev)
agentd_require(LWS        libwebsockets  libwebsockets-dev)
agentd_require(LIBGIT2    libgit2        libgit2-dev)
agentd_require(LIBCURL    libcurl        libcurl4-openssl-dev)
agentd_require(OPENSSL    openssl        libssl-dev)
agentd_require(LIBSECCOMP libseccomp     libseccomp-dev)
agentd_require(SQLITE3    sqlite3        libsqlite3-dev)

# libdl: part of glibc on Debian 12; CMake names it for older systems.
set(AGENTD_DL_LIBS ${CMAKE_DL_LIBS})

# agentd runs libwebsockets on its own libuv loop, so lws must be built with
# libuv support.
include(CheckSymbolExists)
set(CMAKE_REQUIRED_INCLUDES ${LWS_INCLUDE_DIRS})
check_symbol_exists(LWS_WITH_LIBUV "lws_config.h" AGENTD_LWS_HAS_LIBUV)
unset(CMAKE_REQUIRED_INCLUDES)
if(NOT AGENTD_LWS_HAS_LIBUV)
  message(FATAL_ERROR
    "libwebsockets was built without libuv support (LWS_WITH_LIBUV is not set "
    "in lws_config.h). agentd runs lws on its libuv loop.\n"
    "On Debian 12: apt-get install libwebsockets-dev (Debian's build has it), "
    "or rebuild libwebsockets with -DLWS_WITH_LIBUV=ON.")
endif()
