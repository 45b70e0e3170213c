/* A handoff implemented in a library built without trapsan
 * (release_lib.c): its synchronization is invisible to trapsan, so every
 * call into it must close the caller's held windows. */
#ifndef TRAPSAN_TESTS_RELEASE_RELEASE_LIB_H_
#define TRAPSAN_TESTS_RELEASE_RELEASE_LIB_H_
void release_lib_post(int i);
void release_lib_await(int i);
void release_lib_ack(int i);
void release_lib_await_ack(int i);
/* Calls produce(i) (instrumented code: its return comes back here, to
 * code trapsan cannot see), then posts i as release_lib_post does. */
void release_lib_produce_post(void (*produce)(int), int i);
#endif
