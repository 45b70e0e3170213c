// call_once: a plain lookup table built once by whichever thread comes
// first (std::call_once), then read by all; repeated with fresh flags.
// corpus: kind=call_once issue=15 shape=concurrent
#include <mutex>

#include "corpus.h"

namespace {

constexpr int kRounds = 200;
constexpr int kEntries = 128;
struct Round {
  std::once_flag once;
  int table[kEntries];
};
Round* g_rounds;
long g_sums[CORPUS_THREADS];

void Build(Round* r) {
  for (int i = 0; i < kEntries; ++i) r->table[i] = i * 3;
}

void Thread(int index) {
  long sum = 0;
  for (int round = 0; round < kRounds; ++round) {
    Round* r = &g_rounds[round];
    std::call_once(r->once, Build, r);
    for (int i = 0; i < kEntries; ++i) sum += r->table[i];
  }
  g_sums[index] = sum;
}

}  // namespace

int main() {
  g_rounds = new Round[kRounds];
  corpus_run(Thread);
  const long want = kRounds * (3L * kEntries * (kEntries - 1) / 2);
  for (long s : g_sums)
    if (s != want) return 1;
  std::printf("sum=%ld\n", g_sums[0]);
  delete[] g_rounds;
  return 0;
}
