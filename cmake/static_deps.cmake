# mael_link_pkg(TARGET PKG...): an INTERFACE library TARGET for the pkg-config packages PKG...
#
# With MAEL_STATIC_DEPS (the default) our tools load no shared library but glibc's (and libacl,
# which has no archive): every library comes from its static archive where the system has one,
# libstdc++ and libgcc are linked statically, and spdlog, fmt and toml++ are compiled in from
# their headers (src/base/log.cc, format.cc, toml_impl.cc). Every shared object costs each process
# start its mapping, relocations and page faults, and on this kind of virtual machine the faults
# are slow when the memory was not touched lately: with the ~20 shared objects of libarchive
# (libxml2, ICU), OpenSSL, spdlog, fmt, toml++ and libstdc++, `cargo-maelstrom --version` took
# 50-90 ms after a second of idleness and 5.5 ms back to back; linked this way, 18-28 ms and
# 2.2 ms (bench/CARGO.md). Libraries without an archive stay shared.
option(MAEL_STATIC_DEPS "Link libraries statically where archives exist" ON)

# Part of glibc.
set(MAEL_KEEP_SHARED pthread dl rt m)

if(MAEL_STATIC_DEPS)
  set(OPENSSL_USE_STATIC_LIBS TRUE)
  # A build directory configured before keeps the shared libraries it found in its cache.
  foreach(v OPENSSL_CRYPTO_LIBRARY OPENSSL_SSL_LIBRARY)
    if(DEFINED CACHE{${v}} AND "${${v}}" MATCHES "\\.so")
      unset(${v} CACHE)
    endif()
  endforeach()
  if(NOT MAEL_SANITIZE AND NOT MAEL_FUZZ)
    add_link_options(-static-libstdc++ -static-libgcc)
  endif()
endif()

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
    unset(so)
    find_library(so NAMES ${name} lib${name}.so.1 HINTS ${_mael_${target}_STATIC_LIBRARY_DIRS} NO_CACHE)
    if(archive)
      list(APPEND archives ${archive})
    elseif(so)
      # No archive (and maybe no development link either, as for libacl): the shared object.
      list(APPEND shared ${so})
    endif()
    # Neither: left out; the link names the symbols if a part we use needs it.
  endforeach()
  list(REMOVE_DUPLICATES archives)
  list(REMOVE_DUPLICATES shared)
  # abseil's archives refer to each other in both directions: one group resolves them all.
  target_link_libraries(${target} INTERFACE "-Wl,--start-group" ${archives} "-Wl,--end-group"
                        ${shared})
  list(LENGTH archives n)
  message(STATUS "${target}: ${n} static archives for ${ARGN}")
endfunction()
