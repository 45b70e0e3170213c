# cmake -P: runs PROGRAM (examples/cmake-project's bank_race, built by
# build_example.cmake or wrapper_as_cxx.cmake, the fixture this test
# requires) with mode=ci: it must report its race with a main.cpp line and
# exit with trapsan's exit code. Needs hardware watchpoints (label hw).
if(NOT EXISTS ${PROGRAM})
  message(FATAL_ERROR "${PROGRAM} was not built (its build test failed?)")
endif()
# Detection is sampled: up to 5 attempts, each ending at its report (in the
# lab guest, bank_race's half second reported in 17 of 20 runs: a teller
# thread's start-up there takes a good part of it).
foreach(attempt RANGE 1 5)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env TRAPSAN_OPTIONS=mode=ci ${PROGRAM}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(tries ${attempt})
  if(NOT rc EQUAL 0)
    break()  # a report (checked below), or a failure to show
  endif()
endforeach()
if(NOT rc EQUAL 66 OR
   NOT err MATCHES "SUMMARY: trapsan: data race [^ ]*main\\.cpp:[0-9]+")
  message(FATAL_ERROR "${PROGRAM}: exit ${rc} in ${tries} attempt(s), no report?\n${out}\n${err}")
endif()
message(STATUS "${PROGRAM}: race reported (attempt ${tries})")
