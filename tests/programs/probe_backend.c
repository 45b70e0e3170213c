/* Prints the backend trapsan chose on this machine (BACKEND=hw|soft|off) and
 * the number of hardware watchpoint slots. The integration tests run it once
 * to decide whether hardware-dependent tests can run. */
#include "common.h"

int main(void) {
  tp_setup_stdout();
  trapsan_stats s;
  trapsan_get_stats(&s);
  printf("BACKEND=%s\n", trapsan_backend());
  printf("HW_SLOTS=%d\n", s.hw_slots);
  return 0;
}
