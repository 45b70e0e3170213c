# cmake -P: trapsan-c++ as a CMake project's CMAKE_CXX_COMPILER (what
# CXX=trapsan-c++ does): the project knows nothing of trapsan, compiler
# detection passes; run_race.cmake then checks that the program it builds
# reports its race.
file(REMOVE_RECURSE ${WORK_DIR})
file(WRITE ${WORK_DIR}/src/CMakeLists.txt
  "cmake_minimum_required(VERSION 3.20)\n"
  "project(plain_project CXX)\n"
  "add_executable(bank_race ${EXAMPLE_SOURCE})\n")
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${WORK_DIR}/src -B ${WORK_DIR}/build
          -DCMAKE_CXX_COMPILER=${TRAPSAN_CXX}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configure failed (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "build failed (${rc}):\n${out}\n${err}")
endif()
message(STATUS "CXX=trapsan-c++: built (run_race.cmake runs it)")
