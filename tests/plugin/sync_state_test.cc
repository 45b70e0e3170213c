// The sync-state word kept by plugin-built code (TRAPSAN_PLUGIN_SYNC_STATE=1;
// compiler-plugin/SyncState.h) and the thread trampoline's use of the entry
// notes (runtime/linux/entries.h), as sync_state.c reads its own word. No
// traps needed: any backend.
#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

TEST(PluginSyncStateTest, WordFollowsCallsAcquiresAndEntries) {
  RunOptions o;
  o.trapsan_options = "";
  RunResult r = RunProgram("plugin_sync_state_O2", {}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();
  // main is entered from the C library's start: outside.
  EXPECT_EQ(r.Int("MAIN_ENTRY_ODD"), 1) << r.Describe();
  // A call of an instrumented function of the same module: nothing.
  EXPECT_EQ(r.Int("SAME_MODULE_UNCHANGED"), 1) << r.Describe();
  // A call into libc: inside during it, outside after, count + 1.
  EXPECT_EQ(r.Int("LIBC_ODD"), 1) << r.Describe();
  EXPECT_EQ(r.Int("LIBC_ADVANCED"), 1) << r.Describe();
  // A callback entered from libc (qsort's comparator) runs inside.
  EXPECT_GT(r.Int("CALLBACK_EVEN"), 0) << r.Describe();
  EXPECT_EQ(r.Int("CALLBACK_ODD"), 0) << r.Describe();
  EXPECT_EQ(r.Int("AFTER_QSORT_ODD"), 1) << r.Describe();
  // Acquire-or-stronger atomics and fences advance the count (the word by
  // 2); relaxed and release-only ones do not.
  EXPECT_EQ(r.Int("ACQUIRE_LOAD_DELTA"), 2) << r.Describe();
  EXPECT_EQ(r.Int("RELAXED_LOAD_DELTA"), 0) << r.Describe();
  EXPECT_EQ(r.Int("ACQUIRE_FENCE_DELTA"), 2) << r.Describe();
  EXPECT_EQ(r.Int("RELEASE_STORE_DELTA"), 0) << r.Describe();
  EXPECT_EQ(r.Int("ACQ_REL_RMW_DELTA"), 2) << r.Describe();
  // calloc advances it (the allocator's locks); strlen leaves it.
  EXPECT_EQ(r.Int("ALLOC_DELTA"), 2) << r.Describe();
  EXPECT_EQ(r.Int("STRLEN_DELTA"), 0) << r.Describe();
  // An instrumented start routine (an entry note) starts outside.
  EXPECT_EQ(r.Int("THREAD_START_ODD"), 1) << r.Describe();
}

}  // namespace
}  // namespace trapsan_test
