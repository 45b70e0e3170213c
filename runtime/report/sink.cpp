#include "sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/core/options.h"
#include "runtime/linux/fd_reserve.h"
#include "runtime/report/sarif.h"
#include "runtime/report/symbolizer.h"

namespace trapsan {
namespace {

void WriteAll(int fd, const char* data, size_t size) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

void PwriteAll(int fd, const std::string& text, uint64_t offset) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = pwrite(fd, text.data() + done, text.size() - done,
                       static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Fields of /proc/self/stat before starttime (field 22) that follow the
// command's closing parenthesis: state (3) to itrealvalue (21).
constexpr int kStatFieldsBeforeStart = 19;

}  // namespace

int64_t ProcessStartRealtimeNs() {
  // Per process: a fork child starts anew (its own start time); an exec'd
  // image has its predecessor's, as the kernel keeps it.
  char buf[1024];
  int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* p = strrchr(buf, ')');  // the command may hold ')' and ' '
  if (p == nullptr) return 0;
  ++p;
  for (int field = 0; field < kStatFieldsBeforeStart; ++field) {
    while (*p == ' ') ++p;
    while (*p != ' ' && *p != '\0') ++p;
  }
  char* end = nullptr;
  const unsigned long long ticks = strtoull(p, &end, 10);
  const long hz = sysconf(_SC_CLK_TCK);
  if (end == p || hz <= 0) return 0;
  // starttime counts clock ticks of CLOCK_BOOTTIME; file times are
  // CLOCK_REALTIME.
  timespec boot, real;
  clock_gettime(CLOCK_BOOTTIME, &boot);
  clock_gettime(CLOCK_REALTIME, &real);
  const int64_t start_boot_ns =
      static_cast<int64_t>(ticks / hz) * 1000000000 +
      static_cast<int64_t>(ticks % hz) * (1000000000 / hz);
  const int64_t boot_ns = boot.tv_sec * int64_t{1000000000} + boot.tv_nsec;
  const int64_t real_ns = real.tv_sec * int64_t{1000000000} + real.tv_nsec;
  return real_ns - (boot_ns - start_boot_ns);
}

bool LogFileOfEarlierProcess(int64_t file_mtime_ns, int64_t process_start_ns) {
  if (process_start_ns <= 0) return false;  // unknown: keep it
  return file_mtime_ns < process_start_ns - kLogFileTimeSlackNs;
}

bool QuietOutput() { return GetOptions().quiet; }

ReportFormat CurrentFormat() {
  const Options& o = GetOptions();
  if (o.format == "json") return ReportFormat::kJson;
  if (o.format == "sarif") return ReportFormat::kSarif;
  return ReportFormat::kText;
}

const std::string& ExePath() {
  // Per process image: an exec'd image initializes anew; a fork child has
  // its parent's.
  // Never destroyed: reports and the summary are written during exit.
  static const std::string* exe = [] {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    return new std::string(n > 0 ? std::string(buf, static_cast<size_t>(n))
                                 : "");
  }();
  return *exe;
}

std::string LogFileName(const std::string& prefix, const std::string& exe,
                        bool with_exe, int pid, ReportFormat format) {
  std::string name = prefix;
  if (with_exe && !exe.empty()) absl::StrAppend(&name, ".", Basename(exe));
  absl::StrAppend(&name, ".", pid);
  if (format == ReportFormat::kJson) name += ".jsonl";
  if (format == ReportFormat::kSarif) name += ".sarif";
  return name;
}

void Sink::Configure() {
  const Options& o = GetOptions();
  discard_ = o.log_path == "/dev/null";
  fixed_ = false;
  if (o.log_path == "stderr") {
    fixed_ = true;
    fixed_fd_ = 2;
  } else if (o.log_path == "stdout") {
    fixed_ = true;
    fixed_fd_ = 1;
  }
  if (discard_ || fixed_) return;
  struct stat st;
  if (stat(o.log_path.c_str(), &st) == 0 &&
      (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
    // A device or pipe named explicitly: written as is, no .PID.
    int fd = open(o.log_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    fd = ReserveFd(fd);
    if (fd >= 0) {
      fixed_ = true;
      fixed_fd_ = fd;
      return;
    }
  }
  // The file is created at the first report; say now if it could not be.
  std::string path = o.log_path.c_str();
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "."
                    : slash == 0               ? "/"
                                               : path.substr(0, slash);
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    const int e = errno;
    const int pid = getpid();
    std::string name = LogFileName(path, ExePath(), o.log_exe_name, pid,
                                   CurrentFormat());
    std::string msg = absl::StrCat(
        "trapsan: ERROR: cannot open log_path '",
        EscapeForMessage(name, sizeof(o.log_path.text) + 64), "': ",
        strerror(e), "; reporting to stderr\n");
    WriteAll(2, msg.data(), msg.size());
    failed_pid_ = said_pid_ = pid;
  }
}

int Sink::ReportFd(bool* transient) {
  *transient = false;
  if (discard_) return -1;
  if (fixed_) return fixed_fd_;
  const Options& o = GetOptions();
  const int pid = getpid();
  if (fd_ >= 0 && fd_pid_ == pid) return fd_;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (fd_pid_ != pid) created_ = false;
  fd_pid_ = pid;
  // Said once per process; later reports go to stderr without trying again,
  // unless it was for want of a free descriptor.
  if (failed_pid_ == pid) return 2;
  const ReportFormat format = CurrentFormat();
  std::string path = LogFileName(o.log_path.c_str(), ExePath(),
                                 o.log_exe_name, pid, format);
  // SARIF is rewritten in place (pwrite ignores offsets under O_APPEND),
  // and its end is read back (ContinueSarifLog).
  int flags = format == ReportFormat::kSarif ? O_RDWR : O_WRONLY | O_APPEND;
  flags |= O_CREAT | O_CLOEXEC;
  int fd = open(path.c_str(), flags, 0644);
  // A file last written before this process started is an earlier
  // process's of the same pid (pids are reused): it starts over, as under
  // TSan. One written since is this process's, by the image it exec'd from:
  // its reports are kept and these follow them.
  struct stat st;
  if (fd >= 0 && !created_) {
    sarif_continued_ = false;
    const bool have_stat = fstat(fd, &st) == 0;
    const bool earlier =
        have_stat &&
        LogFileOfEarlierProcess(
            st.st_mtim.tv_sec * int64_t{1000000000} + st.st_mtim.tv_nsec,
            ProcessStartRealtimeNs());
    if (format == ReportFormat::kSarif) {
      if (!have_stat || earlier || !ContinueSarifLog(fd, st.st_size)) {
        (void)!ftruncate(fd, 0);
      }
    } else if (earlier && st.st_size > 0) {
      (void)!ftruncate(fd, 0);
    }
  }
  // Kept in the descriptor reserve (linux/fd_reserve.h); where there is
  // none, opened for each write.
  std::string no_reserve;
  const bool keep = fd >= 0 && HaveFdReserve(&no_reserve);
  if (keep) fd = ReserveFd(fd);
  if (fd < 0) {
    const int e = errno;
    if (said_pid_ != pid) {
      std::string msg = absl::StrCat(
          "trapsan: ERROR: cannot open log_path '",
          EscapeForMessage(path, sizeof(o.log_path.text) + 64), "': ",
          strerror(e), "; reporting to stderr\n");
      WriteAll(2, msg.data(), msg.size());
      said_pid_ = pid;
    }
    if (e != EMFILE && e != ENFILE) failed_pid_ = pid;
    return 2;
  }
  created_ = true;
  if (!keep) {
    *transient = true;
    return fd;
  }
  fd_ = fd;
  return fd;
}

bool Sink::ContinueSarifLog(int fd, int64_t size) {
  // The image before the exec left a complete log: its results end where
  // its closing part begins.
  const std::string tail = SarifLogTail();
  if (size <= static_cast<int64_t>(tail.size())) return false;
  std::string end(tail.size(), '\0');
  const off_t at = static_cast<off_t>(size - static_cast<int64_t>(tail.size()));
  if (pread(fd, &end[0], end.size(), at) != static_cast<ssize_t>(end.size()) ||
      end != tail) {
    return false;
  }
  sarif_tail_at_ = static_cast<uint64_t>(at);
  sarif_continued_ = true;
  return true;
}

void Sink::Done(int fd, bool transient) {
  if (transient) close(fd);
}

void Sink::WriteReport(const std::string& text) {
  bool transient;
  int fd = ReportFd(&transient);
  if (fd < 0) return;
  WriteAll(fd, text.data(), text.size());
  Done(fd, transient);
}

void Sink::WriteSarifResult(const std::string& result) {
  if (discard_) return;
  if (fixed_) {  // A stream: one log at exit.
    absl::StrAppend(&sarif_results_, sarif_results_.empty() ? "" : ",\n",
                    result);
    return;
  }
  bool first = fd_pid_ != getpid() || !created_;
  bool transient;
  int fd = ReportFd(&transient);
  if (sarif_continued_) first = false;  // results after the earlier image's
  if (fd < 0) return;
  if (fd == 2) {  // The file could not be created: a log on stderr at exit.
    absl::StrAppend(&sarif_results_, sarif_results_.empty() ? "" : ",\n",
                    result);
    return;
  }
  // One pwrite per result: the file is a complete log before and after it.
  std::string text;
  if (first) {
    text = absl::StrCat(SarifLogHead(getpid(), ExePath()), result);
    sarif_tail_at_ = 0;
  } else {
    text = absl::StrCat(",\n", result);
  }
  const uint64_t at = sarif_tail_at_;
  sarif_tail_at_ += text.size();
  PwriteAll(fd, absl::StrCat(text, SarifLogTail()), at);
  Done(fd, transient);
}

void Sink::WriteMessage(MessageKind kind, const std::string& text) {
  if (discard_) return;
  if (kind == MessageKind::kInfo && QuietOutput()) return;
  if (CurrentFormat() != ReportFormat::kText) {
    WriteAll(2, text.data(), text.size());
    return;
  }
  if (fixed_) {
    WriteAll(fixed_fd_, text.data(), text.size());
    return;
  }
  // Into the report file only once this process has one.
  if (created_ && fd_pid_ == getpid() && failed_pid_ != fd_pid_) {
    WriteReport(text);
    return;
  }
  WriteAll(2, text.data(), text.size());
}

void Sink::Finish() {
  if (sarif_results_.empty()) return;
  std::string log = absl::StrCat(SarifLogHead(getpid(), ExePath()),
                                 sarif_results_, SarifLogTail());
  sarif_results_.clear();
  WriteAll(fixed_ ? fixed_fd_ : 2, log.data(), log.size());
}

void Sink::ResetInChild() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  created_ = false;
  sarif_continued_ = false;
  sarif_results_.clear();
  sarif_tail_at_ = 0;
}

Sink& GetSink() {
  static Sink* sink = new Sink;  // Never destroyed: used during exit.
  return *sink;
}

}  // namespace trapsan
