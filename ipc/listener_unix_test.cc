// Listener over Unix sockets: POSIX only, as in Python, whose
// multiprocessing has no AF_UNIX on Windows. (listener_test covers named
// pipes or Unix paths, whichever the OS has; listener_tcp_test TCP.)
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/listener.h"
#include "multiprocessing/ipc/listener_test_util.h"
#include "multiprocessing/platform/test_util.h"

namespace mp {
namespace {

using test_util::EchoBothWays;
using test_util::LocalAddress;

TEST(ListenerUnixTest, PathsAndAbstractNames) {
  EchoBothWays(LocalAddress("family.sock"));
  EchoBothWays(absl::StrCat("@mp-listener-test-", test_util::UniqueToken()));
}

TEST(ListenerUnixTest, CloseRemovesTheSocketFile) {
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
