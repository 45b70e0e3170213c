// bitfield: each thread owns one bit-field of a shared status word, but
// adjacent bit-fields are one memory location: writing one rewrites all.
// corpus: kind=bitfield issue=15 shape=concurrent
// Racy lines: the bit-field stores (RACE), each thread its own field.
#include "corpus.h"

struct status {
  unsigned phase0 : 5;
  unsigned phase1 : 5;
  unsigned phase2 : 5;
  unsigned phase3 : 5;
};

enum { kIters = 5000 };
static struct status g_status;

static void Thread(int index) {
  // One loop per field (not one store in a switch: clang merges the cases'
  // stores into one instruction without a source line).
  if (index == 0) {
    for (int i = 0; i < kIters; ++i) { g_status.phase0 = i & 31; TP_BARRIER(); }  // RACE
  } else if (index == 1) {
    for (int i = 0; i < kIters; ++i) { g_status.phase1 = i & 31; TP_BARRIER(); }  // RACE
  } else if (index == 2) {
    for (int i = 0; i < kIters; ++i) { g_status.phase2 = i & 31; TP_BARRIER(); }  // RACE
  } else {
    for (int i = 0; i < kIters; ++i) { g_status.phase3 = i & 31; TP_BARRIER(); }  // RACE
  }
}

int main(void) {
  corpus_run(Thread);
  printf("status=%u,%u,%u,%u\n", g_status.phase0, g_status.phase1,
         g_status.phase2, g_status.phase3);
  return 0;
}
