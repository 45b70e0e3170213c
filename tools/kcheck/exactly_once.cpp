// Property 5, exactly_once: every expected SIGTRAP arrives exactly once, in
// the thread that made the access, with the current sig_data, while
//  - worker threads (more than there are CPUs: context switches) write the
//    watched variable in a loop and hop CPUs with sched_setaffinity (forced
//    migrations), and
//  - a toggler thread keeps enabling, disabling and modifying the event
//    (address, type, sig_data), the race fixed by Linux 6.1's ca6c21327c6a
//    "perf: Fix missing SIGTRAPs".
//
// Ground truth. The toggler publishes one atomic state word: a sequence
// number, a phase and the current sig_data index. ARMED is published after
// the enabling ioctl (ENABLE or MODIFY_ATTRIBUTES with disabled=0 on the
// watched variable) returned; before an ioctl starts it publishes TRANSIT;
// DISARMED after a DISABLE returned, DECOY after a MODIFY moved the event to
// a variable nobody writes. A worker loads the word, writes, loads it again:
// the same word twice means nothing changed around the write, so
//   ARMED             the write must trap exactly once, with that sig_data,
//                     in this thread, before the second load (the handler
//                     runs on the way back to user mode);
//   DISARMED, DECOY   the write must not trap;
//   TRANSIT, changed  ambiguous: at most one trap.
// The handler counts traps per thread and knows whether the thread is inside
// an access window: a trap outside one is late (the thread made an access
// that could have trapped and did not, since its last trap) or misdirected
// (it did not, or it is not a worker at all).
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tools/kcheck/kcheck.h"

namespace kcheck {
namespace {

alignas(64) volatile uint64_t g_spot;
alignas(64) volatile uint64_t g_decoy;
alignas(64) std::atomic<uint64_t> g_state{0};
alignas(64) std::atomic<bool> g_stop{false};

enum Phase : uint64_t { kDisarmed = 0, kTransit = 1, kArmed = 2, kDecoy = 3 };
constexpr uint64_t kIdxMask = (1u << 30) - 1;
constexpr unsigned long kSigMagic = 0x6b63ul << 48;

uint64_t Pack(uint64_t seq, Phase p, uint64_t idx) {
  return (seq << 32) | (static_cast<uint64_t>(p) << 30) | (idx & kIdxMask);
}
Phase PhaseOf(uint64_t s) { return static_cast<Phase>((s >> 30) & 3); }
unsigned long SigOf(uint64_t idx) { return kSigMagic | (idx & kIdxMask); }

// Per-thread state the handler updates (initial-exec TLS: async-signal-safe).
struct Tls {
  volatile int worker;
  volatile int in_access;
  volatile int owes_trap;  // an access since the last trap could have trapped
  volatile long traps;
  volatile unsigned long last_data;
  volatile long late, misdirected, not_perf, wrong_addr, async;
};
__thread Tls t_tls __attribute__((tls_model("initial-exec")));
std::atomic<long> g_nonworker_traps{0};

void Handler(int, siginfo_t* si, void*) {
  Tls& t = t_tls;
  if (!t.worker) {
    g_nonworker_traps.fetch_add(1);
    return;
  }
  PerfFields f = ReadPerf(si);
  t.traps = t.traps + 1;
  t.last_data = f.data;
  if (si->si_code != TRAP_PERF || f.type != kPerfTypeBreakpoint) {
    t.not_perf = t.not_perf + 1;
  }
  if (reinterpret_cast<uintptr_t>(si->si_addr) !=
      reinterpret_cast<uintptr_t>(&g_spot)) {
    t.wrong_addr = t.wrong_addr + 1;
  }
  if (f.flags & kPerfFlagAsync) t.async = t.async + 1;
  if (!t.in_access) {
    if (t.owes_trap) {
      t.late = t.late + 1;
    } else {
      t.misdirected = t.misdirected + 1;
    }
  }
  t.owes_trap = 0;  // a trap settles what the thread owed
}

struct alignas(64) Counts {
  long expected = 0, trapped = 0, missing = 0, duplicated = 0, stale = 0;
  long quiet = 0, spurious = 0, ambiguous = 0, ambiguous_trapped = 0;
  long late = 0, misdirected = 0, not_perf = 0, wrong_addr = 0, async = 0;
  long migrations = 0, accesses = 0, traps = 0;
  std::atomic<long> live_expected{0}, live_missing{0};
};

uint64_t XorShift(uint64_t* s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

void Worker(int id, int ncpu, Counts* c) {
  t_tls.worker = 1;
  // Lower priority than the toggler, so that its ioctls (the moments where
  // accesses are ambiguous) are not stretched by preemption.
  setpriority(PRIO_PROCESS, static_cast<id_t>(Tid()), 10);
  uint64_t rng = 0x9e3779b97f4a7c15ull * (id + 1);
  int last_cpu = sched_getcpu();
  for (uint64_t i = 0; !g_stop.load(std::memory_order_relaxed); ++i) {
    if (ncpu > 1 && i % 16 == 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(static_cast<int>(XorShift(&rng) % ncpu), &set);
      sched_setaffinity(0, sizeof(set), &set);
      int cpu = sched_getcpu();
      if (cpu != last_cpu) ++c->migrations;
      last_cpu = cpu;
    } else if (i % 64 == 7) {
      sched_yield();
    }
    uint64_t e1 = g_state.load(std::memory_order_seq_cst);
    long t0 = t_tls.traps;
    t_tls.in_access = 1;
    g_spot = i;
    t_tls.in_access = 0;
    asm volatile("" ::: "memory");
    uint64_t e2 = g_state.load(std::memory_order_seq_cst);
    long got = t_tls.traps - t0;
    ++c->accesses;
    Phase p = PhaseOf(e1);
    if (e1 == e2 && p == kArmed) {
      ++c->expected;
      if (got == 0) {
        ++c->missing;
        t_tls.owes_trap = 1;
      } else {
        ++c->trapped;
        if (got > 1) c->duplicated += got - 1;
        if (t_tls.last_data != SigOf(e1)) ++c->stale;
      }
    } else if (e1 == e2 && (p == kDisarmed || p == kDecoy)) {
      ++c->quiet;
      if (got > 0) c->spurious += got;
    } else {
      ++c->ambiguous;
      if (got > 0) ++c->ambiguous_trapped;
      if (got > 1) c->duplicated += got - 1;
      if (got == 0) t_tls.owes_trap = 1;
    }
    if ((i & 1023) == 0) {
      c->live_expected.store(c->expected, std::memory_order_relaxed);
      c->live_missing.store(c->missing, std::memory_order_relaxed);
    }
  }
  c->late = t_tls.late;
  c->misdirected = t_tls.misdirected;
  c->not_perf = t_tls.not_perf;
  c->wrong_addr = t_tls.wrong_addr;
  c->async = t_tls.async;
  c->traps = t_tls.traps;
  c->live_expected.store(c->expected);
}

struct ToggleStats {
  long modifies = 0, enables = 0, disables = 0, decoys = 0, errors = 0;
  double armed_seconds = 0, transit_seconds = 0;
};

void Spin(double seconds) {
  double end = Now() + seconds;
  while (Now() < end) {
  }
}

void Toggler(int fd, ToggleStats* st) {
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  uint64_t rng = 0x243f6a8885a308d3ull;
  uint64_t seq = 1, idx = 0;
  bool enabled = false, on_spot = true;
  BpSpec s;
  auto publish = [&](Phase p) {
    g_state.store(Pack(++seq, p, idx), std::memory_order_seq_cst);
  };
  auto modify = [&](bool spot) {
    ++idx;
    s.addr = spot ? static_cast<volatile void*>(&g_spot)
                  : static_cast<volatile void*>(&g_decoy);
    s.sig_data = SigOf(idx);
    s.rw = XorShift(&rng) % 2;
    s.disabled = false;
    if (ModifyBp(fd, s) != 0) ++st->errors;
    on_spot = spot;
    enabled = true;
    ++(spot ? st->modifies : st->decoys);
  };
  publish(kDisarmed);
  while (!g_stop.load(std::memory_order_relaxed)) {
    uint64_t r = XorShift(&rng) % 100;
    publish(kTransit);
    double t_transit = Now();
    if (!enabled) {
      if (r < 55) {
        modify(true);
      } else if (r < 80) {
        if (EnableBp(fd) != 0) ++st->errors;
        enabled = true;
        ++st->enables;
      } else {
        modify(false);
      }
    } else {
      if (r < 60) {
        if (DisableBp(fd) != 0) ++st->errors;
        enabled = false;
        ++st->disables;
      } else if (r < 90) {
        modify(true);
      } else {
        modify(false);
      }
    }
    st->transit_seconds += Now() - t_transit;
    Phase now = !enabled ? kDisarmed : on_spot ? kArmed : kDecoy;
    publish(now);
    // Hold: long while armed (most accesses should be checked), short
    // otherwise; sometimes not at all (toggle right behind a trap).
    uint64_t h = XorShift(&rng) % 16;
    double start = Now();
    if (now == kArmed) {
      if (h == 0) {
      } else if (h < 6) {
        Spin(1e-6 * static_cast<double>(XorShift(&rng) % 60));
      } else {
        SleepSeconds(1e-6 * static_cast<double>(200 + XorShift(&rng) % 1000));
      }
      st->armed_seconds += Now() - start;
    } else if (h >= 8) {
      Spin(1e-6 * static_cast<double>(XorShift(&rng) % 10));
    }
  }
  publish(kTransit);
  DisableBp(fd);
}

}  // namespace

void CheckExactlyOnce(const Options& o, Report* r) {
  InstallTrapHandler(Handler);
  BpSpec s;
  s.addr = &g_spot;
  s.sig_data = SigOf(0);
  s.disabled = true;
  int fd = OpenBp(s);
  if (fd < 0) {
    r->Set(kFail, false, "perf_event_open: %s", strerror(errno));
    return;
  }
  const int ncpu = CpuCount();
  int nworkers = ncpu + 2;
  if (nworkers < 4) nworkers = 4;
  if (nworkers > 32) nworkers = 32;
  const double seconds = ExactlyOnceSeconds(o);

  std::vector<Counts> counts(nworkers);
  ToggleStats ts;
  rusage ru0;
  getrusage(RUSAGE_SELF, &ru0);
  double start = Now();
  std::vector<std::thread> threads;
  for (int i = 0; i < nworkers; ++i) {
    threads.emplace_back(Worker, i, ncpu, &counts[i]);
  }
  std::thread toggler(Toggler, fd, &ts);

  double next_progress = start + 10;
  for (;;) {
    double now = Now();
    if (now - start >= seconds) break;
    SleepSeconds(std::min(0.05, seconds - (now - start)));
    if (o.stress_seconds > 0 && Now() >= next_progress) {
      long e = 0, m = 0;
      for (const Counts& c : counts) {
        e += c.live_expected.load(std::memory_order_relaxed);
        m += c.live_missing.load(std::memory_order_relaxed);
      }
      fprintf(stderr,
              "trapsan-kcheck: exactly_once %.0f s: %ld watched accesses "
              "checked, %ld missing so far\n",
              Now() - start, e, m);
      next_progress += 10;
    }
  }
  g_stop = true;
  toggler.join();
  for (auto& t : threads) t.join();
  double elapsed = Now() - start;
  rusage ru1;
  getrusage(RUSAGE_SELF, &ru1);
  // The kernel counts every hit of the watchpoint, in every thread (the
  // inherited events' counts are summed, exited threads' included), whether
  // or not it sent the SIGTRAP: a kernel that loses SIGTRAPs counts more hits
  // than there were traps (what a runtime could watch for).
  uint64_t hits = 0;
  const bool have_hits = read(fd, &hits, sizeof hits) == sizeof hits;
  close(fd);

  Counts t;
  for (const Counts& c : counts) {
    t.expected += c.expected;
    t.trapped += c.trapped;
    t.missing += c.missing;
    t.duplicated += c.duplicated;
    t.stale += c.stale;
    t.quiet += c.quiet;
    t.spurious += c.spurious;
    t.ambiguous += c.ambiguous;
    t.ambiguous_trapped += c.ambiguous_trapped;
    t.late += c.late;
    t.misdirected += c.misdirected;
    t.not_perf += c.not_perf;
    t.wrong_addr += c.wrong_addr;
    t.async += c.async;
    t.migrations += c.migrations;
    t.accesses += c.accesses;
    t.traps += c.traps;
  }
  const long traps_total = t.traps + g_nonworker_traps.load();
  long misdirected = t.misdirected + g_nonworker_traps.load();
  long csw = (ru1.ru_nvcsw - ru0.ru_nvcsw) + (ru1.ru_nivcsw - ru0.ru_nivcsw);
  r->Num("seconds", elapsed);
  r->Num("workers", nworkers);
  r->Num("cpus", ncpu);
  r->Num("accesses", t.accesses);
  r->Num("expected", t.expected);
  r->Num("received", t.trapped + t.duplicated);
  r->Num("missing", t.missing);
  r->Num("duplicated", t.duplicated);
  r->Num("misdirected", misdirected);
  r->Num("misdirected_to_non_workers", g_nonworker_traps.load());
  r->Num("late", t.late);
  r->Num("stale_sig_data", t.stale);
  r->Num("wrong_si_addr", t.wrong_addr);
  r->Num("not_trap_perf", t.not_perf);
  r->Num("flagged_async", t.async);
  r->Num("quiet_accesses", t.quiet);
  r->Num("spurious", t.spurious);
  r->Num("ambiguous_accesses", t.ambiguous);
  r->Num("ambiguous_trapped", t.ambiguous_trapped);
  r->Num("modifies", ts.modifies);
  r->Num("decoy_modifies", ts.decoys);
  r->Num("enables", ts.enables);
  r->Num("disables", ts.disables);
  r->Num("ioctl_errors", ts.errors);
  r->Num("armed_fraction", elapsed > 0 ? ts.armed_seconds / elapsed : 0);
  r->Num("transit_fraction", elapsed > 0 ? ts.transit_seconds / elapsed : 0);
  r->Num("us_per_ioctl", 1e6 * ts.transit_seconds /
                             (ts.modifies + ts.enables + ts.disables + ts.decoys + 1));
  r->Num("migrations", t.migrations);
  r->Num("context_switches", csw);
  r->Num("checked_per_second", elapsed > 0 ? t.expected / elapsed : 0);
  r->Num("traps_total", traps_total);
  if (have_hits) {
    r->Num("kernel_hits", static_cast<double>(hits));
    r->Num("hits_without_trap",
           static_cast<double>(hits) > traps_total
               ? static_cast<double>(hits) - traps_total
               : 0);
  }
  bool ok = t.expected > 0 && t.missing == 0 && t.duplicated == 0 &&
            misdirected == 0 && t.late == 0 && t.stale == 0 &&
            t.wrong_addr == 0 && t.not_perf == 0 && t.spurious == 0 &&
            ts.errors == 0;
  r->Set(ok ? kPass : kFail, ok,
         "watched accesses checked (signals expected) %ld, received %ld, "
         "missing %ld, duplicated %ld, "
         "misdirected %ld, late %ld, stale sig_data %ld, spurious %ld/%ld "
         "quiet writes; %d threads on %d CPUs, %.1f s, %ld migrations, %ld "
         "context switches, %ld modify + %ld enable + %ld disable + %ld decoy "
         "ioctls (%ld errors); the kernel counted %s watchpoint hits, %ld "
         "SIGTRAPs arrived",
         t.expected, t.trapped + t.duplicated, t.missing, t.duplicated,
         misdirected, t.late, t.stale, t.spurious, t.quiet, nworkers, ncpu,
         elapsed, t.migrations, csw, ts.modifies, ts.enables, ts.disables,
         ts.decoys, ts.errors,
         have_hits ? std::to_string(hits).c_str() : "(unread)", traps_total);
}

}  // namespace kcheck
