# Included by ctest (TEST_INCLUDE_FILES of each test directory, before the
# tests are defined): with TRAPSAN_TEST_TIME_SCALE in the environment (the lab
# guest sets it, docs/lab.md), every test's TIMEOUT is multiplied by it, as
# the harness's and the programs' own time limits are. CTest has no option for
# that, so set_tests_properties is wrapped here.
if(DEFINED ENV{TRAPSAN_TEST_TIME_SCALE} AND
   "$ENV{TRAPSAN_TEST_TIME_SCALE}" MATCHES "^[1-9][0-9]*$" AND
   NOT COMMAND _trapsan_time_scaled)
  function(_trapsan_time_scaled)
  endfunction()
  function(set_tests_properties)
    set(args ${ARGN})  # (drops the empty elements of _BACKTRACE_TRIPLES)
    list(FIND args TIMEOUT i)
    if(i GREATER -1)
      math(EXPR j "${i} + 1")
      list(GET args ${j} t)
      if(t MATCHES "^[0-9]+$")
        math(EXPR t "${t} * $ENV{TRAPSAN_TEST_TIME_SCALE}")
        list(REMOVE_AT args ${j})
        list(INSERT args ${j} ${t})
      endif()
    endif()
    _set_tests_properties(${args})
  endfunction()
endif()
