// Connection cases that need signals (POSIX by nature).
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/connection_test_util.h"
#include "multiprocessing/platform/test_util.h"

namespace mp {
namespace {

class ConnectionTest : public ::testing::TestWithParam<Transport> {};
INSTANTIATE_TEST_SUITE_P(Transports, ConnectionTest, EveryTransport(),
                         TransportName);

// Over shared memory the storm hits the spin and the doorbell's read.
TEST_P(ConnectionTest, RecvSurvivesASignalStorm) {
  auto [a, b] = MakePipe(/*duplex=*/true, GetParam());
  const int kMessages = 2000;
  std::thread t([&a = a] {
    for (int i = 0; i < kMessages; ++i) {
      ASSERT_TRUE(a.SendBytes(std::string(i * 97 % 20000, 'a' + i % 26)).ok());
    }
  });
  int64_t delivered = 0;
  {
    mp::test_util::SignalStorm storm(50);
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
