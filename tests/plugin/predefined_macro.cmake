# cmake -P: __TRAPSAN__ is 1 in every trapsan build (issue 11): compiled by
# trapsan-cc and trapsan-c++, and by a project's target that links
# trapsan::trapsan from find_package(trapsan); a plain compile by the same
# clang does not define it (so the check can fail). A link-only command line
# under -Werror is not warned about the -D. Paths from tests/plugin/CMakeLists.txt.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/project)
set(check "#ifndef __TRAPSAN__\n#error __TRAPSAN__ is not defined\n#endif\n#if __TRAPSAN__ != 1\n#error __TRAPSAN__ is not 1\n#endif\nint main(void) { return 0; }\n")
file(WRITE ${WORK_DIR}/check.c "${check}")
file(WRITE ${WORK_DIR}/check.cc "${check}")

foreach(case "${TRAPSAN_CC}:check.c" "${TRAPSAN_CXX}:check.cc")
  string(REPLACE ":" ";" parts "${case}")
  list(GET parts 0 compiler)
  list(GET parts 1 source)
  execute_process(COMMAND ${compiler} -c ${WORK_DIR}/${source} -o ${WORK_DIR}/${source}.o
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${compiler} ${source}: __TRAPSAN__ missing (${rc}): ${err}")
  endif()
  execute_process(COMMAND ${compiler} -Werror ${WORK_DIR}/${source}.o -o ${WORK_DIR}/${source}.bin
    RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 0 OR err MATCHES "__TRAPSAN__")
    message(FATAL_ERROR "${compiler}: link-only line failed or warned (${rc}): ${err}")
  endif()
endforeach()

execute_process(COMMAND ${PLAIN_CC} -c ${WORK_DIR}/check.c -o ${WORK_DIR}/plain.o
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "__TRAPSAN__ is not defined")
  message(FATAL_ERROR "a plain compile should fail the check (${rc}): ${err}")
endif()

file(COPY ${WORK_DIR}/check.c ${WORK_DIR}/check.cc DESTINATION ${WORK_DIR}/project)
file(WRITE ${WORK_DIR}/project/CMakeLists.txt "
cmake_minimum_required(VERSION 3.20)
project(macro_check C CXX)
find_package(trapsan REQUIRED)
add_executable(check_c check.c)
add_executable(check_cxx check.cc)
target_link_libraries(check_c PRIVATE trapsan::trapsan)
target_link_libraries(check_cxx PRIVATE trapsan::trapsan)
")
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${WORK_DIR}/project -B ${WORK_DIR}/project/build
          -Dtrapsan_DIR=${TRAPSAN_DIR}
          -DCMAKE_C_COMPILER=${PLAIN_CC} -DCMAKE_CXX_COMPILER=${PLAIN_CXX}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configure failed (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/project/build
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "find_package(trapsan) target lacks __TRAPSAN__ (${rc}):\n${out}\n${err}")
endif()
message(STATUS "__TRAPSAN__=1 from trapsan-cc, trapsan-c++ and trapsan::trapsan")
