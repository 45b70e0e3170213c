// condvar: a bounded queue (plain ring buffer and counts) guarded by a mutex
// and two condition variables; two producers, two consumers.
// corpus: kind=condvar issue=15 shape=concurrent
#include <condition_variable>
#include <mutex>

#include "corpus.h"

namespace {

constexpr int kItems = 1500;  // per producer
constexpr int kSlots = 16;
std::mutex g_mu;
std::condition_variable g_not_full, g_not_empty;
long g_ring[kSlots];
int g_head, g_count;
long g_consumed[CORPUS_THREADS];

void Thread(int index) {
  if (index < 2) {  // producer
    for (int i = 1; i <= kItems; ++i) {
      std::unique_lock<std::mutex> lock(g_mu);
      g_not_full.wait(lock, [] { return g_count < kSlots; });
      g_ring[(g_head + g_count) % kSlots] = i;
      ++g_count;
      g_not_empty.notify_one();
    }
    return;
  }
  long sum = 0;
  for (int i = 0; i < kItems; ++i) {  // consumer
    std::unique_lock<std::mutex> lock(g_mu);
    g_not_empty.wait(lock, [] { return g_count > 0; });
    sum += g_ring[g_head];
    g_head = (g_head + 1) % kSlots;
    --g_count;
    g_not_full.notify_one();
  }
  g_consumed[index] = sum;
}

}  // namespace

int main() {
  corpus_run(Thread);
  const long sum = g_consumed[2] + g_consumed[3];
  std::printf("consumed=%ld\n", sum);
  return sum == 2L * kItems * (kItems + 1) / 2 ? 0 : 1;
}
