#include "ipc/listener.h"

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "ipc/wait.h"
#include "platform/channel.h"
#include "platform/socket.h"
#include "platform/test_util.h"

namespace mp {
namespace {

std::string UnixPath(absl::string_view name) {
  return absl::StrCat("/tmp/mp-listener-test-", testing::UniqueToken(), "-",
                      name);
}

// A client in another thread: connects, echoes every message back until end
// of stream; records how its Client() call ended.
struct EchoClient {
  EchoClient(std::string address, std::optional<std::string> key)
      : thread([this, address, key] {
          absl::StatusOr<Connection> c = Client(address, key);
          status = c.status();
          if (!c.ok()) return;
          for (;;) {
            absl::StatusOr<std::string> m = c->RecvBytes();
            if (!m.ok() || !c->SendBytes(*m).ok()) return;
          }
        }) {}
  ~EchoClient() { Join(); }
  void Join() {
    if (thread.joinable()) thread.join();
  }
  absl::Status status;
  std::thread thread;
};

void EchoBothWays(const std::string& address) {
  SCOPED_TRACE(address);
  absl::StatusOr<Listener> listener = Listener::Create(address, 1, "key");
  ASSERT_TRUE(listener.ok()) << listener.status();
  EchoClient client(listener->address(), "key");
  absl::StatusOr<Connection> c = listener->Accept();
  ASSERT_TRUE(c.ok()) << c.status();
  for (std::size_t size : {0ul, 1ul, 1000ul, 1ul << 20}) {
    const std::string m(size, 'm');
    ASSERT_TRUE(c->SendBytes(m).ok());
    EXPECT_EQ(c->RecvBytes().value(), m);
  }
  ASSERT_TRUE(c->Close().ok());
}

TEST(ListenerTest, AddressFamilies) {
  EchoBothWays(UnixPath("family.sock"));
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

TEST(ListenerTest, WrongKeyFailsOnBothSidesAndTheListenerGoesOn) {
  Listener listener =
      Listener::Create(UnixPath("wrong.sock"), 1, "right").value();
  {
    EchoClient intruder(listener.address(), "wrong");
    EXPECT_EQ(listener.Accept().status().code(),
              absl::StatusCode::kPermissionDenied);
    intruder.Join();
    EXPECT_EQ(intruder.status.code(), absl::StatusCode::kPermissionDenied);
  }
  EchoClient friendly(listener.address(), "right");
  absl::StatusOr<Connection> c = listener.Accept();
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->SendBytes("hi").ok());
  EXPECT_EQ(c->RecvBytes().value(), "hi");
}

TEST(ListenerTest, NoKeyMeansNoHandshakeAndEmptyKeyIsAKey) {
  {
    Listener listener = Listener::Create(UnixPath("nokey.sock")).value();
    Connection client = Client(listener.address()).value();
    Connection server = listener.Accept().value();
    ASSERT_TRUE(client.SendBytes("raw").ok());  // the first bytes are ours
    EXPECT_EQ(server.RecvBytes().value(), "raw");
  }
  {
    Listener listener = Listener::Create(UnixPath("empty.sock"), 1, "").value();
    EchoClient without(listener.address(), "x");
    EXPECT_EQ(listener.Accept().status().code(),
              absl::StatusCode::kPermissionDenied);
  }
}

// Connects a raw socket and lets `misbehave` write to it; the listener's
// Accept() must fail cleanly and then serve a good client.
void SurvivesBadClient(absl::string_view name,
                       void (*misbehave)(platform::NativeHandle),
                       absl::StatusCode expected) {
  SCOPED_TRACE(name);
  Listener listener = Listener::Create(UnixPath("bad.sock"), 4, "key").value();
  listener.set_handshake_timeout(absl::Milliseconds(300));
  platform::ScopedHandle bad = platform::Connect(listener.address()).value();
  misbehave(bad.get());
  const absl::Time start = absl::Now();
  absl::StatusOr<Connection> c = listener.Accept();
  EXPECT_EQ(c.status().code(), expected) << c.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  bad.reset();
  EchoClient good(listener.address(), "key");
  absl::StatusOr<Connection> next = listener.Accept();
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->SendBytes("still here").ok());
  EXPECT_EQ(next->RecvBytes().value(), "still here");
}

void Write(platform::NativeHandle h, absl::string_view bytes) {
  const platform::ConstBuffer b[] = {{bytes.data(), bytes.size()}};
  ASSERT_TRUE(platform::WriteAll(h, b).ok());
}

TEST(ListenerTest, BadClientsDoNotTakeTheListenerDown) {
  // The listener speaks first (the challenge); these clients answer badly.
  SurvivesBadClient(
      "garbage",
      [](platform::NativeHandle h) {
        Write(h, std::string("\x00\x00\x00\x10garbage garbage!", 20));
      },
      absl::StatusCode::kPermissionDenied);
  SurvivesBadClient(
      "length 2^62",
      [](platform::NativeHandle h) {
        Write(h, std::string("\xff\xff\xff\xff\x40\x00\x00\x00\x00\x00\x00\x00",
                             12));
      },
      absl::StatusCode::kResourceExhausted);
  SurvivesBadClient(
      "truncated",
      [](platform::NativeHandle h) {
        Write(h, std::string("\x00\x00\x00\x20half", 8));
        // ... and then nothing: the deadline ends it.
      },
      absl::StatusCode::kDeadlineExceeded);
  SurvivesBadClient(
      "silent", [](platform::NativeHandle) {},
      absl::StatusCode::kDeadlineExceeded);
}

TEST(ListenerTest, CloseRemovesTheSocketFile) {
  const std::string path = UnixPath("close.sock");
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

// 64 clients at once, each sending 50 messages and reading the replies; one
// thread serves them all with Wait(). Nothing is lost.
TEST(ListenerTest, SixtyFourConcurrentClientsServedWithWait) {
  constexpr int kClients = 64, kMessages = 50;
  Listener listener = Listener::Create("127.0.0.1:0", kClients, "key").value();
  std::atomic<int> replies{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      Connection c = Client(listener.address(), "key").value();
      for (int m = 0; m < kMessages; ++m) {
        const std::string text = absl::StrCat(i, "/", m);
        if (!c.SendBytes(text).ok()) return;
        absl::StatusOr<std::string> r = c.RecvBytes();
        if (r.ok() && *r == text) replies.fetch_add(1);
      }
    });
  }
  std::vector<Connection> conns;
  int accepted = 0, finished = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (finished < kClients && absl::Now() < deadline) {
    std::vector<Waitable> objects;
    if (accepted < kClients) objects.emplace_back(listener);
    for (const Connection& c : conns) {
      if (!c.closed()) objects.emplace_back(c);
    }
    absl::StatusOr<std::vector<std::size_t>> ready =
        Wait(objects, absl::Seconds(5));
    ASSERT_TRUE(ready.ok()) << ready.status();
    for (std::size_t i : *ready) {
      if (objects[i].handle() == listener.fileno()) {
        conns.push_back(listener.Accept().value());
        ++accepted;
        continue;
      }
      for (Connection& c : conns) {
        if (c.closed() || c.fileno() != objects[i].handle()) continue;
        absl::StatusOr<std::string> m = c.RecvBytes();
        if (m.ok() && c.SendBytes(*m).ok()) break;
        EXPECT_TRUE(IsEof(m.status())) << m.status();
        ASSERT_TRUE(c.Close().ok());
        ++finished;
        break;
      }
    }
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(finished, kClients);
  EXPECT_EQ(replies.load(), kClients * kMessages);
}

}  // namespace
}  // namespace mp
