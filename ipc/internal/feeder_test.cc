#include "multiprocessing/ipc/internal/feeder.h"

#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace mp::ipc_internal {
namespace {

// What the feeder wrote, in order.
struct Written {
  std::mutex mu;
  std::vector<std::string> items;
  Feeder::Writer writer() {
    return [this](absl::Span<const std::string> batch) {
      std::lock_guard<std::mutex> lock(mu);
      items.insert(items.end(), batch.begin(), batch.end());
      return absl::OkStatus();
    };
  }
};

TEST(FeederTest, WritesEveryItemInOrderByFlush) {
  Written written;
  Feeder feeder;
  for (int i = 0; i < 1000; ++i) {
    feeder.Put(std::to_string(i), written.writer());
  }
  EXPECT_TRUE(feeder.Flush());
  ASSERT_EQ(written.items.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(written.items[i], std::to_string(i));
}

TEST(FeederTest, CloseThenJoinThread) {
  Written written;
  Feeder feeder;
  EXPECT_TRUE(feeder.CheckOpen().ok());
  EXPECT_EQ(feeder.JoinThread().code(), absl::StatusCode::kFailedPrecondition);
  feeder.Put("x", written.writer());
  feeder.Close();
  EXPECT_EQ(feeder.CheckOpen().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(feeder.JoinThread().ok());
  EXPECT_EQ(written.items, std::vector<std::string>{"x"});
  EXPECT_TRUE(feeder.Flush());  // again: nothing left to wait for
}

TEST(FeederTest, CancelledFlushDoesNotWait) {
  absl::Notification release;
  Written written;
  auto feeder = std::make_shared<Feeder>();
  // The writer keeps the feeder alive, as QueueCore's does.
  feeder->Put("slow", [feeder, &release,
                       &written](absl::Span<const std::string> batch) {
    release.WaitForNotification();
    return written.writer()(batch);
  });
  feeder->CancelJoin();
  EXPECT_FALSE(feeder->Flush());  // returns while the write still blocks
  {
    std::lock_guard<std::mutex> lock(written.mu);
    EXPECT_TRUE(written.items.empty());
  }
  release.Notify();
  // The detached thread writes and ends on its own.
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard<std::mutex> lock(written.mu);
      if (!written.items.empty()) break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  std::lock_guard<std::mutex> lock(written.mu);
  EXPECT_EQ(written.items, std::vector<std::string>{"slow"});
}

TEST(FeederTest, WriteErrorsDoNotStopTheFeeder) {
  std::vector<std::string> got;
  Feeder feeder;
  Feeder::Writer failing = [&got](absl::Span<const std::string> batch) {
    got.insert(got.end(), batch.begin(), batch.end());
    return absl::InternalError("test: this write fails");
  };
  feeder.Put("a", failing);
  feeder.Put("b", failing);
  EXPECT_TRUE(feeder.Flush());
  EXPECT_EQ(got, (std::vector<std::string>{"a", "b"}));
}

}  // namespace
}  // namespace mp::ipc_internal
