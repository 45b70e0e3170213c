// Turns program counters into function, file and line, outside any signal
// handler: through an llvm-symbolizer child process when one is found (file
// and line, inlined frames), else through absl::Symbolize (function names).
// The symbolizer is not the program's child: a keeper process with exit
// signal 0 (sharing the program's memory) starts it and waits for it, so the
// program's wait() and waitpid(-1) see neither and it gets no SIGCHLD from
// them.
//
// Thread-compatible: the reporter calls it under its own lock.
#ifndef TRAPSAN_RUNTIME_REPORT_SYMBOLIZER_H_
#define TRAPSAN_RUNTIME_REPORT_SYMBOLIZER_H_

#include <cstdint>
#include <string>
#include <vector>
#include <unordered_map>


namespace trapsan {

struct Frame {
  uintptr_t pc = 0;
  std::string function;  // empty if unknown
  std::string file;      // empty if unknown
  int line = 0;
  std::string module;  // base name of the object file
  uintptr_t module_offset = 0;
};

struct DataSymbol {
  std::string name;
  uintptr_t start = 0;
  uint64_t size = 0;
};

// "lib.so" for "/usr/lib/lib.so".
std::string Basename(const std::string& path);

// The module (shared object or executable) holding `pc`.
bool FindModule(uintptr_t pc, std::string* path, uintptr_t* offset);

class Symbolizer {
 public:
  // `use_llvm`: look for llvm-symbolizer (at `path` if non-empty).
  void Configure(bool enabled, const std::string& path);

  // Frames for a code address, innermost inlined frame first. `pc` is looked
  // up as is; pass a return address minus one. Cached.
  std::vector<Frame> SymbolizeCode(uintptr_t pc);

  // The global variable holding `addr`, if a symbol covers it.
  bool SymbolizeData(uintptr_t addr, DataSymbol* out);

  // After fork(), in the child: the pipes belong to the parent's child.
  void ForgetProcess();

  // At the end of a report: where there is no descriptor reserve, the
  // symbolizer's pipes (at the program's numbers) are closed and it stops;
  // the next report starts it again.
  void ReleaseDescriptors();

  // Once: why stacks lack file:line (no llvm-symbolizer, or it failed);
  // empty otherwise, and on every later call.
  std::string TakeWarning();

 private:
  bool StartProcess();
  bool Ask(const std::string& request, std::string* reply);
  void StopProcess();
  bool NoDescriptors(int error);  // sets the warning; false

  std::unordered_map<uintptr_t, std::vector<Frame>> cache_;
  bool enabled_ = true;
  std::string path_;
  bool tried_ = false;
  std::string warning_;
  bool warned_ = false;
  int pid_ = -1;  // the keeper (symbolizer.cpp: SpawnHidden)
  void* keeper_stack_ = nullptr;
  int to_fd_ = -1, from_fd_ = -1;
  bool low_fds_ = false;     // the pipes are at the program's numbers
  bool out_of_fds_ = false;  // no descriptor free during this report
};

// The one symbolizer of the process.
Symbolizer& GetSymbolizer();

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_REPORT_SYMBOLIZER_H_
