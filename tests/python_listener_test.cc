// mp::Listener / mp::Client against CPython's (python3 on this machine),
// both directions, over a Unix path, TCP on 127.0.0.1 and on ::1: the right
// key carries messages of 0 B to 16 MiB both ways; a wrong key fails on both
// sides (kPermissionDenied here, AuthenticationError there) and nobody
// hangs.
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/listener.h"
#include "multiprocessing/ipc/wait.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/socket.h"
#include "multiprocessing/platform/test_util.h"

namespace mp {
namespace {

constexpr char kPeer[] = "tests/python_listener_peer.py";

// Sends messages of growing size and expects each back.
void EchoThroughPython(Connection& c) {
  for (std::size_t size : {0ul, 1ul, 100ul, 65536ul, 16ul << 20}) {
    const std::string sent(size, static_cast<char>('a' + size % 26));
    // A writer thread: a 16 MiB echo does not fit in the socket buffers.
    std::thread writer([&] { ASSERT_TRUE(c.SendBytes(sent).ok()); });
    absl::StatusOr<std::string> back = c.RecvBytes();
    writer.join();
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == sent) << "size " << size;
  }
}

int WaitPython(const platform::ChildProcess& python) {
  absl::StatusOr<std::optional<int>> code =
      platform::WaitForExit(python, absl::Seconds(60));
  if (!code.ok() || !code->has_value()) {
    platform::Kill(python).IgnoreError();
    platform::WaitForExit(python, std::nullopt).IgnoreError();
    return -999;
  }
  return **code;
}

// With the right key: bytes echo through Python, which exits 0 at our EOF.
// With the wrong key: kPermissionDenied here, AuthenticationError (exit 3)
// there.
void ExpectOutcome(absl::StatusOr<Connection> c, bool right_key,
                   const platform::ChildProcess& python) {
  if (right_key) {
    ASSERT_TRUE(c.ok()) << c.status();
    EchoThroughPython(*c);
    ASSERT_TRUE(c->Close().ok());
    EXPECT_EQ(WaitPython(python), 0);
  } else {
    EXPECT_EQ(c.status().code(), absl::StatusCode::kPermissionDenied)
        << c.status();
    EXPECT_EQ(WaitPython(python), 3);
  }
}

// CPython's Client() cannot reach IPv6 (3.11 resolves every tuple address
// as AF_INET), so only a Python Listener is tried on ::1.
std::vector<std::string> Addresses(bool ipv6) {
  std::vector<std::string> out = {
      absl::StrCat("/tmp/mp-pyl-", test_util::UniqueToken(), ".sock"),
      "127.0.0.1:0"};
  if (ipv6 && platform::Listen("[::1]:0", 1).ok()) out.push_back("[::1]:0");
  return out;
}

TEST(PythonListenerTest, PythonClientToCppListener) {
  for (const std::string& address : Addresses(/*ipv6=*/false)) {
    for (bool right_key : {true, false}) {
      SCOPED_TRACE(
          absl::StrCat(address, right_key ? " right key" : " wrong key"));
      Listener listener = Listener::Create(address, 1, "sesame").value();
      platform::ChildProcess python =
          platform::LaunchProgram(
              {"python3", kPeer, "client", listener.address(),
               right_key ? "sesame" : "guess"},
              {})
              .value();
      // Never hang on a peer that failed to start: wait with a deadline.
      ASSERT_EQ(Wait({listener}, absl::Seconds(60)).value().size(), 1u)
          << "python never connected; exit code " << WaitPython(python);
      ExpectOutcome(listener.Accept(), right_key, python);
    }
  }
}

TEST(PythonListenerTest, CppClientToPythonListener) {
  for (std::string address : Addresses(/*ipv6=*/true)) {
    for (bool right_key : {true, false}) {
      SCOPED_TRACE(
          absl::StrCat(address, right_key ? " right key" : " wrong key"));
      const std::string ready =
          absl::StrCat("/tmp/mp-pyl-ready-", test_util::UniqueToken());
      std::remove(ready.c_str());
      if (address[0] == '/') std::remove(address.c_str());
      platform::ChildProcess python =
          platform::LaunchProgram(
              {"python3", kPeer, "listener", address, "sesame", ready}, {})
              .value();
      // Python writes its bound address (with the real port) when ready.
      std::string bound;
      for (const absl::Time deadline = absl::Now() + absl::Seconds(30);
           bound.empty() && absl::Now() < deadline;) {
        std::ifstream f(ready);
        std::getline(f, bound);
        if (bound.empty()) absl::SleepFor(absl::Milliseconds(20));
      }
      std::remove(ready.c_str());
      ASSERT_FALSE(bound.empty()) << "python never listened";
      ExpectOutcome(Client(bound, right_key ? "sesame" : "guess"), right_key,
                    python);
    }
  }
}

}  // namespace
}  // namespace mp
