#include "symbolizer.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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


// The symbolizer's keeper (SpawnHidden) shares the program's memory and
// outlives the call that made it: it must not touch errno, thread-local
// storage or any lock. Raw system calls: the result, or -errno.
__attribute__((always_inline)) inline long Sys(long n, long a = 0, long b = 0,
                                               long c = 0, long d = 0,
                                               long e = 0) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
}

struct KeeperArgs {
  const char* binary;
  char* const* argv;
  char* const* envp;
  int in_fd, out_fd;  // become the symbolizer's stdin and stdout
  int status_fd;      // gets the exec's errno; closes when the exec worked
  bool quiet;         // quiet=1: its stderr is /dev/null (sink.h)
};

[[noreturn, gnu::always_inline]] inline void SysExit(int status) {
  for (;;) Sys(SYS_exit_group, status);
}

// Marks every descriptor from 3 on close-on-exec (or closes every one).
[[gnu::always_inline]] inline void SysCloseFrom(int first, bool on_exec) {
  constexpr unsigned kCloseRangeCloexec = 4;  // CLOSE_RANGE_CLOEXEC (5.11)
  if (Sys(SYS_close_range, first, ~0u, on_exec ? kCloseRangeCloexec : 0) == 0)
    return;
  struct {
    uint64_t cur, max;
  } lim{65536, 65536};
  Sys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, reinterpret_cast<long>(&lim));
  const long end = lim.cur < 65536 ? static_cast<long>(lim.cur) : 65536;
  for (long fd = first; fd < end; ++fd) {
    if (on_exec)
      Sys(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
    else
      Sys(SYS_close, fd);
  }
}

// The symbolizer-to-be: a copy of the keeper (of the program's memory) until
// its execve. `keeper`: its parent, which it dies with.
[[noreturn, gnu::noinline, gnu::no_stack_protector]] void SymbolizerChild(
    const KeeperArgs& a, long keeper) {
  int e = 0;
  Sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  if (Sys(SYS_getppid) != keeper) SysExit(127);
  // Above 2 first, so that 0 and 1 cannot be one of them. (Only those below
  // 3 are moved: the program may hold every other number below its limit,
  // and the pipes are then above it, in trapsan's reserve.)
  const long in = a.in_fd > 2 ? a.in_fd : Sys(SYS_fcntl, a.in_fd, F_DUPFD_CLOEXEC, 3);
  const long out = a.out_fd > 2 ? a.out_fd : Sys(SYS_fcntl, a.out_fd, F_DUPFD_CLOEXEC, 3);
  long r = in < 0 ? in : out < 0 ? out : Sys(SYS_dup2, in, 0);
  if (r >= 0) r = Sys(SYS_dup2, out, 1);
  if (r >= 0 && a.quiet) {
    // Its warnings (a module it cannot read...) are not reports.
    static const char kNull[] = "/dev/null";
    const long null_fd = Sys(SYS_openat, AT_FDCWD, reinterpret_cast<long>(kNull),
                             O_WRONLY | O_CLOEXEC);
    if (null_fd >= 0 && null_fd != 2) Sys(SYS_dup2, null_fd, 2);
  }
  if (r < 0) {
    e = static_cast<int>(-r);
  } else {
    SysCloseFrom(3, /*on_exec=*/true);  // none of the program's descriptors
    const uint64_t none = 0;
    Sys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&none), 0, 8);
    e = static_cast<int>(-Sys(SYS_execve, reinterpret_cast<long>(a.binary),
                              reinterpret_cast<long>(a.argv),
                              reinterpret_cast<long>(a.envp)));
  }
  Sys(SYS_write, a.status_fd, reinterpret_cast<long>(&e), sizeof e);
  SysExit(127);
}

// The keeper: on its own stack and thread pointer, in the program's memory
// (CLONE_VM: nothing copied, nothing kept alive), with its own descriptor
// table. Starts the symbolizer, closes every descriptor, waits for it and
// exits with it.
[[gnu::noinline, gnu::no_stack_protector]] int KeeperMain(void* p) {
  const uint64_t all = ~0ull;
  Sys(SYS_rt_sigprocmask, SIG_SETMASK, reinterpret_cast<long>(&all), 0, 8);
  const KeeperArgs a = *static_cast<const KeeperArgs*>(p);
  const long self = Sys(SYS_getpid);
  // fork() as a raw clone: a copy of this memory until the child's execve.
  const long child = Sys(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (child == 0) SymbolizerChild(a, self);
  if (child < 0) {
    const int e = static_cast<int>(-child);
    Sys(SYS_write, a.status_fd, reinterpret_cast<long>(&e), sizeof e);
    SysExit(127);
  }
  // (From here on `p`, in the caller's frame, may be gone.)
  SysCloseFrom(0, /*on_exec=*/false);
  while (Sys(SYS_wait4, child, 0, 0, 0) == -EINTR) {
  }
  SysExit(0);
}

constexpr size_t kKeeperStackBytes = 64 * 1024;

// A pipe of trapsan's own: in the descriptor reserve (linux/fd_reserve.h),
// or, where there is none, at the program's numbers (*low set: the caller
// holds it only for as long as it needs it). False with errno set.
bool OwnPipe(int fds[2], bool* low) {
  if (ReservePipe(fds)) return true;
  std::string why;
  if (HaveFdReserve(&why)) return false;  // the reserve is full
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  *low = true;
  return true;
}

// Starts `binary` (stdin from in_fd, stdout to out_fd) so that the program
// cannot see it: not as the program's child, but as the child of a keeper
// process whose exit signal is 0. wait(), waitpid(-1, ...) and
// waitid(P_ALL, ...) without __WALL or __WCLONE never return such a child,
// and its end sends the program no SIGCHLD. (The symbolizer itself cannot be
// that child: execve resets the exit signal to SIGCHLD. A program that reaps
// every child, `while (wait(&s) > 0)`, waited for it for ever.) The keeper
// shares the program's memory (a fork would keep a copy of it alive for as
// long as the symbolizer runs), holds no descriptor, and exits with the
// symbolizer; the symbolizer dies with the keeper (PR_SET_PDEATHSIG) and ends
// by itself when its stdin closes. Returns the keeper's pid (reap it with
// waitpid(pid, ..., __WALL), then unmap *stack), or -1 with *error set.
pid_t SpawnHidden(const char* binary, char* const* argv, char* const* envp,
                  int in_fd, int out_fd, void** stack, int* error) {
  int status[2];
  bool low = false;
  if (!OwnPipe(status, &low)) {
    *error = errno;
    return -1;
  }
  void* memory = mmap(nullptr, kKeeperStackBytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (memory == MAP_FAILED) {
    *error = errno;
    close(status[0]);
    close(status[1]);
    return -1;
  }
  // The keeper's thread pointer: a zeroed block at the bottom of its stack
  // mapping that points to itself (as a TCB does), not the calling thread's,
  // which may exit while the keeper runs.
  auto* tcb = static_cast<uintptr_t*>(memory);
  tcb[0] = reinterpret_cast<uintptr_t>(tcb);
  KeeperArgs args{binary, argv, envp, in_fd, out_fd, status[1],
                  QuietOutput()};
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid =
      clone(KeeperMain, static_cast<char*>(memory) + kKeeperStackBytes,
            CLONE_VM | CLONE_SETTLS /* | exit signal 0 */, &args, nullptr,
            tcb, nullptr);
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  close(status[1]);
  if (pid < 0) {
    close(status[0]);
    munmap(memory, kKeeperStackBytes);
    *error = clone_errno;
    return -1;
  }
  // EOF once the symbolizer exec'd (the keeper closed its copy by then);
  // its errno if it could not.
  int e = 0;
  ssize_t n;
  while ((n = read(status[0], &e, sizeof e)) < 0 && errno == EINTR) {
  }
  close(status[0]);
  if (n != 0) {
    while (waitpid(pid, nullptr, __WALL) < 0 && errno == EINTR) {
    }
    munmap(memory, kKeeperStackBytes);
    *error = n == static_cast<ssize_t>(sizeof e) && e != 0 ? e : ECHILD;
    return -1;
  }
  *stack = memory;
  return pid;
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
  if (keeper_stack_ != nullptr) munmap(keeper_stack_, kKeeperStackBytes);
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
  if (keeper_stack_ != nullptr) munmap(keeper_stack_, kKeeperStackBytes);
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
