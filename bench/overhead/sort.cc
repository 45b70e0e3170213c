// Mixed: each thread sorts its own shuffled vector with std::sort.
#include <algorithm>
#include <cstdlib>
#include <random>
#include <vector>

#include "common.h"

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 6000000;
  std::vector<std::vector<int>> data(2);
  for (int t = 0; t < 2; ++t) {
    std::mt19937 rng(t);
    data[t].resize(n);
    for (int& v : data[t]) v = static_cast<int>(rng());
  }
  return RunThreads(2, [&](int t) {
    std::sort(data[t].begin(), data[t].end());
    Sink(data[t][n / 2]);
  });
}
