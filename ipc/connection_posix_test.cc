// Connection cases that need fork or signals (POSIX by nature; on Windows
// a dying peer will be a spawned child once process/ is ported there).
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "ipc/connection.h"
#include "ipc/connection_test_util.h"
#include "platform/launch.h"
#include "platform/test_util.h"

namespace mp {
namespace {

// A child that dies in the middle of a frame: the receiver sees kDataLoss,
// never EOF and never a hang.
TEST(ConnectionTest, PeerDyingMidMessageIsDataLoss) {
  struct Case {
    std::string bytes;
    const char* what;
  };
  for (const Case& c :
       {Case{std::string("\0\0", 2), "inside the header"},
        Case{std::string("\0\0\x03\xe8"
                         "0123456789",
                         14),
             "inside the body"},
        Case{std::string("\xff\xff\xff\xff\0\0", 6), "inside a long header"}}) {
    auto [parent, child] = MakePipe();
    platform::NativeHandle keep = child.fileno();
    platform::ChildProcess proc =
        platform::ForkAndRun({&keep, 1}, [&] {
          WriteRaw(child, c.bytes);
          platform::ExitNow(0);  // dies with the frame unfinished
          return 0;
        }).value();
    ASSERT_TRUE(child.Close().ok());
    absl::StatusOr<std::string> r = parent.RecvBytes();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss)
        << c.what << ": " << r.status();
    EXPECT_EQ(platform::WaitForExit(proc, std::nullopt).value(), 0);
  }
}

TEST(ConnectionTest, RecvSurvivesASignalStorm) {
  auto [a, b] = MakePipe();
  const int kMessages = 2000;
  std::thread t([&a = a] {
    for (int i = 0; i < kMessages; ++i) {
      ASSERT_TRUE(a.SendBytes(std::string(i * 97 % 20000, 'a' + i % 26)).ok());
    }
  });
  int64_t delivered = 0;
  {
    mp::testing::SignalStorm storm(50);
    for (int i = 0; i < kMessages; ++i) {
      absl::StatusOr<std::string> m = b.RecvBytes();
      ASSERT_TRUE(m.ok()) << m.status();
      ASSERT_EQ(*m, std::string(i * 97 % 20000, 'a' + i % 26));
    }
    delivered = storm.delivered();
  }
  t.join();
  EXPECT_GT(delivered, 0);
}

}  // namespace
}  // namespace mp
