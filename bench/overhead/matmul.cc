// Memory and compute: each thread multiplies its own 256x256 matrices.
#include <cstdlib>
#include <vector>

#include "common.h"

int main(int argc, char** argv) {
  const int n = 256;
  const int reps = argc > 1 ? std::atoi(argv[1]) : 160;
  return RunThreads(2, [&](int t) {
    std::vector<double> a(n * n, 1.0 + t), b(n * n, 2.0), c(n * n, 0.0);
    for (int r = 0; r < reps; ++r) {
      for (int i = 0; i < n; ++i) {
        for (int k = 0; k < n; ++k) {
          double aik = a[i * n + k];
          for (int j = 0; j < n; ++j) c[i * n + j] += aik * b[k * n + j];
        }
      }
    }
    Sink(c[n + 1]);
  });
}
