// Listener over TCP and Unix sockets, which the Windows port does not have
// yet (listener_test covers what every OS has).
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "ipc/listener.h"
#include "ipc/listener_test_util.h"
#include "platform/socket.h"
#include "platform/test_util.h"

namespace mp {
namespace {

using testing::EchoBothWays;
using testing::LocalAddress;

TEST(ListenerTest, AddressFamilies) {
  EchoBothWays(LocalAddress("family.sock"));
  EchoBothWays(absl::StrCat("@mp-listener-test-", testing::UniqueToken()));
  EchoBothWays("127.0.0.1:0");
  if (platform::Listen("[::1]:0", 1).ok()) EchoBothWays("[::1]:0");
}

TEST(ListenerTest, AddressAndLastAccepted) {
  Listener listener = Listener::Create("127.0.0.1:0").value();
  EXPECT_NE(listener.address(), "127.0.0.1:0");
  EXPECT_FALSE(listener.last_accepted().has_value());
  Connection client = Client(listener.address()).value();
  Connection server = listener.Accept().value();
  ASSERT_TRUE(listener.last_accepted().has_value());
  EXPECT_EQ(listener.last_accepted()->rfind("127.0.0.1:", 0), 0u);
}

TEST(ListenerTest, CloseRemovesTheSocketFile) {
  const std::string path = LocalAddress("close.sock");
  Listener listener = Listener::Create(path).value();
  EXPECT_TRUE(std::filesystem::exists(path));
  ASSERT_TRUE(listener.Close().ok());
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(listener.Close().ok());
  EXPECT_EQ(listener.Accept().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(Client(path).ok());
  // And the path can be listened on again.
  EXPECT_TRUE(Listener::Create(path).ok());
}

}  // namespace
}  // namespace mp
