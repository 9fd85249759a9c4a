# The client library for C++ programs: the Client of src/client (client/client.h) with the
# modules it builds on, their headers under include/maelstrom, and a CMake package, so that
#   find_package(Maelstrom REQUIRED)
#   target_link_libraries(app PRIVATE Maelstrom::client)
# works against an installed copy. It is the `dev` component, left out of a plain install and of
# the Debian package (its archives carry debug information):
#   cmake --install BUILD --component dev --prefix PREFIX
# examples/cpp-client is a program built this way.
include(CMakePackageConfigHelpers)

set(MAEL_LIB_MODULES base spec store container layers image executor cluster client)
set(MAEL_LIB_TARGETS mael_cluster_proto mael_toml mael_archive mael_re2 mael_grpc)
foreach(m ${MAEL_LIB_MODULES})
  list(APPEND MAEL_LIB_TARGETS mael_${m})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/src/${m} DESTINATION include/maelstrom COMPONENT dev EXCLUDE_FROM_ALL
          FILES_MATCHING PATTERN "*.h" PATTERN "testdata" EXCLUDE PATTERN "testclient" EXCLUDE
          PATTERN "testrogue" EXCLUDE PATTERN "web" EXCLUDE PATTERN "fixtures" EXCLUDE)
endforeach()
set_target_properties(mael_client PROPERTIES EXPORT_NAME client)
install(TARGETS ${MAEL_LIB_TARGETS} EXPORT MaelstromTargets ARCHIVE DESTINATION lib/maelstrom COMPONENT dev
        EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_BINARY_DIR}/src/cluster/gen/cluster.pb.h ${PROJECT_BINARY_DIR}/src/cluster/gen/cluster.grpc.pb.h
        DESTINATION include/maelstrom COMPONENT dev EXCLUDE_FROM_ALL)
install(EXPORT MaelstromTargets NAMESPACE Maelstrom:: DESTINATION lib/cmake/Maelstrom COMPONENT dev
        EXCLUDE_FROM_ALL)
file(WRITE ${PROJECT_BINARY_DIR}/MaelstromConfig.cmake.in [=[
@PACKAGE_INIT@
# The libraries the modules link, found as this project's build found them.
include(CMakeFindDependencyMacro)
set(OPENSSL_USE_STATIC_LIBS @MAEL_STATIC_DEPS@)
find_dependency(OpenSSL)
find_dependency(Threads)
find_dependency(CLI11)
find_dependency(nlohmann_json)
include("${CMAKE_CURRENT_LIST_DIR}/MaelstromTargets.cmake")
]=])
configure_package_config_file(${PROJECT_BINARY_DIR}/MaelstromConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/MaelstromConfig.cmake INSTALL_DESTINATION lib/cmake/Maelstrom)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/MaelstromConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/MaelstromConfig.cmake ${PROJECT_BINARY_DIR}/MaelstromConfigVersion.cmake
        DESTINATION lib/cmake/Maelstrom COMPONENT dev EXCLUDE_FROM_ALL)
