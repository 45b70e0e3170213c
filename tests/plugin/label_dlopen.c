/* A program with no label sites (not instrumented; linked to libtrapsan.so)
 * dlopen()s an instrumented library: trapsan started with all four
 * watchpoints, so the first label breakpoint finds no debug register free
 * and the window backend gives one up. Prints HW_SLOTS_BEFORE/AFTER,
 * SAMPLED (a label of the library was reached, with the right address) and
 * the labels_* counters. Argument: the library's path. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>

#include <trapsan/compiler_abi.h>
#include <trapsan/trapsan.h>

void __trapsan_testonly_last_site_sample(uint64_t out[7]);

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("HW_SLOTS_BEFORE=%d\n", s.hw_slots);
  void* lib = dlopen(argv[1], RTLD_NOW);
  if (lib == NULL) {
    printf("DLOPEN_FAILED=%s\n", dlerror());
    return 1;
  }
  void (*store)(int) = (void (*)(int))dlsym(lib, "lib_store");
  long* (*cells)(void) = (long* (*)(void))dlsym(lib, "lib_cells");
  int sampled = 0;
  for (int i = 0; i < 3; ++i) {
    uint64_t before[7], after[7];
    __trapsan_testonly_last_site_sample(before);
    __trapsan_countdown = 1; /* (the first expiry only draws a countdown) */
    store(i);
    __trapsan_testonly_last_site_sample(after);
    sampled += after[4] != before[4] && after[0] == (uintptr_t)&cells()[i];
  }
  trapsan_get_stats(&s);
  printf("SAMPLED=%d\nHW_SLOTS_AFTER=%d\nSTAT_labels_reached=%lu\n"
         "STAT_labels_unavailable=%lu\n",
         sampled, s.hw_slots, (unsigned long)s.labels_reached,
         (unsigned long)s.labels_unavailable);
  return 0;
}
