#include "symbolizer.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <initializer_list>

#include "absl/base/options.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "runtime/core/options.h"
#include "runtime/linux/fd_reserve.h"
#include "runtime/report/hidden_spawn.h"
#include "runtime/report/sink.h"

extern char** environ;

namespace trapsan {
namespace {

// How long llvm-symbolizer may stay silent before it is taken for stuck: its
// first answer loads the modules' debug info, which on a loaded or emulated
// machine (the lab guest: ~8x slower, files over 9p) took over 10 s.
constexpr int kReplyTimeoutMs = 60000;

struct ModuleQuery {
  uintptr_t pc;
  bool found;
  std::string path;
  uintptr_t base;
};

// absl::Symbolize (function names from the ELF symbol tables, no child
// process), loaded at its first use rather than with the runtime: its
// library and the ones it needs are not loaded into every process (issue 10:
// a per-process cost). Found by its mangled name in the Abseil build the
// runtime was compiled against (TRAPSAN_ABSL_SYMBOLIZE_LIB). Null if it
// cannot be loaded: stacks then show what llvm-symbolizer gave, or modules
// and offsets.
using AbslSymbolizeFn = bool (*)(const void* pc, char* out, int out_size);

#define TRAPSAN_STRINGIFY2(x) #x
#define TRAPSAN_STRINGIFY(x) TRAPSAN_STRINGIFY2(x)

// "_ZN4absl" [<len><inline namespace>] <len><name> <params>.
std::string AbslMangled(const char* name, const char* params) {
  std::string out = "_ZN4absl";
#if ABSL_OPTION_USE_INLINE_NAMESPACE
  const std::string ns = TRAPSAN_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  absl::StrAppend(&out, ns.size(), ns);
#endif
  absl::StrAppend(&out, strlen(name), name, "E", params);
  return out;
}

AbslSymbolizeFn AbslSymbolize() {
  static const AbslSymbolizeFn fn = []() -> AbslSymbolizeFn {
    void* lib = nullptr;
    for (const char* name : {TRAPSAN_ABSL_SYMBOLIZE_LIB,
                             TRAPSAN_ABSL_SYMBOLIZE_SONAME}) {
      lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (lib != nullptr) break;
    }
    if (lib == nullptr) return nullptr;
    auto init = reinterpret_cast<void (*)(const char*)>(
        dlsym(lib, AbslMangled("InitializeSymbolizer", "PKc").c_str()));
    auto symbolize = reinterpret_cast<AbslSymbolizeFn>(
        dlsym(lib, AbslMangled("Symbolize", "PKvPci").c_str()));
    if (init == nullptr || symbolize == nullptr) return nullptr;
    init(nullptr);
    return symbolize;
  }();
  return fn;
}

int FindModuleCallback(dl_phdr_info* info, size_t, void* data) {
  auto* q = static_cast<ModuleQuery*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (q->pc >= start && q->pc < start + ph.p_memsz) {
      q->found = true;
      q->path = info->dlpi_name != nullptr ? info->dlpi_name : "";
      q->base = info->dlpi_addr;
      return 1;
    }
  }
  return 0;
}

std::string SelfExe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, n) : "";
}

bool Executable(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         access(path.c_str(), X_OK) == 0;
}

std::string FindLlvmSymbolizer(const std::string& configured) {
  if (!configured.empty()) return Executable(configured) ? configured : "";
  const char* path_env = getenv("PATH");
  std::vector<std::string> candidates;
  for (const char* name : {"llvm-symbolizer", "llvm-symbolizer-14",
                           "llvm-symbolizer-15", "llvm-symbolizer-16"}) {
    if (path_env != nullptr) {
      for (absl::string_view dir : absl::StrSplit(path_env, ':')) {
        if (!dir.empty()) candidates.push_back(absl::StrCat(dir, "/", name));
      }
    }
  }
  for (int v = 19; v >= 14; --v) {
    candidates.push_back(absl::StrCat("/usr/lib/llvm-", v, "/bin/llvm-symbolizer"));
  }
  for (const std::string& c : candidates) {
    if (Executable(c)) return c;
  }
  return "";
}

// The environment for the child: without LD_PRELOAD (no trapsan inside the
// symbolizer) and with trapsan switched off should it be linked in anyway.
std::vector<std::string> ChildEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (strncmp(*e, "LD_PRELOAD=", 11) == 0) continue;
    if (strncmp(*e, "TRAPSAN_OPTIONS=", 16) == 0) continue;
    env.push_back(*e);
  }
  env.push_back("TRAPSAN_OPTIONS=backend=off");
  return env;
}

// Whether the program has a descriptor number free (absl's symbolizer needs
// one to open /proc/self/maps and each object file).
bool DescriptorFree() {
  const int probe = fcntl(2, F_DUPFD_CLOEXEC, 0);
  if (probe < 0) return errno != EMFILE && errno != ENFILE;
  close(probe);
  return true;
}

// write() that cannot raise SIGPIPE in the host if the symbolizer died.
bool WriteAll(int fd, const std::string& data) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  size_t done = 0;
  bool ok = true;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (!ok) {
    timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);  // Consume our pending SIGPIPE.
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return ok;
}
}  // namespace

std::string Basename(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool FindModule(uintptr_t pc, std::string* path, uintptr_t* offset) {
  ModuleQuery q{pc, false, "", 0};
  dl_iterate_phdr(FindModuleCallback, &q);
  if (!q.found) return false;
  *path = q.path.empty() ? SelfExe() : q.path;
  *offset = pc - q.base;
  return true;
}

void Symbolizer::Configure(bool enabled, const std::string& path) {
  enabled_ = enabled;
  path_ = path;
  // (absl::Symbolize is loaded at its first use: AbslSymbolize.)
}

bool Symbolizer::StartProcess() {
  if (tried_) return pid_ > 0;
  tried_ = true;
  std::string binary = FindLlvmSymbolizer(path_);
  if (binary.empty()) {
    warning_ = path_.empty()
                   ? "llvm-symbolizer not found (install llvm, or set "
                     "symbolizer_path): stacks show function names, no "
                     "file:line"
                   : absl::StrCat("symbolizer_path '", EscapeForMessage(path_),
                                  "' is not an executable file: stacks show "
                                  "function names, no file:line");
    return false;
  }
  // Its pipes are trapsan's only lasting descriptors here: in the reserve,
  // or where there is none, at the program's numbers for one report only
  // (ReleaseDescriptors). None free at all: module+offset, said clearly.
  int to_child[2], from_child[2];
  bool low = false;
  if (!OwnPipe(to_child, &low)) return NoDescriptors(errno);
  if (!OwnPipe(from_child, &low)) {
    const int e = errno;
    close(to_child[0]);
    close(to_child[1]);
    return NoDescriptors(e);
  }
  low_fds_ = low;
  std::vector<std::string> env = ChildEnvironment();
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string arg_inlines = "--inlines";
  std::string arg_demangle = "--demangle";
  std::string arg_style = "--output-style=LLVM";
  char* argv[] = {binary.data(), arg_inlines.data(), arg_demangle.data(),
                  arg_style.data(), nullptr};
  int rc = 0;
  const pid_t pid = SpawnHidden(binary.c_str(), argv, envp.data(), to_child[0],
                                from_child[1], &keeper_stack_, &rc);
  close(to_child[0]);
  close(from_child[1]);
  if (pid < 0) {
    close(to_child[1]);
    close(from_child[0]);
    low_fds_ = false;
    if (rc == EMFILE || rc == ENFILE) return NoDescriptors(rc);
    warning_ = absl::StrCat("cannot start ", EscapeForMessage(binary), ": ",
                            strerror(rc),
                            ": stacks show function names, no file:line");
    return false;
  }
  pid_ = pid;
  to_fd_ = to_child[1];
  from_fd_ = from_child[0];
  return true;
}

bool Symbolizer::NoDescriptors(int error) {
  std::string why;
  HaveFdReserve(&why);
  warning_ = absl::StrCat(
      "cannot start llvm-symbolizer: no file descriptor for its pipes (",
      strerror(error), why.empty() ? "" : "; ", why,
      "): stacks show module+offset until one is free");
  out_of_fds_ = true;
  tried_ = false;  // try again for the next report
  return false;
}

void Symbolizer::ReleaseDescriptors() {
  out_of_fds_ = false;
  if (!low_fds_) return;
  StopProcess();
  low_fds_ = false;
  tried_ = false;
}

void Symbolizer::StopProcess() {
  if (to_fd_ >= 0) close(to_fd_);
  if (from_fd_ >= 0) close(from_fd_);
  to_fd_ = from_fd_ = -1;
  if (pid_ > 0) {
    kill(pid_, SIGKILL);  // the keeper; the symbolizer dies with it
    while (waitpid(pid_, nullptr, __WALL) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
  if (keeper_stack_ != nullptr) munmap(keeper_stack_, kHiddenSpawnStackBytes);
  keeper_stack_ = nullptr;
}

void Symbolizer::ForgetProcess() {
  cache_.clear();  // The child may map other modules later.
  if (to_fd_ >= 0) close(to_fd_);
  if (from_fd_ >= 0) close(from_fd_);
  to_fd_ = from_fd_ = -1;
  low_fds_ = out_of_fds_ = false;
  pid_ = -1;
  // (The keeper shares the parent's memory, not this copy of it.)
  if (keeper_stack_ != nullptr) munmap(keeper_stack_, kHiddenSpawnStackBytes);
  keeper_stack_ = nullptr;
  tried_ = false;
}

// Sends one request; reads the reply up to the empty line that ends it.
bool Symbolizer::Ask(const std::string& request, std::string* reply) {
  if (!enabled_ || !StartProcess()) return false;
  if (!WriteAll(to_fd_, request)) {
    StopProcess();
    return false;
  }
  reply->clear();
  char buf[4096];
  for (;;) {
    if (reply->size() >= 2 && reply->compare(reply->size() - 2, 2, "\n\n") == 0) {
      return true;
    }
    pollfd pfd{from_fd_, POLLIN, 0};
    int ready = poll(&pfd, 1, kReplyTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    ssize_t n = read(from_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply->append(buf, static_cast<size_t>(n));
  }
  StopProcess();  // Dead or stuck: fall back to function names from now on.
  warning_ = "llvm-symbolizer stopped answering: later stacks show function "
             "names, no file:line";
  return false;
}

std::string Symbolizer::TakeWarning() {
  if (warned_ || warning_.empty()) return "";
  warned_ = true;
  return warning_;
}

std::vector<Frame> Symbolizer::SymbolizeCode(uintptr_t pc) {
  auto cached = cache_.find(pc);
  if (cached != cache_.end()) return cached->second;
  Frame base;
  base.pc = pc;
  std::string module;
  if (FindModule(pc, &module, &base.module_offset)) {
    base.module = Basename(module);
  }
  std::vector<Frame> frames;
  std::string reply;
  if (!module.empty() &&
      Ask(absl::StrCat("CODE \"", module, "\" 0x",
                       absl::Hex(base.module_offset), "\n"),
          &reply)) {
    std::vector<std::string> lines =
        absl::StrSplit(reply, '\n', absl::SkipEmpty());
    for (size_t i = 0; i + 1 < lines.size(); i += 2) {
      Frame f = base;
      if (lines[i] != "??") f.function = lines[i];
      // file:line:column; the file name itself may contain ':'.
      std::vector<std::string> parts = absl::StrSplit(lines[i + 1], ':');
      if (parts.size() >= 3 && parts[0] != "??") {
        int line = 0;
        absl::SimpleAtoi(parts[parts.size() - 2], &line);
        f.line = line;
        std::string file = parts[0];
        for (size_t p = 1; p + 2 < parts.size(); ++p) {
          absl::StrAppend(&file, ":", parts[p]);
        }
        if (line > 0) f.file = file;
      }
      frames.push_back(f);
    }
  }
  if (frames.empty() || (frames.size() == 1 && frames[0].function.empty())) {
    frames.assign(1, base);
    char name[1024];
    // absl opens the object files (and keeps them open): not when the
    // program used every descriptor (it would print a raw error line).
    if (enabled_ && !out_of_fds_ && DescriptorFree() &&
        AbslSymbolize() != nullptr &&
        AbslSymbolize()(reinterpret_cast<void*>(pc), name, sizeof(name))) {
      frames[0].function = name;
    }
    if (frames[0].function.empty() && out_of_fds_) return frames;  // uncached
  }
  cache_[pc] = frames;
  return frames;
}

bool Symbolizer::SymbolizeData(uintptr_t addr, DataSymbol* out) {
  std::string module;
  uintptr_t offset = 0;
  if (!FindModule(addr, &module, &offset)) return false;
  std::string reply;
  if (Ask(absl::StrCat("DATA \"", module, "\" 0x", absl::Hex(offset), "\n"),
          &reply)) {
    // "name\nstart size\n\n"
    std::vector<std::string> lines =
        absl::StrSplit(reply, '\n', absl::SkipEmpty());
    if (lines.size() >= 2 && lines[0] != "??") {
      std::vector<std::string> nums = absl::StrSplit(lines[1], ' ');
      uint64_t start = 0, size = 0;
      if (nums.size() == 2 && absl::SimpleAtoi(nums[0], &start) &&
          absl::SimpleAtoi(nums[1], &size) && offset >= start &&
          (size == 0 || offset < start + size)) {
        out->name = lines[0];
        out->start = addr - (offset - start);
        out->size = size;
        return true;
      }
    }
  }
  // Exported symbols only, but no child process needed.
  Dl_info info;
  const ElfW(Sym)* sym = nullptr;
  if (dladdr1(reinterpret_cast<void*>(addr), &info,
              reinterpret_cast<void**>(const_cast<ElfW(Sym)**>(&sym)), RTLD_DL_SYMENT) != 0 &&
      sym != nullptr && info.dli_sname != nullptr) {
    uintptr_t start = reinterpret_cast<uintptr_t>(info.dli_saddr);
    if (addr >= start && addr < start + sym->st_size) {
      out->name = info.dli_sname;
      out->start = start;
      out->size = sym->st_size;
      return true;
    }
  }
  return false;
}

Symbolizer& GetSymbolizer() {
  static Symbolizer* symbolizer = new Symbolizer;  // Never destroyed: used at exit.
  return *symbolizer;
}

}  // namespace trapsan
