/* A handoff implemented in a library built without trapsan
 * (release_lib.c): its synchronization is invisible to trapsan, so every
 * call into it must close the caller's held windows. */
#ifndef TRAPSAN_TESTS_RELEASE_RELEASE_LIB_H_
#define TRAPSAN_TESTS_RELEASE_RELEASE_LIB_H_
void release_lib_post(int i);
void release_lib_await(int i);
void release_lib_ack(int i);
void release_lib_await_ack(int i);
#endif
