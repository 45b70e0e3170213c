// atomic_mix: a byte counter updated with __atomic_fetch_add by two threads
// and with a plain += by two others, written before the counter became
// atomic. Plain and atomic accesses to the same object race; so do the
// plain ones among themselves.
// corpus: kind=atomic_mix issue=15 shape=concurrent
// Racy lines: the plain update (RACE); the atomic updates race with it too,
// but an atomic access is never sampled, so reports name the plain line.
#include "corpus.h"

namespace {

constexpr int kIters = 5000;
long g_bytes;

void Thread(int index) {
  for (int i = 0; i < kIters; ++i) {
    if (index < 2) {
      __atomic_fetch_add(&g_bytes, 3, __ATOMIC_RELAXED);
    } else {
      g_bytes += 5;  // RACE
    }
    TP_BARRIER();
  }
}

}  // namespace

int main() {
  corpus_run(Thread);
  std::printf("bytes=%ld (expected %ld)\n", g_bytes, 2L * kIters * 8);
  return 0;
}
