// CPython's multiprocessing.connection.Connection and mp::Connection speak the
// same wire format: a python3 child on an inherited descriptor echoes what
// C++ sends, then sends its own messages (empty to 16 MiB), then sees EOF.
#include <string>
#include <thread>

#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/launch.h"

namespace mp {
namespace {

// The same bytes as pattern() in python_peer.py.
std::string Pattern(std::size_t n, int seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(((i % 4096) * 31 + seed) % 256);
  return s;
}

TEST(PythonInteropTest, BytesBothWaysWithCpythonsConnection) {
  auto [ours, theirs] = Pipe().value();
  platform::NativeHandle fd = theirs.fileno();
  platform::ChildProcess python =
      platform::LaunchProgram({"python3", "tests/python_peer.py", std::to_string(fd)}, {&fd, 1})
          .value();
  ASSERT_TRUE(theirs.Close().ok());

  // C++ -> Python -> C++: echoes, including an empty and a 16 MiB message.
  for (std::size_t size : {0ul, 1ul, 100ul, 65536ul, 16ul << 20}) {
    const std::string sent = Pattern(size, static_cast<int>(size % 13));
    std::thread writer([&ours = ours, &sent] { ASSERT_TRUE(ours.SendBytes(sent).ok()); });
    absl::StatusOr<std::string> echoed = ours.RecvBytes();
    writer.join();
    ASSERT_TRUE(echoed.ok()) << echoed.status();
    EXPECT_TRUE(*echoed == sent) << "size " << size;
  }
  ASSERT_TRUE(ours.SendBytes("switch").ok());

  // Python -> C++.
  EXPECT_EQ(ours.RecvBytes().value(), "");
  EXPECT_EQ(ours.RecvBytes().value(), "from python");
  std::string big = ours.RecvBytes().value();
  EXPECT_EQ(big.size(), 16u << 20);
  EXPECT_TRUE(big == Pattern(16 << 20, 7));
  EXPECT_EQ(ours.RecvBytes().value(), "23456");

  // Closing our end is EOFError over there; it exits 0 only if it saw it.
  ASSERT_TRUE(ours.Close().ok());
  EXPECT_EQ(platform::WaitForExit(python, std::nullopt).value(), 0);
}

}  // namespace
}  // namespace mp
