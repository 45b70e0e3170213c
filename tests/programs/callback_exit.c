/* A report callback that ends the process, the "fail fast" way: exit(3)
 * from inside it (or _exit(3) with the argument "_exit"). Before the fix
 * trapsan's exit handler waited for the reporter's lock, which the
 * reporting thread held while it ran the callback: the process hung,
 * printed no report and lost its buffered stdout. Now the report is printed
 * before the callback runs, which runs without that lock: the exit handlers
 * run, stdout is flushed, trapsan's summary is printed and the process exits
 * with the callback's status, 3 (trapsan's exitcode applies only when the
 * program did not choose a status from the callback). Two threads race
 * through the manual API; a 20 s alarm turns a hang into a failure. Prints
 * (stdout, fully buffered when it is a pipe): BUFFERED=1 at start, CALLBACK=1
 * in the callback, and NOT_REACHED=1 if main ever gets past the race. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <trapsan/trapsan.h>

static long g_counter;
static int g_underscore_exit;

static void OnReport(const trapsan_report* report, void* data) {
  (void)report;
  (void)data;
  printf("CALLBACK=1\n");
  if (g_underscore_exit) {
    fflush(stdout);
    _exit(3);
  }
  exit(3);
}

static void* Writer(void* arg) {
  (void)arg;
  for (;;) {
    trapsan_check_write(&g_counter, sizeof g_counter); /* CALLBACK_EXIT_RACE */
    g_counter++;
  }
  return NULL;
}

int main(int argc, char** argv) {
  g_underscore_exit = argc > 1 && strcmp(argv[1], "_exit") == 0;
  printf("BUFFERED=1\n"); /* still in stdio's buffer when exit() runs */
  alarm(20);
  trapsan_set_report_callback(OnReport, NULL);
  pthread_t t[2];
  for (int i = 0; i < 2; ++i) pthread_create(&t[i], NULL, Writer, NULL);
  sleep(15);
  printf("NOT_REACHED=1\n");
  return 0;
}
