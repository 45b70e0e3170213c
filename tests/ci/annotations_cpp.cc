// The C++ forms of include/trapsan/annotations.h (annotations_test.py):
// TRAPSAN_DATA_RACE as a lambda (a value, never a reference, read inside the
// ignore region), the scoped assertions as RAII objects.
//
// Usage: annotations_cpp [scoped|data-race]
//   scoped     a scoped ACCESS assertion held while the intruder reads: report
//   data-race  the intruder's reads through TRAPSAN_DATA_RACE while the
//              owner samples its writes: silent
// Prints REPORTS=n.
#define TRAPSAN_ENABLE_ANNOTATIONS 1
#include <trapsan/annotations.h>
#include <trapsan/trapsan.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <thread>
#include <type_traits>

namespace {

long g_value;
std::atomic<int> g_reports{0};
std::atomic<bool> g_done{false};

long& Ref() { return g_value; }

// A reference expression gives a value: the read happens in the region.
decltype(auto) DataRaceOfRef() { return TRAPSAN_DATA_RACE(Ref()); }
static_assert(std::is_same<decltype(DataRaceOfRef()), long>::value,
              "TRAPSAN_DATA_RACE yields a value");

__attribute__((noinline)) long OwnerScoped(long v) {
  TRAPSAN_ASSERT_EXCLUSIVE_ACCESS_SCOPED(g_value);
  TRAPSAN_ASSERT_EXCLUSIVE_BITS_SCOPED(g_value, 0xf0);
  return v + 1;
}

__attribute__((noinline)) void OwnerWrites() {
  trapsan_check_write(&g_value, sizeof g_value);
  g_value++;
}

__attribute__((noinline)) long IntruderReads() {
  trapsan_check_read(&g_value, sizeof g_value);
  return *static_cast<volatile long*>(&g_value);
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  const bool scoped = argc > 1 && std::strcmp(argv[1], "scoped") == 0;
  trapsan_set_report_callback(
      [](const trapsan_report*, void*) { g_reports.fetch_add(1); }, nullptr);
  long sink = 0;
  std::thread intruder([&] {
    while (!g_done.load()) {
      sink += scoped ? IntruderReads() : TRAPSAN_DATA_RACE(IntruderReads());
    }
  });
  long own = 0;
  for (int i = 0; i < 400 && !(scoped && g_reports.load() > 0); ++i) {
    if (scoped) {
      own += OwnerScoped(i);
    } else {
      OwnerWrites();
    }
  }
  g_done.store(true);
  intruder.join();
  std::printf("REPORTS=%d\n", g_reports.load());
  return (sink + own) == -1;  // keep the reads
}
