# cmake -P: configure and build examples/ctest-project against trapsan (its
# build tree, or with INSTALL_PREFIX an installation made here), run its
# CTest suite, and check what a CI job would see: queue_test passes,
# inventory_test fails because trapsan reported its race (the example marks
# it WILL_FAIL), and trapsan-report turns the kept logs into SARIF naming the
# racy line. tests/ci/CMakeLists.txt passes the paths.
include(${CMAKE_CURRENT_LIST_DIR}/../cmake/example_project.cmake)
example_prepare()
set(report ${TRAPSAN_SOURCE_DIR}/tools/trapsan-report)
if(INSTALL_PREFIX)
  set(report ${INSTALL_PREFIX}/bin/trapsan-report)
  foreach(tool trapsan-run trapsan-report)
    if(NOT EXISTS ${INSTALL_PREFIX}/bin/${tool})
      message(FATAL_ERROR "${tool} was not installed in ${INSTALL_PREFIX}/bin")
    endif()
  endforeach()
endif()
example_run(configure
  ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${BINARY_DIR} ${find_trapsan}
  -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
example_run(build ${CMAKE_COMMAND} --build ${BINARY_DIR})

# The suite as CI runs it. TRAPSAN_OPTIONS of this test's environment (the
# backend forced by a test variant, say) reaches the programs.
execute_process(
  COMMAND ${CMAKE_CTEST_COMMAND} --test-dir ${BINARY_DIR} -V
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(all "${out}\n${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the example's ctest failed (${rc}): a race-free test "
    "failed, or the racy one found no race:\n${all}")
endif()
foreach(expect
    "queue_test [.]+ +Passed"
    "inventory_test [.]+ +Passed"
    "data race in [^\n]*Restock"
    "reported [0-9]+ time\\(s\\) in [1-5] of 5 run\\(s\\)"
    "inventory_test.cpp:[0-9]+ in [^\n]*Restock")
  if(NOT all MATCHES "${expect}")
    message(FATAL_ERROR "the example's ctest output lacks '${expect}':\n${all}")
  endif()
endforeach()
# The race-free test's runs reported nothing (a file may hold a start-up
# warning, never a race).
file(GLOB_RECURSE queue_logs ${BINARY_DIR}/trapsan-logs/queue_test/*)
foreach(log ${queue_logs})
  file(READ ${log} text)
  if(text MATCHES "data race|\"type\": *\"race\"")
    message(FATAL_ERROR "queue_test reported a race in ${log}:\n${text}")
  endif()
endforeach()
if(NOT all MATCHES "0 distinct data race\\(s\\), 0 report\\(s\\), in 5 run\\(s\\)")
  message(FATAL_ERROR "no clean summary for queue_test:\n${all}")
endif()

# One SARIF file for the suite, as docs/ci.md uploads it.
file(GLOB runs LIST_DIRECTORIES true ${BINARY_DIR}/trapsan-logs/*/run-*)
example_run(trapsan-report
  ${report} --format sarif -o ${BINARY_DIR}/trapsan.sarif ${runs})
file(READ ${BINARY_DIR}/trapsan.sarif sarif)
string(JSON version GET "${sarif}" version)
string(JSON results LENGTH "${sarif}" runs 0 results)
string(JSON uri GET "${sarif}" runs 0 results 0 locations 0
       physicalLocation artifactLocation uri)
if(NOT version STREQUAL "2.1.0" OR results LESS 1 OR
   NOT uri MATCHES "inventory_test.cpp$")
  message(FATAL_ERROR "unexpected SARIF (${version}, ${results} results, "
    "${uri}):\n${sarif}")
endif()
# Valid against the SARIF 2.1.0 schema (written from the spec), and as code
# scanning wants it (an artifact for every result location).
execute_process(
  COMMAND python3 ${TRAPSAN_SOURCE_DIR}/tests/integration/check_report.py sarif
          ${BINARY_DIR}/trapsan.sarif
          ${TRAPSAN_SOURCE_DIR}/tests/integration/data/sarif-2.1.0-subset.schema.json
  OUTPUT_VARIABLE checked)
if(checked MATCHES "ERROR=" OR NOT checked MATCHES "VALID=1")
  message(FATAL_ERROR "the suite's SARIF is not valid:\n${checked}\n${sarif}")
endif()
message(STATUS "ctest example: queue_test clean, inventory_test's race "
  "reported, SARIF with ${results} result(s)")
