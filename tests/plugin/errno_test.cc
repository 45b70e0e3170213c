// No window on the sampling thread's own errno (runtime/core/window.h,
// CoversOwnErrno): trapsan's handlers and the window's stall save and restore
// errno, so a watchpoint there made each of them trap again, for ever.
#include <string>

#include "gtest/gtest.h"
#include "harness.h"

namespace trapsan_test {
namespace {

// Every access sampled, windows that stall: errno_loop's reads of errno are
// sampled over and over. It must end, with errno intact (EBADF every time),
// and say that it skipped them.
TEST(PluginErrnoTest, OwnErrnoIsNeverWatched) {
  RequireHardwareBackend();
  if (IsSkipped() || HasFailure()) return;
  RunOptions o;
  o.trapsan_options = "sample_rate=1:delay_us=100:max_overhead=0";
  o.timeout_ms = 60000;
  RunResult r = RunProgram("plugin_errno_loop_O2", {"2000"}, o);
  ASSERT_TRUE(r.exited) << r.Describe();
  EXPECT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_EQ(r.Value("DONE"), "1") << r.Describe();
  EXPECT_EQ(r.Value("EBADF"), "2000") << r.Describe();
  EXPECT_GT(r.Int("SKIPPED_ERRNO"), 0) << r.Describe();
  EXPECT_FALSE(Contains(r.err, "WARNING: trapsan: data race")) << r.Describe();
}

}  // namespace
}  // namespace trapsan_test
