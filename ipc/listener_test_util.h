// Helpers of the Listener tests.
#ifndef MULTIPROCESSING_IPC_LISTENER_TEST_UTIL_H_
#define MULTIPROCESSING_IPC_LISTENER_TEST_UTIL_H_

#include <optional>
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "multiprocessing/ipc/listener.h"

namespace mp::test_util {

// A client in another thread: connects, echoes every message back until end
// of stream; records how its Client() call ended.
struct EchoClient {
  EchoClient(std::string address, std::optional<std::string> key)
      : thread([this, address, key] {
          absl::StatusOr<Connection> c = Client(address, key);
          status = c.status();
          if (!c.ok()) return;
          for (;;) {
            absl::StatusOr<std::string> m = c->RecvBytes();
            if (!m.ok() || !c->SendBytes(*m).ok()) return;
          }
        }) {}
  ~EchoClient() { Join(); }
  void Join() {
    if (thread.joinable()) thread.join();
  }
  absl::Status status;
  std::thread thread;
};

inline void EchoBothWays(const std::string& address) {
  SCOPED_TRACE(address);
  absl::StatusOr<Listener> listener = Listener::Create(address, 1, "key");
  ASSERT_TRUE(listener.ok()) << listener.status();
  EchoClient client(listener->address(), "key");
  absl::StatusOr<Connection> c = listener->Accept();
  ASSERT_TRUE(c.ok()) << c.status();
  for (std::size_t size : {0ul, 1ul, 1000ul, 1ul << 20}) {
    const std::string m(size, 'm');
    ASSERT_TRUE(c->SendBytes(m).ok());
    EXPECT_EQ(c->RecvBytes().value(), m);
  }
  ASSERT_TRUE(c->Close().ok());
}

}  // namespace mp::test_util

#endif  // MULTIPROCESSING_IPC_LISTENER_TEST_UTIL_H_
