// TCP on every OS (socket_unix_test covers Unix sockets, POSIX only).
#include "multiprocessing/platform/socket.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/socket_test_util.h"

namespace mp::platform {
namespace {

using test_util::RoundTrip;

TEST(SocketTest, TcpPortZeroPicksAFreePort) {
  absl::StatusOr<BoundSocket> listener = Listen("127.0.0.1:0", 1);
  ASSERT_TRUE(listener.ok()) << listener.status();
  EXPECT_NE(listener->address, "127.0.0.1:0");
  EXPECT_EQ(listener->address.rfind("127.0.0.1:", 0), 0u);
  RoundTrip("127.0.0.1:0");
  RoundTrip("localhost:0");
}

TEST(SocketTest, TcpIpv6) {
  absl::StatusOr<BoundSocket> probe = Listen("[::1]:0", 1);
  if (!probe.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << probe.status();
  EXPECT_EQ(probe->address.rfind("[::1]:", 0), 0u);
  RoundTrip("[::1]:0");
}

TEST(SocketTest, PeerAddressOfTcp) {
  BoundSocket listener = Listen("127.0.0.1:0", 1).value();
  ScopedHandle client = Connect(listener.address).value();
  BoundSocket server = Accept(listener).value();
  EXPECT_EQ(server.address.rfind("127.0.0.1:", 0), 0u) << server.address;
}

TEST(SocketTest, Errors) {
  BoundSocket first = Listen("127.0.0.1:0", 1).value();
  EXPECT_FALSE(Listen(first.address, 1).ok());  // the port is taken
  const std::string address = first.address;
  first.handle.reset();
  EXPECT_FALSE(Connect(address).ok());  // nobody listens
  EXPECT_FALSE(Connect("no-such-host.invalid:1").ok());
}

TEST(SocketTest, ReceiveTimeout) {
  BoundSocket listener = Listen("127.0.0.1:0", 1).value();
  ScopedHandle client = Connect(listener.address).value();
  BoundSocket server = Accept(listener).value();
  ASSERT_TRUE(
      SetReceiveTimeout(server.handle.get(), absl::Milliseconds(100)).ok());
  const absl::Time start = absl::Now();
  char c;
  absl::StatusOr<std::size_t> r = ReadSome(server.handle.get(), &c, 1);
  EXPECT_TRUE(IsTimeout(r.status())) << r.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(90));
  ASSERT_TRUE(SetReceiveTimeout(server.handle.get(), std::nullopt).ok());
  const ConstBuffer one[] = {{"x", 1}};
  ASSERT_TRUE(WriteAll(client.get(), one).ok());
  EXPECT_EQ(ReadSome(server.handle.get(), &c, 1).value(), 1u);
}

}  // namespace
}  // namespace mp::platform
