// Synchronization-heavy: a producer and a consumer pass items through a
// bounded queue guarded by a mutex and two condition variables.
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>

#include "common.h"

int main(int argc, char** argv) {
  const int items = argc > 1 ? std::atoi(argv[1]) : 1000000;
  std::deque<int> queue;
  std::mutex mu;
  std::condition_variable not_empty, not_full;
  long sum = 0;
  return RunThreads(2, [&](int t) {
    if (t == 0) {
      for (int i = 0; i < items; ++i) {
        std::unique_lock<std::mutex> lock(mu);
        not_full.wait(lock, [&] { return queue.size() < 64; });
        queue.push_back(i);
        not_empty.notify_one();
      }
    } else {
      for (int i = 0; i < items; ++i) {
        std::unique_lock<std::mutex> lock(mu);
        not_empty.wait(lock, [&] { return !queue.empty(); });
        sum += queue.front();
        queue.pop_front();
        not_full.notify_one();
      }
      Sink(sum);
    }
  });
}
