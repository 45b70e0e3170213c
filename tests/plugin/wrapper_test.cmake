# cmake -P: trapsan-c++ as a drop-in CXX. Compile-only (-c) adds no link
# flags; a separate link adds libtrapsan.so, its rpath and -pthread, even
# under -Werror; the result runs. Paths from tests/plugin/CMakeLists.txt.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env TRAPSAN_CC_VERBOSE=1
          ${TRAPSAN_CXX} -O1 -std=c++17 -I${PROGRAMS_SOURCE_DIR} -c
          ${SOURCE} -o ${WORK_DIR}/racy.o
  RESULT_VARIABLE rc ERROR_VARIABLE compile_line)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compile failed: ${compile_line}")
endif()
if(NOT compile_line MATCHES "-fpass-plugin=[^ ]*TrapsanPlugin\\.so -g -fno-omit-frame-pointer")
  message(FATAL_ERROR "compile line lacks the plugin flags: ${compile_line}")
endif()
if(compile_line MATCHES "libtrapsan|-pthread|rpath")
  message(FATAL_ERROR "-c got link flags: ${compile_line}")
endif()
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env TRAPSAN_CC_VERBOSE=1
          ${TRAPSAN_CXX} -Werror ${WORK_DIR}/racy.o -o ${WORK_DIR}/racy
  RESULT_VARIABLE rc ERROR_VARIABLE link_line)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "link failed: ${link_line}")
endif()
if(NOT link_line MATCHES "libtrapsan\\.so -Wl,-rpath,[^ ]+ -pthread")
  message(FATAL_ERROR "link line lacks the runtime: ${link_line}")
endif()
execute_process(COMMAND ${WORK_DIR}/racy 1
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT out MATCHES "DONE=1")
  message(FATAL_ERROR "the linked program did not run (${rc}): ${out} ${err}")
endif()
message(STATUS "trapsan-c++: -c compiles only; the link adds the runtime")

# A target the sites cannot be written for: compiled, not instrumented, and
# the compiler says so.
file(WRITE ${WORK_DIR}/m32.c "long g; void f(long v) { g = v; }\n")
execute_process(
  COMMAND ${TRAPSAN_CXX} -x c -O2 -m32 -c ${WORK_DIR}/m32.c -o ${WORK_DIR}/m32.o
  RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT err MATCHES "target i386[^ ]* is not supported \\(x86-64 ELF only\\): not instrumented")
  message(FATAL_ERROR "-m32: rc=${rc}, expected the not-supported warning: ${err}")
endif()
message(STATUS "trapsan-c++ -m32: compiled uninstrumented, with a warning")
