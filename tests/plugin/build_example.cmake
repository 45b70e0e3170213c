# cmake -P: configure and build examples/cmake-project against a trapsan
# build tree (tests/plugin/CMakeLists.txt passes the paths); run_race.cmake
# then runs it (a test of its own, since it needs hardware watchpoints).
# With INSTALL_PREFIX: install trapsan there first and find the installed
# package through CMAKE_PREFIX_PATH instead of the build tree.
file(REMOVE_RECURSE ${BINARY_DIR})
set(find_trapsan -Dtrapsan_DIR=${TRAPSAN_DIR})
if(INSTALL_PREFIX)
  file(REMOVE_RECURSE ${INSTALL_PREFIX})
  execute_process(
    COMMAND ${CMAKE_COMMAND} --install ${TRAPSAN_DIR} --prefix ${INSTALL_PREFIX}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install failed (${rc}):\n${out}\n${err}")
  endif()
  set(find_trapsan -DCMAKE_PREFIX_PATH=${INSTALL_PREFIX})
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BINARY_DIR}
          ${find_trapsan}
          -DCMAKE_C_COMPILER=${C_COMPILER} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configure failed (${rc}):\n${out}\n${err}")
endif()
if(err MATCHES "trapsan: the .* compiler is")
  message(FATAL_ERROR "find_package(trapsan) warned:\n${err}")
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} --build ${BINARY_DIR} --verbose
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "build failed (${rc}):\n${out}\n${err}")
endif()
if(NOT out MATCHES "-fpass-plugin=${INSTALL_PREFIX}[^ ]*TrapsanPlugin.so")
  message(FATAL_ERROR "not compiled with the plugin:\n${out}")
endif()
message(STATUS "example project: built with find_package(trapsan) (run_race.cmake runs it)")
