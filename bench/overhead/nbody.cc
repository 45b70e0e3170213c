// CPU-bound: each thread integrates its own small n-body system; the state
// fits in registers and L1, floating point dominates.
#include <cmath>
#include <cstdlib>

#include "common.h"

namespace {
struct Body {
  double x, y, z, vx, vy, vz, m;
};

void Advance(Body* b, int n, double dt) {
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
      double d2 = dx * dx + dy * dy + dz * dz + 0.01;
      double mag = dt / (d2 * std::sqrt(d2));
      b[i].vx -= dx * b[j].m * mag;
      b[i].vy -= dy * b[j].m * mag;
      b[i].vz -= dz * b[j].m * mag;
      b[j].vx += dx * b[i].m * mag;
      b[j].vy += dy * b[i].m * mag;
      b[j].vz += dz * b[i].m * mag;
    }
  }
  for (int i = 0; i < n; ++i) {
    b[i].x += dt * b[i].vx;
    b[i].y += dt * b[i].vy;
    b[i].z += dt * b[i].vz;
  }
}
}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 12000000;
  return RunThreads(2, [&](int t) {
    Body bodies[5];
    for (int i = 0; i < 5; ++i) {
      bodies[i] = {double(i + t), double(2 * i), double(-i), 0, 0.1 * i, 0,
                   1.0 + i};
    }
    for (int s = 0; s < steps; ++s) Advance(bodies, 5, 0.001);
    Sink(bodies[0].x);
  });
}
