# trapsan_add_test(): a CTest test that runs a program several times under
# trapsan (mode=ci) and fails when a race is reported. Included by
# trapsan-config.cmake (find_package(trapsan)); docs/ci.md.
#
#   trapsan_add_test(NAME <name> COMMAND <program> [<arg>...]
#                    [RUNS <n>]              # default 10
#                    [OPTIONS <trapsan options>...]  # joined with ':'
#                    [WORKING_DIRECTORY <dir>]
#                    [LOG_DIR <dir>])
#
# The test is `trapsan-run --runs <n> --options <options> --log-dir <dir>
# -- <program> <args>`: each run's reports are kept in
# <dir>/run-<k> (default <build dir>/trapsan-logs/<name>), so that after
# ctest `trapsan-report --format sarif -o trapsan.sarif trapsan-logs/*/run-*`
# gives one SARIF file for the whole suite. The test fails with the
# program's own status when a run fails, else with trapsan's exitcode (66)
# when any run reported a race. A target name as <program> is replaced by
# its file, as add_test does. Other test properties (TIMEOUT, LABELS,
# WILL_FAIL) are set with set_tests_properties as usual.
function(trapsan_add_test)
  cmake_parse_arguments(PARSE_ARGV 0 _ta ""
    "NAME;RUNS;WORKING_DIRECTORY;LOG_DIR" "COMMAND;OPTIONS")
  if(NOT _ta_NAME)
    message(FATAL_ERROR "trapsan_add_test: NAME is required")
  endif()
  if(NOT _ta_COMMAND)
    message(FATAL_ERROR "trapsan_add_test(${_ta_NAME}): COMMAND is required")
  endif()
  if(_ta_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "trapsan_add_test(${_ta_NAME}): unknown arguments: "
      "${_ta_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT DEFINED _ta_RUNS)
    set(_ta_RUNS 10)
  endif()
  if(NOT _ta_RUNS MATCHES "^[1-9][0-9]*$")
    message(FATAL_ERROR "trapsan_add_test(${_ta_NAME}): RUNS must be a "
      "positive number, not '${_ta_RUNS}'")
  endif()
  if(NOT _ta_LOG_DIR)
    set(_ta_LOG_DIR "${CMAKE_BINARY_DIR}/trapsan-logs/${_ta_NAME}")
  endif()
  list(JOIN _ta_OPTIONS ":" _ta_options)
  list(POP_FRONT _ta_COMMAND _ta_program)
  if(TARGET ${_ta_program})
    set(_ta_program "$<TARGET_FILE:${_ta_program}>")
  endif()
  set(_ta_wd "")
  if(_ta_WORKING_DIRECTORY)
    set(_ta_wd WORKING_DIRECTORY "${_ta_WORKING_DIRECTORY}")
  endif()
  add_test(NAME ${_ta_NAME}
    COMMAND "${TRAPSAN_RUN}" --runs ${_ta_RUNS} "--options=${_ta_options}"
            --log-dir "${_ta_LOG_DIR}" -- "${_ta_program}" ${_ta_COMMAND}
    ${_ta_wd})
  set_tests_properties(${_ta_NAME} PROPERTIES LABELS trapsan)
endfunction()
