// The sync-state word as plugin-built code keeps it (built with
// TRAPSAN_PLUGIN_SYNC_STATE=1; compiler-plugin/SyncState.h,
// runtime/core/sync_state.h): prints KEY=value lines that
// sync_state_test.cc checks. Bit 0 "outside", the count in bits 1-63.
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern __thread uint64_t __trapsan_sync_state;

// A read the compiler keeps where it is written (volatile).
static uint64_t Word(void) {
  return *(volatile uint64_t*)&__trapsan_sync_state;
}

int g_sum;
_Atomic int g_flag;

// Instrumented, of this module, not inlined: a call of it keeps the word.
__attribute__((noinline)) void Inner(int x) { g_sum += x; }

static int g_callback_even, g_callback_odd;

// Entered from qsort (libc, not instrumented): the word is inside (even).
static int Compare(const void* a, const void* b) {
  if (Word() & 1)
    ++g_callback_odd;
  else
    ++g_callback_even;
  return *(const int*)a - *(const int*)b;
}

static uint64_t g_thread_start;
char* volatile g_keep;

// An instrumented start routine (its entry note): it starts outside.
void* ThreadMain(void* arg) {
  g_thread_start = Word();
  return arg;
}

int main(void) {
  const uint64_t at_entry = Word();
  printf("MAIN_ENTRY_ODD=%d\n", (int)(at_entry & 1));

  uint64_t a = Word();
  Inner(1);
  uint64_t b = Word();
  printf("SAME_MODULE_UNCHANGED=%d\n", a == b);

  a = Word();
  getpid();
  b = Word();
  printf("LIBC_ODD=%d\nLIBC_ADVANCED=%d\n", (int)(b & 1),
         (int)((b >> 1) - (a >> 1)));

  int values[] = {5, 3, 9, 1, 7, 2};
  qsort(values, 6, sizeof values[0], Compare);
  b = Word();
  printf("CALLBACK_EVEN=%d\nCALLBACK_ODD=%d\nAFTER_QSORT_ODD=%d\n",
         g_callback_even, g_callback_odd, (int)(b & 1));

  a = Word();
  (void)atomic_load_explicit(&g_flag, memory_order_acquire);
  b = Word();
  printf("ACQUIRE_LOAD_DELTA=%d\n", (int)(b - a));
  a = Word();
  (void)atomic_load_explicit(&g_flag, memory_order_relaxed);
  b = Word();
  printf("RELAXED_LOAD_DELTA=%d\n", (int)(b - a));
  a = Word();
  atomic_thread_fence(memory_order_acquire);
  b = Word();
  printf("ACQUIRE_FENCE_DELTA=%d\n", (int)(b - a));
  a = Word();
  atomic_store_explicit(&g_flag, 1, memory_order_release);
  b = Word();
  printf("RELEASE_STORE_DELTA=%d\n", (int)(b - a));
  a = Word();
  (void)atomic_fetch_add_explicit(&g_flag, 1, memory_order_acq_rel);
  b = Word();
  printf("ACQ_REL_RMW_DELTA=%d\n", (int)(b - a));

  // An allocation (calloc) may be ordered after another thread's free (the
  // allocator's locks): it advances the count; strlen does not.
  a = Word();
  g_keep = calloc(1, (size_t)g_sum + 16);
  b = Word();
  printf("ALLOC_DELTA=%d\n", (int)(b - a));
  a = Word();
  g_sum += (int)strlen(g_keep) & 0;
  b = Word();
  printf("STRLEN_DELTA=%d\n", (int)(b - a));
  free(g_keep);

  pthread_t thread;
  if (pthread_create(&thread, NULL, ThreadMain, NULL) != 0) return 1;
  pthread_join(thread, NULL);
  printf("THREAD_START_ODD=%d\n", (int)(g_thread_start & 1));
  printf("DONE=1\n");
  return g_sum == 1 ? 0 : 2;
}
