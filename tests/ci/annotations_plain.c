/* include/trapsan/annotations.h in a build without trapsan (no __TRAPSAN__,
 * no -fsanitize=thread, no TRAPSAN_ENABLE_ANNOTATIONS): every macro compiles
 * to nothing, TRAPSAN_DATA_RACE(expr) evaluates expr once, and the program
 * links without libtrapsan (annotations_test.py checks it references no
 * __trapsan_ symbol). Prints OK=<value>. */
#include <stdio.h>

#include <trapsan/annotations.h>

static long g_value = 41;
static int g_evaluations;

static long next(void) {
  ++g_evaluations;
  return g_value + 1;
}

int main(void) {
  TRAPSAN_ASSERT_EXCLUSIVE_WRITER(g_value);
  TRAPSAN_ASSERT_EXCLUSIVE_ACCESS(g_value);
  TRAPSAN_ASSERT_EXCLUSIVE_BITS(g_value, 0x3);
  {
    TRAPSAN_ASSERT_EXCLUSIVE_WRITER_SCOPED(g_value);
    TRAPSAN_ASSERT_EXCLUSIVE_ACCESS_SCOPED(g_value);
    TRAPSAN_ASSERT_EXCLUSIVE_BITS_SCOPED(g_value, 0x3);
    TRAPSAN_IGNORE_BEGIN();
    g_value = TRAPSAN_DATA_RACE(next());
    TRAPSAN_IGNORE_END();
  }
  printf("OK=%ld evaluations=%d\n", g_value, g_evaluations);
  return g_evaluations == 1 && g_value == 42 ? 0 : 1;
}
