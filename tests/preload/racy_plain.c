// A data race in a program built with plain gcc -O2 (no trapsan, no
// sanitizer): two threads increment one counter without a lock. bump() is
// not inlined, so the increment is one unlocked read-modify-write
// (addq $1, counter(%rip)): an instruction no C++ atomic compiles to.
//   racy_plain MS   runs both threads for MS milliseconds
#include "two_workers.h"

long counter;

__attribute__((noinline)) void bump(void) { counter++; }

static void Bumps(void) {
  for (int i = 0; i < 1000; ++i) bump();
}

int main(int argc, char** argv) { return RunTwoWorkers(argc, argv, 1000, Bumps); }
