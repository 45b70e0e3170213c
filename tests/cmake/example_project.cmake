# Shared by the cmake -P scripts that build an example project against
# trapsan (tests/ci/ctest_example.cmake, tests/plugin/build_example.cmake):
#
#   include(.../tests/cmake/example_project.cmake)
#   example_prepare()        BINARY_DIR emptied; with INSTALL_PREFIX, trapsan
#                            (the build tree TRAPSAN_DIR) installed there.
#                            Sets find_trapsan: the -D that finds the package
#                            (the build tree, or the installation).
#   example_run(WHAT CMD...) runs CMD; a FATAL_ERROR naming WHAT with its
#                            output when it fails. Leaves rc, out, err.
macro(example_run what)
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
endmacro()

macro(example_prepare)
  file(REMOVE_RECURSE ${BINARY_DIR})
  set(find_trapsan -Dtrapsan_DIR=${TRAPSAN_DIR})
  if(INSTALL_PREFIX)
    file(REMOVE_RECURSE ${INSTALL_PREFIX})
    example_run(install
      ${CMAKE_COMMAND} --install ${TRAPSAN_DIR} --prefix ${INSTALL_PREFIX})
    set(find_trapsan -DCMAKE_PREFIX_PATH=${INSTALL_PREFIX})
  endif()
endmacro()
