/* Built without the plugin (plain cc -shared): release/acquire atomics
 * trapsan does not see. */
#include "release_lib.h"

static int g_posted = -1, g_acked = -1;

void release_lib_post(int i) {
  __atomic_store_n(&g_posted, i, __ATOMIC_RELEASE);
}
void release_lib_await(int i) {
  while (__atomic_load_n(&g_posted, __ATOMIC_ACQUIRE) < i) {
  }
}
void release_lib_ack(int i) { __atomic_store_n(&g_acked, i, __ATOMIC_RELEASE); }
void release_lib_await_ack(int i) {
  while (__atomic_load_n(&g_acked, __ATOMIC_ACQUIRE) < i) {
  }
}
void release_lib_produce_post(void (*produce)(int), int i) {
  produce(i);
  __atomic_store_n(&g_posted, i, __ATOMIC_RELEASE);
}
