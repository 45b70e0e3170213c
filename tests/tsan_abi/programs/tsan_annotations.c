/* ThreadSanitizer's annotations under trapsan (runtime/abi/
 * tsan_annotations.cpp), in a program compiled with -fsanitize=thread:
 *
 *   tsan_annotations plain|benign|ignore [max_ms]
 *
 * Two threads race on a plain long: as is ("plain": reported), after
 * AnnotateBenignRaceSized on it ("benign": never watched), or with each
 * thread's accesses inside AnnotateIgnoreReads/WritesBegin/End ("ignore":
 * never sampled). Every other annotation entry point is called once first
 * (they must link and return). Prints REPORTS, STAT_skipped_benign,
 * STAT_skipped_ignored, STAT_windows, DONE=1. */
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "race_driver.h"

void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
void __tsan_mutex_create(void* addr, unsigned flags);
void __tsan_mutex_pre_lock(void* addr, unsigned flags);
void __tsan_mutex_post_lock(void* addr, unsigned flags, int recursion);
int __tsan_mutex_pre_unlock(void* addr, unsigned flags);
void __tsan_mutex_post_unlock(void* addr, unsigned flags);
void __tsan_mutex_destroy(void* addr, unsigned flags);
void* __tsan_external_register_tag(const char* object_type);
void __tsan_external_read(void* addr, void* caller_pc, void* tag);
void __tsan_external_write(void* addr, void* caller_pc, void* tag);
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void AnnotateHappensBefore(const char* f, int l, const volatile void* addr);
void AnnotateHappensAfter(const char* f, int l, const volatile void* addr);
void AnnotateRWLockCreate(const char* f, int l, const volatile void* lock);
void AnnotateRWLockAcquired(const char* f, int l, const volatile void* lock,
                            long is_w);
void AnnotateRWLockReleased(const char* f, int l, const volatile void* lock,
                            long is_w);
void AnnotateRWLockDestroy(const char* f, int l, const volatile void* lock);
void AnnotateThreadName(const char* f, int l, const char* name);
void AnnotateBenignRaceSized(const char* f, int l, const volatile void* addr,
                             size_t size, const char* desc);
void AnnotateIgnoreReadsBegin(const char* f, int l);
void AnnotateIgnoreReadsEnd(const char* f, int l);
void AnnotateIgnoreWritesBegin(const char* f, int l);
void AnnotateIgnoreWritesEnd(const char* f, int l);
int RunningOnValgrind(void);

long g_racy;
static int g_ignore;

static void* writer(void* arg) {
  (void)arg;
  tp_wait_for_both();
  if (g_ignore) AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  for (long i = 0; tp_keep_going(); ++i) g_racy = i;
  if (g_ignore) AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
  return NULL;
}

static void* reader(void* arg) {
  (void)arg;
  tp_wait_for_both();
  long sum = 0;
  if (g_ignore) AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
  while (tp_keep_going()) sum += g_racy;
  if (g_ignore) AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  return (void*)sum;
}

static void call_the_others(void) {
  long lock = 0, obj = 0;
  __tsan_acquire(&lock);
  __tsan_release(&lock);
  __tsan_mutex_create(&lock, 0);
  __tsan_mutex_pre_lock(&lock, 0);
  __tsan_mutex_post_lock(&lock, 0, 0);
  __tsan_mutex_pre_unlock(&lock, 0);
  __tsan_mutex_post_unlock(&lock, 0);
  __tsan_mutex_destroy(&lock, 0);
  void* tag = __tsan_external_register_tag("Object");
  __tsan_external_read(&obj, NULL, tag);
  __tsan_external_write(&obj, NULL, tag);
  void* self = __tsan_get_current_fiber();
  void* fiber = __tsan_create_fiber(0);
  __tsan_switch_to_fiber(fiber, 0);
  __tsan_switch_to_fiber(self, 0);
  __tsan_destroy_fiber(fiber);
  AnnotateHappensBefore(__FILE__, __LINE__, &lock);
  AnnotateHappensAfter(__FILE__, __LINE__, &lock);
  AnnotateRWLockCreate(__FILE__, __LINE__, &lock);
  AnnotateRWLockAcquired(__FILE__, __LINE__, &lock, 1);
  AnnotateRWLockReleased(__FILE__, __LINE__, &lock, 1);
  AnnotateRWLockDestroy(__FILE__, __LINE__, &lock);
  AnnotateThreadName(__FILE__, __LINE__, "main");
  printf("TAG_OK=%d\nFIBER_OK=%d\nVALGRIND=%d\n", tag != NULL,
         fiber != NULL && fiber != self, RunningOnValgrind());
}

int main(int argc, char** argv) {
  tp_setup_stdout();
  const char* mode = argc > 1 ? argv[1] : "plain";
  int max_ms = argc > 2 ? atoi(argv[2]) : 3000;
  call_the_others();
  if (strcmp(mode, "benign") == 0)
    AnnotateBenignRaceSized(__FILE__, __LINE__, &g_racy, sizeof g_racy,
                            "a counter read for statistics");
  g_ignore = strcmp(mode, "ignore") == 0;
  tp_start_race_driver(max_ms);
  pthread_t w, r;
  pthread_create(&w, NULL, writer, NULL);
  pthread_create(&r, NULL, reader, NULL);
  pthread_join(w, NULL);
  pthread_join(r, NULL);
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("REPORTS=%d\n", tp_reports());
  printf("STAT_skipped_benign=%" PRIu64 "\nSTAT_skipped_ignored=%" PRIu64
         "\nSTAT_windows=%" PRIu64 "\n",
         s.skipped_benign, s.skipped_ignored, s.windows);
  printf("DONE=1\n");
  return 0;
}
