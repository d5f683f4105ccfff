// Windows only: Listener/Client over named pipes against a peer that does
// at the Win32 level what CPython 3.11's PipeListener, PipeClient and
// PipeConnection do (platform/cpython_pipe_peer.h); and the readiness of
// pipe connections and listeners (Poll, Wait), in this process and in a
// child the connection was handed to. The test binary is also the peer and
// the child: started with --cpython-pipe-peer=... or --idle-child=...,
// ChildMain() plays that part and exits.
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/errors.h"
#include "multiprocessing/ipc/listener.h"
#include "multiprocessing/ipc/wait.h"
#include "multiprocessing/platform/child_main.h"
#include "multiprocessing/platform/cpython_pipe_peer.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/test_util.h"

namespace mp {
namespace {

using test_util::LocalAddress;

// The peer in a child process: "listen" or "connect".
platform::ChildProcess StartPeer(const std::string& role,
                                 const std::string& address,
                                 const std::optional<std::string>& key) {
  return platform::LaunchProgram({platform::ExecutablePath().value(),
                                  absl::StrCat("--cpython-pipe-peer=", role),
                                  address, key ? "+" + *key : "-"},
                                 {})
      .value();
}

int PeerExit(platform::ChildProcess& peer) {
  return platform::WaitForExit(peer, absl::Seconds(30)).value().value_or(-99);
}

// Client() once the peer's pipe exists.
absl::StatusOr<Connection> ClientWhenListening(
    const std::string& address, const std::optional<std::string>& key) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  for (;;) {
    absl::StatusOr<Connection> c = Client(address, key);
    if (c.ok() || absl::Now() > deadline ||
        c.status().code() != absl::StatusCode::kNotFound) {
      return c;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

// Messages both ways over `c`, whose other end is the CPython-like peer.
void Exchange(Connection& c) {
  for (std::size_t size : {0u, 1u, 127u, 128u, 129u, 64u << 10, 1u << 20}) {
    SCOPED_TRACE(size);
    std::string m(size, '\0');
    for (std::size_t i = 0; i < size; ++i) m[i] = static_cast<char>(i * 7);
    ASSERT_TRUE(c.SendBytes(m).ok());
    absl::StatusOr<std::string> back = c.RecvBytes();
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_TRUE(*back == m) << back->size();
  }
  // Pickled values (the peer echoes the bytes).
  const std::vector<int> v = {1, 2, 3};
  ASSERT_TRUE(c.Send(v).ok());
  EXPECT_EQ(c.Recv<std::vector<int>>().value(), v);
  // An empty message between two: Poll sees it, and it is a message.
  ASSERT_TRUE(c.SendBytes("!empty").ok());
  EXPECT_TRUE(c.Poll(absl::Seconds(10)).value());
  EXPECT_TRUE(c.Poll(absl::Seconds(10)).value());
  EXPECT_EQ(c.RecvBytes().value(), "");
  EXPECT_TRUE(c.Poll(absl::Seconds(10)).value());
  EXPECT_EQ(c.RecvBytes().value(), "after");
  EXPECT_FALSE(c.Poll().value());
  // BufferTooShort: the message is handed over and the connection goes on.
  const std::string long_one(300, 'L');
  ASSERT_TRUE(c.SendBytes(long_one).ok());
  char small[10];
  absl::StatusOr<std::size_t> into = c.RecvBytesInto(absl::MakeSpan(small));
  EXPECT_EQ(into.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(BufferTooShortMessage(into.status()).value_or(""), long_one);
  ASSERT_TRUE(c.SendBytes("fits").ok());
  char buffer[16];
  EXPECT_EQ(c.RecvBytesInto(absl::MakeSpan(buffer), 2).value(), 4u);
  EXPECT_EQ(std::string(buffer + 2, 4), "fits");
  // Poll with a timeout sleeps it, then wakes for a late message.
  ASSERT_TRUE(c.SendBytes("!sleep 300").ok());
  const absl::Time start = absl::Now();
  EXPECT_FALSE(c.Poll(absl::Milliseconds(100)).value());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(95));
  EXPECT_TRUE(c.Poll(absl::Seconds(10)).value());
  EXPECT_EQ(c.RecvBytes().value(), "awake");
  // The peer closes mid-conversation: readable, then end of stream.
  ASSERT_TRUE(c.SendBytes("!close").ok());
  EXPECT_TRUE(c.Poll(absl::Seconds(10)).value());
  absl::StatusOr<std::string> end = c.RecvBytes();
  EXPECT_TRUE(IsEof(end.status())) << end.status();
}

// A message over maxlength is refused from its size: the connection is
// closed, as on a byte stream, and the 64 MiB are never allocated.
void RefuseLong(Connection& c) {
  ASSERT_TRUE(c.SendBytes(absl::StrCat("!big ", 64 << 20)).ok());
  absl::StatusOr<std::string> r = c.RecvBytes(/*maxlength=*/1000);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
      << r.status();
  EXPECT_TRUE(c.closed());
}

TEST(CPythonPipeTest, OurClientTalksToCPythonsPipeListener) {
  for (const std::optional<std::string>& key :
       {std::optional<std::string>(), std::optional<std::string>("secret")}) {
    SCOPED_TRACE(key.value_or("(no key)"));
    const std::string address = LocalAddress("cpython-listener");
    platform::ChildProcess peer = StartPeer("listen", address, key);
    absl::StatusOr<Connection> c = ClientWhenListening(address, key);
    ASSERT_TRUE(c.ok()) << c.status();
    Exchange(*c);
    EXPECT_EQ(PeerExit(peer), 0);
  }
}

TEST(CPythonPipeTest, OurListenerServesCPythonsPipeClient) {
  for (const std::optional<std::string>& key :
       {std::optional<std::string>(), std::optional<std::string>("secret")}) {
    SCOPED_TRACE(key.value_or("(no key)"));
    Listener listener =
        Listener::Create(LocalAddress("cpython-client"), 1, key).value();
    platform::ChildProcess peer = StartPeer("connect", listener.address(), key);
    absl::StatusOr<Connection> c = listener.Accept();
    ASSERT_TRUE(c.ok()) << c.status();
    Exchange(*c);
    EXPECT_EQ(PeerExit(peer), 0);
  }
}

TEST(CPythonPipeTest, LongMessagesAreRefusedBothWays) {
  {
    const std::string address = LocalAddress("cpython-long-1");
    platform::ChildProcess peer = StartPeer("listen", address, "k");
    absl::StatusOr<Connection> c = ClientWhenListening(address, "k");
    ASSERT_TRUE(c.ok()) << c.status();
    RefuseLong(*c);
    PeerExit(peer);  // its write fails once we closed: any code
  }
  {
    Listener listener =
        Listener::Create(LocalAddress("cpython-long-2"), 1, "k").value();
    platform::ChildProcess peer = StartPeer("connect", listener.address(), "k");
    absl::StatusOr<Connection> c = listener.Accept();
    ASSERT_TRUE(c.ok()) << c.status();
    RefuseLong(*c);
    PeerExit(peer);
  }
}

TEST(CPythonPipeTest, WrongKeyFailsAgainstCPython) {
  const std::string address = LocalAddress("cpython-wrong-key");
  platform::ChildProcess peer = StartPeer("listen", address, "right");
  absl::StatusOr<Connection> c = ClientWhenListening(address, "wrong");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kPermissionDenied)
      << c.status();
  EXPECT_NE(PeerExit(peer), 0);
}

// An idle accepted pipe connection is not readable: Poll and Wait sleep
// their timeout, and wake once data comes.
void ExpectIdleThenWakes(Connection& c, const std::function<void()>& send) {
  absl::Time start = absl::Now();
  EXPECT_FALSE(c.Poll(absl::Milliseconds(300)).value());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290));
  start = absl::Now();
  EXPECT_TRUE(Wait({c}, absl::Milliseconds(300)).value().empty());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290));
  std::thread sender([&] {
    absl::SleepFor(absl::Milliseconds(200));
    send();
  });
  start = absl::Now();
  EXPECT_EQ(Wait({c}, absl::Seconds(20)).value().size(), 1u);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  sender.join();
}

TEST(PipeReadinessTest, IdleAcceptedConnectionIsNotReadable) {
  Listener listener = Listener::Create(LocalAddress("idle"), 1).value();
  std::optional<Connection> client;
  std::thread t([&] { client = Client(listener.address()).value(); });
  Connection accepted = listener.Accept().value();
  t.join();
  ExpectIdleThenWakes(accepted,
                      [&] { ASSERT_TRUE(client->SendBytes("x").ok()); });
  EXPECT_EQ(accepted.RecvBytes().value(), "x");
}

// The accepted connection handed to another process (as the spawn start
// method hands it: the handle inherited, nothing else) is a connection
// there too: the child checks the same and says so.
TEST(PipeReadinessTest, AcceptedConnectionHandedToAChildIsNotReadable) {
  Listener listener = Listener::Create(LocalAddress("handed"), 1).value();
  std::optional<Connection> client;
  std::thread t([&] { client = Client(listener.address()).value(); });
  Connection accepted = listener.Accept().value();
  t.join();
  // The child takes the handle out of this process (its value here is on
  // the command line), so ours stays open until the child has answered.
  platform::LaunchOptions options;
  options.taken_by_child = {accepted.fileno()};
  platform::ChildProcess child =
      platform::LaunchProgram({platform::ExecutablePath().value(),
                               "--idle-child", absl::StrCat(accepted.fileno()),
                               absl::StrCat(platform::CurrentProcessId())},
                              {}, options)
          .value();
  EXPECT_EQ(client->RecvBytes().value(), "idle checked");
  ASSERT_TRUE(accepted.Close().ok());
  absl::SleepFor(absl::Milliseconds(200));
  ASSERT_TRUE(client->SendBytes("go").ok());
  EXPECT_EQ(client->RecvBytes().value(), "woke");
  EXPECT_EQ(platform::WaitForExit(child, absl::Seconds(30)).value(), 0);
}

TEST(PipeReadinessTest, WaitOnAListenerWakesWhenAClientConnects) {
  Listener listener = Listener::Create(LocalAddress("wake"), 1).value();
  absl::Time start = absl::Now();
  EXPECT_TRUE(Wait({listener}, absl::Milliseconds(300)).value().empty());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(290));
  absl::Time connected;
  std::optional<Connection> client;
  std::thread t([&] {
    absl::SleepFor(absl::Milliseconds(300));
    connected = absl::Now();
    client = Client(listener.address()).value();
  });
  EXPECT_EQ(Wait({listener}, absl::Seconds(20)).value().size(), 1u);
  const absl::Time woke = absl::Now();
  t.join();
  EXPECT_LT(woke - connected, absl::Seconds(1));
  Connection c = listener.Accept().value();
  ASSERT_TRUE(client->SendBytes("hi").ok());
  EXPECT_EQ(c.RecvBytes().value(), "hi");
  // The next instance listens too.
  EXPECT_TRUE(Wait({listener}, absl::Milliseconds(100)).value().empty());
}

// --idle-child <handle> <parent pid>: the accepted connection, taken from
// the parent.
int IdleChild(platform::NativeHandle h, int64_t parent) {
  absl::StatusOr<platform::ScopedHandle> taken =
      platform::TakeHandleFromParent(parent, h);
  if (!taken.ok()) return 9;
  Connection c(*std::move(taken), true, true);
  absl::Time start = absl::Now();
  if (c.Poll(absl::Milliseconds(300)).value_or(true)) return 10;
  if (absl::Now() - start < absl::Milliseconds(290)) return 11;
  start = absl::Now();
  absl::StatusOr<std::vector<std::size_t>> ready =
      Wait({c}, absl::Milliseconds(300));
  if (!ready.ok() || !ready->empty()) return 12;
  if (absl::Now() - start < absl::Milliseconds(290)) return 13;
  if (!c.SendBytes("idle checked").ok()) return 14;
  start = absl::Now();
  ready = Wait({c}, absl::Seconds(20));
  if (!ready.ok() || ready->size() != 1) return 15;
  if (absl::Now() - start > absl::Seconds(5)) return 16;
  if (c.RecvBytes().value_or("") != "go") return 17;
  if (!c.SendBytes("woke").ok()) return 18;
  return 0;
}

std::optional<int> ChildMain() {
  const std::vector<std::string>& args = platform::ProgramArguments();
  if (args.size() == 4) {
    absl::string_view role = args[1];
    if (absl::ConsumePrefix(&role, "--cpython-pipe-peer=")) {
      std::optional<std::string> key;
      if (args[3] != "-") key = args[3].substr(1);
      platform::ExitNow(role == "listen"
                            ? test_util::RunCPythonPipeListener(args[2], key)
                            : test_util::RunCPythonPipeClient(args[2], key));
    }
  }
  int64_t h = 0, parent = 0;
  if (args.size() == 4 && args[1] == "--idle-child" &&
      absl::SimpleAtoi(args[2], &h) && absl::SimpleAtoi(args[3], &parent)) {
    platform::ExitNow(IdleChild(h, parent));
  }
  return std::nullopt;
}
MP_TEST_CHILD_MAIN(ChildMain);

}  // namespace
}  // namespace mp
