// Sampling code nobody rebuilt (LD_PRELOAD=libtrapsan.so ./app).
//
// Each thread gets a timer on its own CPU time that sends it a SIGTRAP every
// preload_period_us (option preload_timer):
//  - tick (default): a POSIX timer on the thread's CPU-time clock
//    (SIGEV_THREAD_ID, SI_TIMER, sival_ptr kTimerCookie). The kernel checks
//    it at its scheduler tick and sends the signal on the thread's return to
//    user mode (task work): no cost at context switches, no timer interrupt
//    of its own, at most one sample per tick (1-10 ms). Created per thread
//    (StartThreadTimer, from the thread trampoline), deleted at its exit.
//  - perf (mode=ci): a perf software event (PERF_COUNT_SW_TASK_CLOCK,
//    sigtrap=1, exclude_kernel: only while the thread runs in user mode),
//    opened on the initializing thread with inherit + inherit_thread, so
//    every thread created later has its own copy, and remove_on_exec. Its
//    sig_data is kTimerCookie: si_perf_type is unreliable for software
//    events, so the handler tells them from watchpoint traps by that alone.
//    Any period down to 10 us; a timer interrupt per sample and work at every
//    context switch.
// Neither interrupts a system call (docs/preload.md, "No EINTR").
//
// In the handler (HandleTimerSample, async-signal-safe): the instruction at
// the interrupted pc is decoded (Zydis, report/sample_decode.h) with the
// ucontext's registers; if it is a plain memory access (not lock-prefixed,
// not xchg/cmpxchg/xadd, not fs:/gs:, not a string instruction) off this
// thread's stack, a watch window runs for it right there, before it executes
// (core/window.h WatchAccessInSignal: the hardware watchpoint where debug
// traps deliver, a soft window otherwise); what it finds is queued and
// reported in ordinary context (core/pending_races.h), by a reporter thread
// started with the program's second thread, or at exit. A single-threaded
// process (a shell, a compiler) opens no window: it cannot race.
#ifndef TRAPSAN_RUNTIME_PRELOAD_TIMER_SAMPLING_H_
#define TRAPSAN_RUNTIME_PRELOAD_TIMER_SAMPLING_H_

#include <signal.h>

#include <cstdint>
#include <string>

namespace trapsan {

// The timer events' sig_data (kLabelCookie + 1; linux/labels.h).
inline constexpr uint64_t kTimerCookie = 0x7a5b000000000002ull;

// Whether libtrapsan.so itself is named in LD_PRELOAD.
bool LoadedByPreload();

// Whether timer sampling should run (option preload_sampling).
bool TimerSamplingWanted();

// Opens the calling thread's inherited timer event. False (with *why) if
// the event cannot be opened.
bool StartTimerSampling(std::string* why);
bool TimerSamplingActive();

// The process gets a second thread (pthread_create, or threads adopted at
// init): from now on samples open windows, and the reporter thread, which
// reports what the handlers queued, is started (once; again in a fork
// child that creates threads). Ordinary context.
void StartTimerReporterOnce();
// Whether AdoptThreadForTimer gave a thread an event (at init).
bool OtherThreadsAdopted();

// Gives a thread that existed before init its own event.
bool AdoptThreadForTimer(int tid, std::string* why);

// preload_timer=tick: a thread created by pthread_create starts its own
// timer (the kernel has no inherited POSIX timers) and deletes it at exit.
// No-ops otherwise. Ordinary context.
void StartThreadTimer();
void StopThreadTimer();

// Whether a SIGTRAP is a tick timer's (SI_TIMER carrying kTimerCookie).
bool IsTickTimerSignal(const siginfo_t* si);

// fork(): a child process inherits no event; its only thread gets a new one.
void RestartTimerSamplingInChild();

// Whether `pc` is in the dynamic linker's code (never sampled: its
// bookkeeping is racy by design).
bool InDynamicLinker(uintptr_t pc);

// The SIGTRAP handler's part for a signal carrying kTimerCookie.
void HandleTimerSample(void* ucontext);

}  // namespace trapsan

#endif  // TRAPSAN_RUNTIME_PRELOAD_TIMER_SAMPLING_H_
