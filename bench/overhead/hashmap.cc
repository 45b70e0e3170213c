// Lock-heavy: threads insert into and look up a shared std::unordered_map
// under a std::mutex.
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "common.h"

int main(int argc, char** argv) {
  const int ops = argc > 1 ? std::atoi(argv[1]) : 5000000;
  std::unordered_map<int, int> map;
  std::mutex mu;
  return RunThreads(2, [&](int t) {
    long found = 0;
    unsigned x = 12345u + t;
    for (int i = 0; i < ops; ++i) {
      x = x * 1103515245u + 12345u;
      int key = static_cast<int>(x % 100000);
      std::lock_guard<std::mutex> lock(mu);
      if (i % 4 == 0) {
        map[key] = i;
      } else {
        found += map.count(key);
      }
    }
    Sink(found);
  });
}
