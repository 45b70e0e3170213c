// Memory-bound: each thread streams over its own arrays (a[i] = b[i] + s*c[i],
// STREAM's triad, with a and b swapped between passes so no pass can be
// skipped): nearly every instruction is a load or a store.
#include <cstdlib>
#include <utility>
#include <vector>

#include "common.h"

int main(int argc, char** argv) {
  const int threads = 2;
  const size_t n = 1 << 20;  // 8 MiB per array per thread
  const int reps = argc > 1 ? std::atoi(argv[1]) : 1500;
  std::vector<std::vector<double>> a(threads, std::vector<double>(n)),
      b(threads, std::vector<double>(n, 1.0)),
      c(threads, std::vector<double>(n, 2.0));
  return RunThreads(threads, [&](int t) {
    double* pa = a[t].data();
    double* pb = b[t].data();
    const double* pc = c[t].data();
    for (int r = 0; r < reps; ++r) {
      for (size_t i = 0; i < n; ++i) pa[i] = pb[i] + 0.5 * pc[i];
      std::swap(pa, pb);
    }
    Sink(pb[n / 2]);
  });
}
