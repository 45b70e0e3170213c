// atomics: plain messages handed from a producer to consumers through a
// release store / acquire load of a sequence number, and relaxed atomic
// statistics counters bumped by everyone.
// corpus: kind=atomics issue=15 shape=concurrent
#include <atomic>

#include "corpus.h"

namespace {

constexpr int kMessages = 3000;
struct Message {
  long payload[4];
};
Message g_box[kMessages];
std::atomic<int> g_published{0};
std::atomic<long> g_reads{0};
long g_sums[CORPUS_THREADS];

void Thread(int index) {
  if (index == 0) {
    for (int m = 0; m < kMessages; ++m) {
      for (int k = 0; k < 4; ++k) g_box[m].payload[k] = m + k;
      g_published.store(m + 1, std::memory_order_release);
    }
    return;
  }
  long sum = 0;
  int seen = 0;
  while (seen < kMessages) {
    const int upto = g_published.load(std::memory_order_acquire);
    for (; seen < upto; ++seen) {
      for (int k = 0; k < 4; ++k) sum += g_box[seen].payload[k];
      g_reads.fetch_add(1, std::memory_order_relaxed);
    }
    corpus_pause();
  }
  g_sums[index] = sum;
}

}  // namespace

int main() {
  corpus_run(Thread);
  const long want = 4L * kMessages * (kMessages - 1) / 2 + 6L * kMessages;
  std::printf("reads=%ld\n", g_reads.load());
  return g_sums[1] == want && g_sums[2] == want && g_sums[3] == want ? 0 : 1;
}
