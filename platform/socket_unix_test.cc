// Unix sockets: POSIX only, as in Python (no AF_UNIX on Windows).
// socket_test covers TCP on every OS.
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "platform/channel.h"
#include "platform/socket.h"
#include "platform/socket_test_util.h"
#include "platform/test_util.h"

namespace mp::platform {
namespace {

// Bazel's TEST_TMPDIR is too long for sun_path (108 bytes).
std::string TempPath(absl::string_view name) {
  return absl::StrCat("/tmp/mp-socket-test-", test_util::UniqueToken(), "-",
                      name);
}

using test_util::RoundTrip;

TEST(SocketUnixTest, UnixPath) { RoundTrip(TempPath("unix.sock")); }

TEST(SocketUnixTest, AbstractNamespace) {
  RoundTrip(absl::StrCat("@mp-socket-test-", test_util::UniqueToken()));
  RoundTrip(std::string(1, '\0') +
            absl::StrCat("mp-socket-test-", test_util::UniqueToken()));
}

TEST(SocketUnixTest, Errors) {
  const std::string path = TempPath("taken.sock");
  BoundSocket first = Listen(path, 1).value();
  EXPECT_FALSE(Listen(path, 1).ok());  // the path exists
  ASSERT_TRUE(RemoveSocketFile(path).ok());
  EXPECT_FALSE(Connect(path).ok());  // nobody listens
  EXPECT_FALSE(Connect(TempPath("missing.sock")).ok());
  EXPECT_EQ(Listen(std::string(200, 'x'), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mp::platform
