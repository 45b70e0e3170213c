# cmake -P: runs PROGRAM (examples/cmake-project's bank_race, built by
# build_example.cmake or wrapper_as_cxx.cmake, the fixture this test
# requires) with mode=ci: it must report its race with a main.cpp line and
# exit with trapsan's exit code. Needs hardware watchpoints (label hw).
if(NOT EXISTS ${PROGRAM})
  message(FATAL_ERROR "${PROGRAM} was not built (its build test failed?)")
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env TRAPSAN_OPTIONS=mode=ci ${PROGRAM}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 66 OR
   NOT err MATCHES "SUMMARY: trapsan: data race [^ ]*main\\.cpp:[0-9]+")
  message(FATAL_ERROR "${PROGRAM}: exit ${rc}, no report?\n${out}\n${err}")
endif()
message(STATUS "${PROGRAM}: race reported")
