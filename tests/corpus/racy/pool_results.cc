// pool_results: a small thread pool takes task numbers from a locked queue
// and stores each result and a "done" mark in plain arrays; the submitting
// thread polls the marks and sums the results without any synchronization.
// corpus: kind=pool_results issue=15 shape=concurrent
// Racy lines: the workers' stores of result and done (RACE) and the
// poller's loads of them (RACE).
#include <mutex>

#include "corpus.h"

namespace {

constexpr int kTasks = 4096;
std::mutex g_queue_mu;
int g_next_task;
long g_result[kTasks];
char g_done[kTasks];

void Worker() {
  for (;;) {
    int task;
    {
      std::lock_guard<std::mutex> lock(g_queue_mu);
      task = g_next_task++;
    }
    if (task >= kTasks) return;
    long r = 0;
    for (int k = 0; k <= task % 32; ++k) r += k * task;
    g_result[task] = r;  // RACE
    g_done[task] = 1;    // RACE
  }
}

long g_total;

void Thread(int index) {
  if (index != 0) return Worker();
  // The submitter: polls until every task is marked done.
  int finished = 0;
  while (finished < kTasks) {
    finished = 0;
    long total = 0;
    for (int t = 0; t < kTasks; ++t) {
      if (g_done[t]) {         // RACE
        total += g_result[t];  // RACE
        ++finished;
      }
    }
    g_total = total;
    TP_BARRIER();
  }
}

}  // namespace

int main() {
  corpus_run(Thread);
  std::printf("total=%ld\n", g_total);
  return 0;
}
