// sequential_tasks: two independent tasks per pair of threads that happen to
// run one after the other: a quick "configure" task writes a settings
// struct, and a slower "report" task, started at the same time, reads it
// after its own long computation. Nothing orders them.
// corpus: kind=sequential_tasks issue=14 shape=far_apart
// Racy lines: the configure task's writes (RACE) and the report task's
// reads (RACE), which the compiler may hoist above Report's loop and
// attribute to the inlined call (RACE too).
#include "corpus.h"

namespace {

constexpr int kRounds = 40;
constexpr int kWork = 30000;
struct Settings {
  int level;
  long limit;
};
Settings g_settings[2];
long g_reported[CORPUS_THREADS];

void Configure(Settings* s, int round) {
  s->level = round & 7;       // RACE
  s->limit = 1000L * round;   // RACE
}

long Report(const Settings* s, int seed) {
  unsigned x = static_cast<unsigned>(seed);
  long acc = 0;
  for (int i = 0; i < kWork; ++i) {
    x = x * 1664525u + 1013904223u;
    acc += x >> 28;
  }
  return acc + s->level + s->limit;  // RACE
}

int g_round;

void Thread(int index) {
  Settings* s = &g_settings[index / 2];
  if (index % 2 == 0)
    Configure(s, g_round);
  else  // Report is inlined here: its reads may carry this line (RACE)
    g_reported[index] = Report(s, index);  // RACE
}

}  // namespace

int main() {
  for (g_round = 0; g_round < kRounds; ++g_round) corpus_run(Thread);
  std::printf("reported=%ld\n", g_reported[1]);
  return 0;
}
