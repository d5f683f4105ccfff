// Listener over TCP, on every OS (listener_test covers named pipes or Unix
// paths, whichever the OS has; listener_unix_test Unix sockets).
#include <string>

#include "gtest/gtest.h"
#include "multiprocessing/ipc/listener.h"
#include "multiprocessing/ipc/listener_test_util.h"
#include "multiprocessing/platform/socket.h"

namespace mp {
namespace {

using test_util::EchoBothWays;

TEST(ListenerTcpTest, Ipv4AndIpv6) {
  EchoBothWays("127.0.0.1:0");
  if (platform::Listen("[::1]:0", 1).ok()) EchoBothWays("[::1]:0");
}

TEST(ListenerTcpTest, AddressAndLastAccepted) {
  Listener listener = Listener::Create("127.0.0.1:0").value();
  EXPECT_NE(listener.address(), "127.0.0.1:0");
  EXPECT_FALSE(listener.last_accepted().has_value());
  Connection client = Client(listener.address()).value();
  Connection server = listener.Accept().value();
  ASSERT_TRUE(listener.last_accepted().has_value());
  EXPECT_EQ(listener.last_accepted()->rfind("127.0.0.1:", 0), 0u);
}

TEST(ListenerTcpTest, PollAndCloseSeeEachOther) {
  Listener listener = Listener::Create("127.0.0.1:0").value();
  Connection client = Client(listener.address()).value();
  Connection server = listener.Accept().value();
  EXPECT_FALSE(server.Poll().value());
  ASSERT_TRUE(client.Send(std::string("hi")).ok());
  EXPECT_TRUE(server.Poll(absl::Seconds(10)).value());
  EXPECT_EQ(server.Recv<std::string>().value_or("?"), "hi");
  ASSERT_TRUE(client.Close().ok());
  EXPECT_TRUE(server.Poll(absl::Seconds(10)).value());  // end of stream
  EXPECT_TRUE(IsEof(server.Recv<std::string>().status()));
}

}  // namespace
}  // namespace mp
