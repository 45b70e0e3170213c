# cmake -P: configure and build examples/cmake-project against a trapsan
# build tree (tests/plugin/CMakeLists.txt passes the paths); run_race.cmake
# then runs it (a test of its own, since it needs hardware watchpoints).
# With INSTALL_PREFIX: install trapsan there first and find the installed
# package through CMAKE_PREFIX_PATH instead of the build tree.
include(${CMAKE_CURRENT_LIST_DIR}/../cmake/example_project.cmake)
example_prepare()
example_run(configure
  ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BINARY_DIR} ${find_trapsan}
  -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
if(err MATCHES "trapsan: the .* compiler is")
  message(FATAL_ERROR "find_package(trapsan) warned:\n${err}")
endif()
example_run(build ${CMAKE_COMMAND} --build ${BINARY_DIR} --verbose)
if(NOT out MATCHES "-fpass-plugin=${INSTALL_PREFIX}[^ ]*TrapsanPlugin.so")
  message(FATAL_ERROR "not compiled with the plugin:\n${out}")
endif()
message(STATUS "example project: built with find_package(trapsan) (run_race.cmake runs it)")
