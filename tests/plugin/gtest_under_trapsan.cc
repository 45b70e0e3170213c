// A real code base under the plugin: GoogleTest itself (its sources, from
// libgtest-dev) and these tests, all built by trapsan-c++ at -O2, run with
// mode=ci: they pass and nothing is reported (the threads below synchronize).
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

TEST(UnderTrapsan, StringsAndContainers) {
  std::vector<std::string> words;
  for (int i = 0; i < 1000; ++i) words.push_back("word" + std::to_string(i));
  EXPECT_EQ(words.size(), 1000u);
  EXPECT_EQ(words[999], "word999");
}

TEST(UnderTrapsan, ThreadsUnderAMutex) {
  std::mutex mu;
  long total = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200000; ++i) {
        std::lock_guard<std::mutex> lock(mu);
        ++total;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(total, 800000);
}

TEST(UnderTrapsan, AFailureIsReportedByGoogleTest) {
  // gtest's own failure path (string building, test part results) runs
  // instrumented: checked by expecting the failure.
  EXPECT_NONFATAL_FAILURE(ADD_FAILURE() << "expected", "expected");
}
