/* A report callback that ends the process, the "fail fast" way (issue 10,
 * defect 2), after a wait-for-any-child loop (defect 4). Two threads race on
 * a counter (checked by the plugin build, and through trapsan_check_write
 * where trapsan is linked); the first report's callback forks a child that
 * exits 5, reaps every child with `while (wait(&st) > 0)` (the symbolizer
 * trapsan started for the report must not be one of them), and exits with
 * status 3. Without trapsan no callback can run: main does the same at once.
 * Prints the same either way (stdout fully buffered when it is a pipe, so a
 * lost flush shows): BUFFERED=1, CALLBACK=1, REAPED=1, SUM=5, WAIT=ECHILD,
 * and exits 3. Usage: report_exit [seconds] (default 20): without a report
 * by then it prints NO_REPORT=1 and exits 0. */
#define _GNU_SOURCE 1
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <trapsan/trapsan.h>

#pragma weak trapsan_check_write
#pragma weak trapsan_set_report_callback

static long g_counter;
static volatile int g_stop;

static void fail_fast(void) {
  printf("CALLBACK=1\n");
  pid_t pid = fork();
  if (pid == 0) _exit(5);
  int reaped = 0, sum = 0, status;
  pid_t p;
  while ((p = wait(&status)) > 0 || (p < 0 && errno == EINTR)) {
    if (p < 0) continue;
    ++reaped;
    sum += WIFEXITED(status) ? WEXITSTATUS(status) : 100;
  }
  printf("REAPED=%d\nSUM=%d\nWAIT=%s\n", reaped, sum,
         errno == ECHILD ? "ECHILD" : "other");
  exit(3);
}

static void on_report(const trapsan_report* report, void* data) {
  (void)report;
  (void)data;
  fail_fast();
}

static void* writer(void* arg) {
  (void)arg;
  while (!g_stop) {
    if (trapsan_check_write) trapsan_check_write(&g_counter, sizeof g_counter);
    g_counter++;
  }
  return NULL;
}

int main(int argc, char** argv) {
  int seconds = argc > 1 ? atoi(argv[1]) : 20;
  printf("BUFFERED=1\n"); /* still in stdio's buffer when exit() runs */
  if (!trapsan_set_report_callback) fail_fast();
  trapsan_set_report_callback(on_report, NULL);
  pthread_t t[2];
  for (int i = 0; i < 2; ++i) pthread_create(&t[i], NULL, writer, NULL);
  struct timespec end, now;
  clock_gettime(CLOCK_MONOTONIC, &end);
  end.tv_sec += seconds;
  do {
    usleep(10000);
    clock_gettime(CLOCK_MONOTONIC, &now);
  } while (now.tv_sec < end.tv_sec ||
           (now.tv_sec == end.tv_sec && now.tv_nsec < end.tv_nsec));
  g_stop = 1;
  for (int i = 0; i < 2; ++i) pthread_join(t[i], NULL);
  printf("NO_REPORT=1\n");
  return 0;
}
