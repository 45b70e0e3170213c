// double_checked: a lazily built lookup table behind double-checked locking
// with a plain pointer; a maintenance thread drops the table now and then so
// it is rebuilt. The unlocked first check races with the locked writes.
// corpus: kind=double_checked issue=15 shape=concurrent
// Racy lines: the unlocked check (RACE) and the locked stores (RACE).
#include <mutex>

#include "corpus.h"

namespace {

struct Table {
  int squares[64];
};

constexpr int kIters = 5000;
std::mutex g_mu;
Table* g_table;  // should be std::atomic<Table*>
Table g_storage[2];
int g_generation;

const Table* GetTable() {
  if (g_table == nullptr) {  // RACE
    std::lock_guard<std::mutex> lock(g_mu);
    if (g_table == nullptr) {
      Table* t = &g_storage[g_generation++ & 1];
      for (int i = 0; i < 64; ++i) t->squares[i] = i * i;
      g_table = t;  // RACE
    }
  }
  return g_table;  // RACE
}

void Thread(int index) {
  long sum = 0;
  for (int i = 0; i < kIters; ++i) {
    if (index == 0 && (i & 63) == 0) {
      std::lock_guard<std::mutex> lock(g_mu);
      g_table = nullptr;  // RACE
    }
    sum += GetTable() != nullptr;
    TP_BARRIER();
  }
  if (sum != kIters) std::printf("lost a table\n");
}

}  // namespace

int main() {
  corpus_run(Thread);
  std::printf("generations=%d\n", g_generation);
  return 0;
}
