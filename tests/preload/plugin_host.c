// A plain program using plugin_lib.c's library: two threads call lib_bump()
// (a racy increment) for MS milliseconds.
//   plugin_host MS
#include "two_workers.h"

void lib_bump(void);

int main(int argc, char** argv) { return RunTwoWorkers(argc, argv, 300, lib_bump); }
