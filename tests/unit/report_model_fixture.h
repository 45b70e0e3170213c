// Hand-built report models for the formatters' tests (report_format_test.cc,
// report_json_test.cc): a frame, one side of a race, the initial thread.
#ifndef TRAPSAN_TESTS_UNIT_REPORT_MODEL_FIXTURE_H_
#define TRAPSAN_TESTS_UNIT_REPORT_MODEL_FIXTURE_H_

#include <string>
#include <utility>
#include <vector>

#include "runtime/report/format.h"

namespace trapsan {

// A frame of module "racy" at `offset` (pc 0x1000 + offset).
inline Frame MakeFrame(const char* function, const char* file, int line,
                       uintptr_t offset) {
  Frame f;
  f.pc = 0x1000 + offset;
  f.function = function;
  f.file = file;
  f.line = line;
  f.module = "racy";
  f.module_offset = offset;
  return f;
}

// One side: `kind` of `size` bytes at `addr` by thread T`thread_id`.
inline AccessModel MakeSide(const char* kind, uint32_t size, uintptr_t addr,
                            uint32_t thread_id, int tid,
                            std::vector<Frame> frames) {
  AccessModel a;
  a.kind = kind;
  a.size = size;
  a.addr = addr;
  a.thread_id = thread_id;
  a.tid = tid;
  a.frames = std::move(frames);
  return a;
}

// The process's first thread, T`id`, of program "racy".
inline ThreadModel InitialThread(uint32_t id, int tid) {
  ThreadModel t;
  t.id = id;
  t.tid = tid;
  t.name = "racy";
  t.is_initial = true;
  return t;
}

}  // namespace trapsan

#endif  // TRAPSAN_TESTS_UNIT_REPORT_MODEL_FIXTURE_H_
