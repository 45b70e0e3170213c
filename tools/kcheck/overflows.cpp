// Property 6, many_overflows: an event keeps firing, one SIGTRAP per write,
// after many overflows (before 6.1 an event could be left disabled after an
// overflow, or stop for good after a lost SIGTRAP).
//
// Property 7, refresh (INFO): PERF_EVENT_IOC_REFRESH(N) on a sigtrap event
// gives exactly N SIGTRAPs, then the event stops until refreshed again
// (unusable with sigtrap before 6.1). trapsan does not use REFRESH.
#include <errno.h>
#include <linux/perf_event.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <string>

#include "tools/kcheck/kcheck.h"

namespace kcheck {
namespace {
alignas(64) volatile uint64_t g_spot;
}  // namespace

void CheckManyOverflows(const Options& o, Report* r) {
  const unsigned long kSig = 0x6b63686b06000000ul;
  BpSpec s;
  s.addr = &g_spot;
  s.sig_data = kSig;
  int fd = OpenLoggedBp(s, kFail, r);
  if (fd < 0) return;
  const long n = o.quick ? 30000 : 100000;
  long missing = 0, extra = 0, first_missing = -1;
  double start = Now();
  for (long i = 0; i < n; ++i) {
    long before = TrapCount();
    g_spot = i;
    long got = TrapCount() - before;
    if (got == 0) {
      ++missing;
      if (first_missing < 0) first_missing = i;
    } else if (got > 1) {
      extra += got - 1;
    }
  }
  double per_trap_us = (Now() - start) / n * 1e6;
  close(fd);
  long received = TrapCount();
  r->Num("expected", n);
  r->Num("received", received);
  r->Num("missing", missing);
  r->Num("duplicated", extra);
  r->Num("first_missing_at", first_missing);
  r->Num("wrong_sig_data", g_trap_log.wrong_data);
  r->Num("wrong_si_addr", g_trap_log.wrong_addr);
  r->Num("not_trap_perf", g_trap_log.not_perf);
  r->Num("us_per_trap", per_trap_us);
  bool ok = received == n && missing == 0 && extra == 0 &&
            g_trap_log.wrong_data == 0 && g_trap_log.wrong_addr == 0 &&
            g_trap_log.not_perf == 0;
  r->Set(ok ? kPass : kFail, ok,
         "signals expected %ld, received %ld, missing %ld%s, duplicated %ld, "
         "wrong sig_data %ld; %.2f us per trapped write",
         n, received, missing,
         missing ? (" (first at write " + std::to_string(first_missing) + ")")
                       .c_str()
                 : "",
         extra, g_trap_log.wrong_data, per_trap_us);
}

void CheckRefresh(const Options&, Report* r) {
  const unsigned long kSig = 0x6b63686b07000000ul;
  BpSpec s;
  s.addr = &g_spot;
  s.sig_data = kSig;
  s.disabled = true;
  s.inherit = false;  // REFRESH refuses inherited events
  int fd = OpenLoggedBp(s, kInfo, r);
  if (fd < 0) return;
  const int kWrites = 20;
  auto writes = [&] {
    long before = TrapCount();
    for (int i = 0; i < kWrites; ++i) g_spot = i;
    return static_cast<int>(TrapCount() - before);
  };
  int first = -1, after_stop = -1, after_refresh = -1, after_enable = -1;
  int refresh_errno = 0;
  if (ioctl(fd, PERF_EVENT_IOC_REFRESH, 5) != 0) {
    refresh_errno = errno;
  } else {
    first = writes();
    after_stop = writes();
    if (ioctl(fd, PERF_EVENT_IOC_REFRESH, 3) != 0) refresh_errno = errno;
    after_refresh = writes();
    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
    after_enable = writes();
  }
  uint64_t count = 0;  // what the kernel counted (default read_format)
  if (read(fd, &count, sizeof(count)) != sizeof(count)) count = 0;
  close(fd);
  r->Num("refresh_5_traps", first);
  r->Num("traps_after_limit", after_stop);
  r->Num("second_refresh_3_traps", after_refresh);
  r->Num("enable_after_limit_traps", after_enable);
  r->Num("event_count", static_cast<double>(count));
  r->Num("refresh_errno", refresh_errno);
  r->Num("wrong_sig_data", g_trap_log.wrong_data);
  if (refresh_errno != 0) {
    r->Set(kInfo, false,
           "PERF_EVENT_IOC_REFRESH failed: %s (not used by trapsan)",
           strerror(refresh_errno));
    return;
  }
  bool ok = first == 5 && after_stop == 0 && g_trap_log.wrong_data == 0;
  r->Set(kInfo, ok,
         "%s: %d writes after REFRESH(5) trapped %d, %d more trapped %d; "
         "then a second REFRESH(3) gave %d and ENABLE %d traps%s (not used "
         "by trapsan)",
         ok ? "as expected" : "UNEXPECTED", kWrites, first, kWrites,
         after_stop, after_refresh, after_enable,
         after_refresh == 0 && after_enable == 0
             ? " (a breakpoint that reached its limit never fires again)"
             : "");
}

}  // namespace kcheck
