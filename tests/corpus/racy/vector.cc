// vector: a std::vector with reserved capacity filled by one thread while
// the others scan it without a lock (size() and the elements); the filler
// clears it and starts again (no reallocation, so no crash: just the race).
// corpus: kind=vector issue=15 shape=concurrent
// Racy lines: the filler's push_back and clear (RACE) and the scanners'
// size() and element reads (RACE).
#include <vector>

#include "corpus.h"

namespace {

constexpr int kCapacity = 512;
constexpr int kRounds = 60;
std::vector<int> g_items;
long g_seen[CORPUS_THREADS];

void Thread(int index) {
  if (index == 0) {
    for (int r = 0; r < kRounds; ++r) {
      g_items.clear();  // RACE
      for (int i = 0; i < kCapacity; ++i) g_items.push_back(i);  // RACE
      TP_BARRIER();
    }
    return;
  }
  long seen = 0;
  for (int r = 0; r < kRounds * 8; ++r) {
    const size_t n = g_items.size();  // RACE
    for (size_t i = 0; i < n; i += 16) seen += g_items.data()[i];  // RACE
    TP_BARRIER();
  }
  g_seen[index] = seen;
}

}  // namespace

int main() {
  g_items.reserve(kCapacity);
  corpus_run(Thread);
  std::printf("seen=%ld,%ld,%ld\n", g_seen[1], g_seen[2], g_seen[3]);
  return 0;
}
