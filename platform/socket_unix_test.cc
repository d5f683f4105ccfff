// Unix sockets: POSIX only, as in Python (no AF_UNIX on Windows).
// socket_test covers TCP on every OS.
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "platform/channel.h"
#include "platform/socket.h"
#include "platform/test_util.h"

namespace mp::platform {
namespace {

// Bazel's TEST_TMPDIR is too long for sun_path (108 bytes).
std::string TempPath(absl::string_view name) {
  return absl::StrCat("/tmp/mp-socket-test-", testing::UniqueToken(), "-",
                      name);
}

// Listens on `address`, connects, and passes bytes both ways.
void RoundTrip(const std::string& address) {
  SCOPED_TRACE(address);
  absl::StatusOr<BoundSocket> listener = Listen(address, 4);
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<ScopedHandle> client = Connect(listener->address);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<BoundSocket> server = Accept(*listener);
  ASSERT_TRUE(server.ok()) << server.status();
  const ConstBuffer hello[] = {{"hello", 5}};
  ASSERT_TRUE(WriteAll(client->get(), hello).ok());
  char buf[5];
  ASSERT_EQ(ReadFull(server->handle.get(), buf, 5).value(), 5u);
  EXPECT_EQ(std::string(buf, 5), "hello");
  ASSERT_TRUE(RemoveSocketFile(listener->address).ok());
}

TEST(SocketUnixTest, UnixPath) { RoundTrip(TempPath("unix.sock")); }

TEST(SocketUnixTest, AbstractNamespace) {
  RoundTrip(absl::StrCat("@mp-socket-test-", testing::UniqueToken()));
  RoundTrip(std::string(1, '\0') +
            absl::StrCat("mp-socket-test-", testing::UniqueToken()));
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
