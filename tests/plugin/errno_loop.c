/* Reads errno after a failing system call, as most C code does, with every
 * access sampled: the read of errno (an instrumented load through
 * __errno_location()) is a sample like any other. A window on the thread's
 * own errno trapped trapsan's handlers for ever (they save and restore errno,
 * the window's stall as well): the run hung at its first such sample. It
 * must end, with every errno seen as EBADF. Built with trapsan-cc.
 *   errno_loop [ITERATIONS]  (default 2000) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <trapsan/trapsan.h>

int main(int argc, char** argv) {
  const long iterations = argc > 1 ? atol(argv[1]) : 2000;
  long ebadf = 0;
  for (long i = 0; i < iterations; ++i) {
    char c;
    errno = 0;
    if (read(-1, &c, 1) < 0 && errno == EBADF) ++ebadf;
  }
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("EBADF=%ld\nITERATIONS=%ld\nSKIPPED_ERRNO=%llu\nDONE=1\n", ebadf,
         iterations, (unsigned long long)s.skipped_errno);
  return 0;
}
