// Lock-heavy: threads insert into and look up shared std::unordered_maps,
// each operation under a std::mutex. The maps are sharded (a mutex each) so
// that the lock is rarely contended: with one contended mutex the run time
// depended on whether the scheduler put the two threads on one CPU or two
// (0.2 s or 1.8 s, run to run), not on the code.
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "common.h"

int main(int argc, char** argv) {
  const int ops = argc > 1 ? std::atoi(argv[1]) : 5000000;
  constexpr int kShards = 64;
  struct Shard {
    std::mutex mu;
    std::unordered_map<int, int> map;
  };
  static Shard shards[kShards];
  return RunThreads(2, [&](int t) {
    long found = 0;
    unsigned x = 12345u + t;
    for (int i = 0; i < ops; ++i) {
      x = x * 1103515245u + 12345u;
      int key = static_cast<int>(x % 100000);
      Shard& shard = shards[key % kShards];
      std::lock_guard<std::mutex> lock(shard.mu);
      if (i % 4 == 0) {
        shard.map[key] = i;
      } else {
        found += shard.map.count(key);
      }
    }
    Sink(found);
  });
}
