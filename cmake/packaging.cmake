# `make package` (cpack -G DEB in the build directory): a Debian package with the binaries,
# the docs and an example, systemd units for the broker and the worker, their configuration
# in /etc/maelstrom, and maintainer scripts that create and (on purge) remove their users.
set(MAEL_PKG ${PROJECT_SOURCE_DIR}/packaging)
set(MAEL_DOC_DIR share/doc/${PROJECT_NAME})
file(GLOB MAEL_DOCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${MAEL_DOCS} DESTINATION ${MAEL_DOC_DIR})
install(FILES examples/demo.json DESTINATION ${MAEL_DOC_DIR}/examples)
install(FILES ${MAEL_PKG}/systemd/maelstrom-broker.service ${MAEL_PKG}/systemd/maelstrom-worker.service
        DESTINATION lib/systemd/system)
install(FILES ${MAEL_PKG}/config/broker.toml ${MAEL_PKG}/config/worker.toml DESTINATION /etc/maelstrom)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ${PROJECT_NAME})
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Maelstrom in C++ maintainers <maintainers@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Runs jobs and tests, each in its own rootless container, locally or on a cluster")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # libc6, libacl1, ... from what the binaries load
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${MAEL_PKG}/deb/postinst ${MAEL_PKG}/deb/prerm ${MAEL_PKG}/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
