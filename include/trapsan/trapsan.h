/* trapsan: a sampling data-race sanitizer built on hardware watchpoints.
 *
 * Public C API, usable from C and C++. The runtime initializes itself when it
 * is loaded (a constructor in libtrapsan.so / libtrapsan.a); every function
 * below is also safe to call before that happens.
 *
 * Options come from the TRAPSAN_OPTIONS environment variable, e.g.
 *   TRAPSAN_OPTIONS="mode=ci:log_path=/tmp/trapsan" ./app
 * Run with TRAPSAN_OPTIONS=help=1 for the list.
 */
#ifndef TRAPSAN_TRAPSAN_H_
#define TRAPSAN_TRAPSAN_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define TRAPSAN_API __attribute__((visibility("default")))
#else
#define TRAPSAN_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Initializes the runtime if it is not initialized yet: reads TRAPSAN_OPTIONS,
 * opens the hardware watchpoints and installs the SIGTRAP handler. Idempotent
 * and thread-safe; the runtime already calls it at load time. Call it earlier
 * (before creating threads) only if your own constructors create threads.
 * Returns 1 when race detection is active (any backend but "off"), else 0. */
TRAPSAN_API int trapsan_init(void);

/* Manual instrumentation: call right before a plain (non-atomic) read or
 * write of `size` bytes at `addr`. Most calls cost a thread-local decrement;
 * one call in `sample_rate` (randomized) opens a watch window: it arms a
 * hardware watchpoint on the address and stalls the caller for about
 * `delay_us` microseconds, so any other thread touching the bytes meanwhile
 * is caught and reported with both stacks. Thread-safe, reentrant. */
TRAPSAN_API void trapsan_check_read(const volatile void *addr, size_t size);
TRAPSAN_API void trapsan_check_write(const volatile void *addr, size_t size);

/* One report, as handed to a report callback. Strings live until the
 * callback returns. */
typedef enum trapsan_report_kind {
  TRAPSAN_REPORT_DATA_RACE = 1,          /* two accesses, both stacks */
  TRAPSAN_REPORT_UNKNOWN_ORIGIN = 2,     /* the value changed, no trap seen */
} trapsan_report_kind;

typedef struct trapsan_report {
  trapsan_report_kind kind;
  const char *title;    /* "data race in f / g" */
  const char *summary;  /* "data race file.c:12 in f" */
  const char *text;     /* the whole report, as printed */
  uintptr_t address;    /* the watched address */
  int watcher_tid;      /* kernel thread id of the sampling thread */
  int racer_tid;        /* kernel thread id of the other thread, 0 if unknown */
  int late;             /* 1 if the trap arrived after its window closed */
} trapsan_report;

typedef void (*trapsan_report_callback)(const trapsan_report *report,
                                        void *user_data);

/* Installs a callback called for every race that is reported (after
 * deduplication, right after it is printed), in the thread that found it,
 * outside any signal handler, one callback at a time. It may end the process
 * (exit() or _exit(): trapsan prints its summary, and with exit() the exit
 * handlers run and stdio is flushed); the process then exits with the status
 * the callback gave, not the `exitcode` option (nor abort_on_error's abort),
 * which apply when a process that reported a race ends any other way. NULL
 * removes it. Thread-safe. */
TRAPSAN_API void trapsan_set_report_callback(trapsan_report_callback callback,
                                             void *user_data);

/* Counters since start-up (or since fork, in a child).
 * ABI: fields are only ever added at the end, never inserted, removed or
 * reordered. trapsan_get_stats(s) passes sizeof(*s) along (the macro below),
 * and trapsan fills only that many bytes: a program built against an older
 * header gets the fields it knows and nothing is written past its struct.
 * Programs built before the macro call the function trapsan_get_stats, which
 * fills the fields up to `backend` (the layout they were built with). */
typedef struct trapsan_stats {
  uint64_t checks_slow;        /* checks that reached the sampler */
  uint64_t windows;            /* watch windows opened */
  uint64_t skipped_no_slot;    /* samples skipped: every watchpoint busy */
  uint64_t skipped_budget;     /* samples skipped: max_overhead reached */
  uint64_t skipped_reentrant;  /* samples skipped: already inside trapsan */
  uint64_t traps;              /* our SIGTRAPs handled (conflicting accesses) */
  uint64_t traps_late;         /* ... of which arrived after their window */
  uint64_t traps_self;         /* watcher's own traps, ignored */
  uint64_t traps_foreign;      /* other SIGTRAPs passed to the previous handler */
  uint64_t traps_dropped;      /* conflicts that did not fit the record table */
  uint64_t races_found;        /* races found, duplicates included */
  uint64_t races_reported;     /* races printed (after dedup and max_reports) */
  uint64_t races_unknown_origin; /* value changes with no trap (subset of found) */
  uint64_t duplicates;         /* races not printed as duplicates */
  uint64_t window_ns;          /* wall time spent in windows, all threads */
  uint64_t arm_ns;             /* ... of which arming and disarming */
  uint64_t budget_ns;          /* charged to max_overhead: the watchers' CPU
                                  time in windows plus the stalls asked for */
  uint64_t threads_created;    /* threads started since init */
  uint64_t skipped_ignored;    /* samples skipped: AnnotateIgnore{Reads,Writes} */
  uint64_t skipped_benign;     /* samples skipped: AnnotateBenignRace range */
  uint64_t labels_armed;       /* label sites armed (execution breakpoint
                                  or int3 patch) */
  uint64_t labels_reached;     /* ... reached: their access sampled */
  uint64_t labels_unavailable; /* label sites not armed: no mechanism */
  uint64_t labels_stale;       /* label traps ignored: re-pointed or busy */
  int hw_slots;                /* hardware watchpoints in use (0-4) */
  int backend;                 /* 0 off, 1 soft (value change only), 2 hw */
  /* Added later (at the end, see above). */
  uint64_t labels_passed;      /* int3 label traps resumed past the label
                                  without a sample (another thread took it,
                                  or a sample was waiting) */
  uint64_t soft_checks;        /* soft windows checked by the instrumented
                                  accesses of a thread (counted once per
                                  thread and window opened) */
  uint64_t soft_conflicts;     /* ... that conflicted with another thread's
                                  window: reported by it with both stacks */
  uint64_t held_windows;       /* release-bounded windows (release_windows=1)
                                  held open past their sample */
  uint64_t held_ns;            /* ... their total wall time open */
  uint64_t held_closed_release; /* ... closed at their thread's release point */
  uint64_t held_closed_own;    /* ... closed on their owner's own access */
  uint64_t held_closed_stolen; /* ... closed for a newer sample's slot */
  uint64_t held_closed_expired; /* ... closed after max_window_ms */
  uint64_t held_closed_exit;   /* ... closed at thread or process exit */
  uint64_t held_release_in_runtime; /* release points reached inside trapsan */
  uint64_t traps_stale;        /* traps not on their window's bytes: an
                                  earlier window's delivered with a later
                                  one's cookie (si_addr differs), or an
                                  access whose decoded address missed; ignored */
  uint64_t timer_samples;      /* timer samples of code not built with
                                  trapsan (LD_PRELOAD, docs/preload.md) */
  uint64_t timer_skipped;      /* ... not a plain memory access off the
                                  stack, or taken inside trapsan */
  uint64_t races_possible;     /* races not reported: both instructions may
                                  be atomics, or the trapped instruction's
                                  address is not certain (report_possible=1
                                  shows them) */
  uint64_t conflicts_masked;   /* conflicts dropped: the write left the bits
                                  of a TRAPSAN_ASSERT_EXCLUSIVE_BITS mask as
                                  they were */
  uint64_t races_suppressed;   /* races matched by a suppression (suppressions=),
                                  not counted in races_found */
  uint64_t traps_lost;         /* watchpoint hits the kernel counted but sent
                                  no SIGTRAP for: a kernel without Linux
                                  6.1's ca6c21327c6a (docs/kernel.md) */
  uint64_t lures;              /* data lures armed (LD_PRELOAD, preload_lures:
                                  docs/preload.md) */
  uint64_t lures_caught;       /* ... written by a thread: a window opened
                                  for that write */
  uint64_t lure_traps_ignored; /* ... traps on a lure not collecting */
  uint64_t held_kept_return;   /* release-bounded windows kept at a return
                                  to an instrumented caller (its marker) */
  uint64_t traps_self_redirected; /* watcher's own traps that were also
                                     another thread's window's (one SIGTRAP
                                     for both), given to that window */
  uint64_t skipped_errno;      /* samples skipped: the sampling thread's own
                                  errno, which trapsan's handlers write */
  uint64_t held_released;      /* held windows kept armed past their owner's
                                  release (past_release=1) */
  uint64_t traps_ordered;      /* traps on such a window by a thread that may
                                  be ordered after it, or on one closed
                                  since: dropped */
} trapsan_stats;

/* Fills the first `size` bytes of *stats (at most sizeof(trapsan_stats)).
 * Thread-safe; async-signal-safe. */
TRAPSAN_API void trapsan_get_stats_size(trapsan_stats *stats, size_t size);
/* Fills *stats, as much of it as this header declares. */
TRAPSAN_API void trapsan_get_stats(trapsan_stats *stats);
#define trapsan_get_stats(stats) \
  trapsan_get_stats_size((stats), sizeof(*(stats)))

/* The active backend: "hw", "soft" or "off". */
TRAPSAN_API const char *trapsan_backend(void);

/* Reports the traps that arrived after their window closed (normally done at
 * the end of every window and at exit) and flushes the report sink. */
TRAPSAN_API void trapsan_flush(void);

/* Options of the program's own, as ThreadSanitizer's __tsan_default_options:
 * a program (or a library linked into it) may define this function; trapsan
 * calls it once at start-up and parses what it returns before
 * TRAPSAN_OPTIONS, which wins where both set an option. trapsan declares it
 * weak and does not define it. With LD_PRELOAD=libtrapsan.so, the program
 * must export it (-rdynamic); when it links libtrapsan, it does. */
const char *__trapsan_default_options(void);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif  /* TRAPSAN_TRAPSAN_H_ */
