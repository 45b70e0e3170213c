/* Threads that exist before trapsan starts. This program is NOT linked with
 * trapsan: it starts pre_writer and pre_reader, then dlopen()s libtrapsan.so
 * (argv[1], else the path compiled in as TRAPSAN_SHARED_PATH), which adopts
 * both threads; then the threads race (pre_writer checks through the
 * functions found with dlsym, pre_reader reads plainly) and the race must be
 * reported.
 * The program also installs a SIGTRAP handler of its own before dlopen():
 * trapsan must keep it, chained, so raise(SIGTRAP) afterwards reaches it.
 * Prints BACKEND, WRITER_TID, READER_TID, RACE_REPORTS, CALLBACK_TITLE,
 * CALLBACK_RACER_TID, PRE_INIT_HANDLER_CALLS, STAT_traps. */
#define TP_NO_RUNTIME_LINK 1
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"
#include "trapsan/trapsan.h"

typedef void (*check_fn)(const volatile void*, size_t);
typedef void (*set_callback_fn)(trapsan_report_callback, void*);
typedef void (*get_stats_fn)(trapsan_stats*);
typedef const char* (*backend_fn)(void);

static int g_pre_counter;
static volatile long g_sink;
static check_fn g_check_write;
static atomic_int g_go, g_running, g_reports;
static atomic_int g_writer_tid, g_reader_tid;
static uint64_t g_deadline_ns;
static atomic_int g_pre_init_handler_calls;

static void pre_init_handler(int sig) {
  (void)sig;
  atomic_fetch_add(&g_pre_init_handler_calls, 1);
}

static void on_report(const trapsan_report* r, void* data) {
  (void)data;
  if (atomic_fetch_add(&g_reports, 1) == 0) {
    printf("CALLBACK_TITLE=%s\n", r->title);
    printf("CALLBACK_WATCHER_TID=%d\n", r->watcher_tid);
    printf("CALLBACK_RACER_TID=%d\n", r->racer_tid);
    fflush(stdout);
  }
}

static int keep_going(void) {
  return atomic_load_explicit(&g_reports, memory_order_relaxed) == 0 &&
         tp_now_ns() < g_deadline_ns;
}

static void wait_for_go(void) {
  atomic_fetch_add(&g_running, 1);
  while (!atomic_load(&g_go)) {
    struct timespec ts = {0, 200000};
    nanosleep(&ts, NULL);
  }
}

__attribute__((noinline)) void* pre_writer(void* arg) {
  (void)arg;
  atomic_store(&g_writer_tid, tp_gettid());
  wait_for_go();
  while (keep_going()) {
    g_check_write(&g_pre_counter, sizeof g_pre_counter); g_pre_counter++;  /* PRE_WRITE */
  }
  return NULL;
}

__attribute__((noinline)) void* pre_reader(void* arg) {
  (void)arg;
  atomic_store(&g_reader_tid, tp_gettid());
  wait_for_go();
  long sum = 0;
  while (keep_going()) {
    for (int i = 0; i < 1000; ++i) { sum += g_pre_counter; TP_BARRIER(); }  /* PRE_READ */
  }
  g_sink = sum;
  return NULL;
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  const char* path = argc > 1 ? argv[1] : TRAPSAN_SHARED_PATH;
  int max_ms = argc > 2 ? atoi(argv[2]) : 3000;
  pthread_t w, r;
  pthread_create(&w, NULL, pre_writer, NULL);
  pthread_create(&r, NULL, pre_reader, NULL);
  while (atomic_load(&g_running) < 2) {
  }
  struct sigaction act;
  memset(&act, 0, sizeof act);
  act.sa_handler = pre_init_handler;
  sigemptyset(&act.sa_mask);
  sigaction(SIGTRAP, &act, NULL);
  void* lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
  if (lib == NULL) {
    printf("ERROR=dlopen: %s\n", dlerror());
    return 2;
  }
  g_check_write = (check_fn)dlsym(lib, "trapsan_check_write");
  set_callback_fn set_callback =
      (set_callback_fn)dlsym(lib, "trapsan_set_report_callback");
  get_stats_fn get_stats = (get_stats_fn)dlsym(lib, "trapsan_get_stats");
  backend_fn backend = (backend_fn)dlsym(lib, "trapsan_backend");
  if (!g_check_write || !set_callback || !get_stats || !backend) {
    printf("ERROR=dlsym\n");
    return 2;
  }
  printf("BACKEND=%s\n", backend());
  set_callback(on_report, NULL);
  g_deadline_ns = tp_deadline_ns(max_ms);
  atomic_store(&g_go, 1);
  pthread_join(w, NULL);
  pthread_join(r, NULL);
  printf("WRITER_TID=%d\n", atomic_load(&g_writer_tid));
  printf("READER_TID=%d\n", atomic_load(&g_reader_tid));
  printf("RACE_REPORTS=%d\n", atomic_load(&g_reports));
  raise(SIGTRAP);
  printf("PRE_INIT_HANDLER_CALLS=%d\n", atomic_load(&g_pre_init_handler_calls));
  trapsan_stats s;
  get_stats(&s);
  printf("STAT_windows=%llu\n", (unsigned long long)s.windows);
  printf("STAT_traps=%llu\n", (unsigned long long)s.traps);
  printf("STAT_threads_created=%llu\n", (unsigned long long)s.threads_created);
  return 0;
}
