// Race-free std::shared_ptr use built with plain g++ -O2: threads copy and
// drop shared_ptrs to one object (its count updated with lock-prefixed
// instructions, read with plain moves by use_count()) and hand new objects
// to each other through a mutex-protected slot.
//   race_free_shared_ptr ITERATIONS
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

struct Item {
  long value;
  explicit Item(long v) : value(v) {}
};

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? std::atol(argv[1]) : 100000;
  auto shared = std::make_shared<Item>(7);
  std::mutex mu;
  std::shared_ptr<Item> slot = std::make_shared<Item>(0);
  std::vector<long> sums(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      long sum = 0;
      for (long i = 0; i < iterations; ++i) {
        std::shared_ptr<Item> copy = shared;  // lock xadd
        sum += copy->value + (copy.use_count() > 0 ? 1 : 0);
        if (i % 64 == 0) {
          auto fresh = std::make_shared<Item>(i);
          std::shared_ptr<Item> old;
          {
            std::lock_guard<std::mutex> lock(mu);
            old = slot;
            slot = fresh;
          }
          sum += old->value >= 0 ? 1 : 0;
        }
      }
      sums[t] = sum;
    });
  }
  for (auto& th : threads) th.join();
  std::printf("shared_ptr sums=%ld,%ld\n", sums[0], sums[1]);
  return 0;
}
