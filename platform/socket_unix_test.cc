// Unix sockets: POSIX only, as in Python (no AF_UNIX on Windows).
// socket_test covers TCP on every OS.
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/socket.h"
#include "multiprocessing/platform/socket_test_util.h"
#include "multiprocessing/platform/test_util.h"

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

// The socket file is 0600 whatever the umask, unless asked otherwise, and
// the mode is in place before anyone can connect.
TEST(SocketUnixTest, SocketFileModeIsPrivateByDefault) {
  const mode_t old_umask = ::umask(0);
  const std::string path = TempPath("mode.sock");
  {
    BoundSocket s = Listen(path, 1).value();
    struct stat st = {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_TRUE(RemoveSocketFile(path).ok());
  }
  {
    BoundSocket s = Listen(path, 1, 0660).value();
    struct stat st = {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    ASSERT_TRUE(RemoveSocketFile(path).ok());
  }
  ::umask(old_umask);
}

}  // namespace
}  // namespace mp::platform
