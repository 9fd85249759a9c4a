# mael_link_pkg(TARGET PKG...): an INTERFACE library TARGET for the pkg-config packages PKG...
#
# With MAEL_STATIC_DEPS (the default) the packages' own libraries are linked from their static
# archives where the system has them: gRPC, protobuf, abseil and re2 come as ~50 shared objects,
# and the dynamic loader's symbol lookups for them took half of every tool's ~30 ms start (and
# cargo-maelstrom starts once per test run). Libraries without an archive, and the system ones
# below, stay shared.
option(MAEL_STATIC_DEPS "Link gRPC, protobuf, abseil and re2 statically where archives exist" ON)

# Shared by other libraries we link dynamically anyway, or part of libc.
set(MAEL_KEEP_SHARED ssl crypto z pthread dl rt m atomic)

function(mael_link_pkg target)
  pkg_check_modules(_mael_${target} REQUIRED ${ARGN})
  add_library(${target} INTERFACE)
  target_include_directories(${target} SYSTEM INTERFACE ${_mael_${target}_INCLUDE_DIRS})
  target_compile_options(${target} INTERFACE ${_mael_${target}_CFLAGS_OTHER})
  if(NOT MAEL_STATIC_DEPS)
    target_link_libraries(${target} INTERFACE ${_mael_${target}_LINK_LIBRARIES})
    return()
  endif()
  set(archives)
  set(shared)
  foreach(name IN LISTS _mael_${target}_STATIC_LIBRARIES)
    if(name IN_LIST MAEL_KEEP_SHARED)
      list(APPEND shared ${name})
      continue()
    endif()
    unset(archive)
    find_library(archive NAMES lib${name}.a HINTS ${_mael_${target}_STATIC_LIBRARY_DIRS} NO_CACHE)
    if(archive)
      list(APPEND archives ${archive})
    else()
      list(APPEND shared ${name})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES archives)
  list(REMOVE_DUPLICATES shared)
  # abseil's archives refer to each other in both directions: one group resolves them all.
  target_link_libraries(${target} INTERFACE "-Wl,--start-group" ${archives} "-Wl,--end-group"
                        ${shared})
  list(LENGTH archives n)
  message(STATUS "${target}: ${n} static archives for ${ARGN}")
endfunction()
