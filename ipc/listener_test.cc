#include "multiprocessing/ipc/listener.h"

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/listener_test_util.h"
#include "multiprocessing/ipc/wait.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/socket.h"
#include "multiprocessing/platform/test_util.h"

namespace mp {
namespace {

using test_util::EchoBothWays;
using test_util::EchoClient;
using test_util::LocalAddress;

TEST(ListenerTest, EchoesOverALocalAddress) {
  EchoBothWays(LocalAddress("echo"));
}

TEST(ListenerTest, WrongKeyFailsOnBothSidesAndTheListenerGoesOn) {
  Listener listener =
      Listener::Create(LocalAddress("wrong.sock"), 1, "right").value();
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
    Listener listener = Listener::Create(LocalAddress("nokey.sock")).value();
    Connection client = Client(listener.address()).value();
    Connection server = listener.Accept().value();
    ASSERT_TRUE(client.SendBytes("raw").ok());  // the first bytes are ours
    EXPECT_EQ(server.RecvBytes().value(), "raw");
  }
  {
    Listener listener =
        Listener::Create(LocalAddress("empty.sock"), 1, "").value();
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
  Listener listener =
      Listener::Create(LocalAddress("bad.sock"), 4, "key").value();
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

// A message pipe (Windows \\.\pipe\ addresses, platform::IsMessagePipe)
// carries whole messages without length headers: there a lying length is a
// message over the limit, and a message cannot be cut short or trickled.
bool CarriesMessages(platform::NativeHandle h) {
  return platform::IsMessagePipe(h);
}

void WriteMessage(platform::NativeHandle h, absl::string_view message) {
  const platform::ConstBuffer b[] = {{message.data(), message.size()}};
  ASSERT_TRUE(platform::WriteMessage(h, b).ok());
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
        if (CarriesMessages(h)) {
          // Over the handshake's 256-byte limit.
          WriteMessage(h, std::string(4096, 'x'));
          return;
        }
        Write(h, std::string("\xff\xff\xff\xff\x40\x00\x00\x00\x00\x00\x00\x00",
                             12));
      },
      absl::StatusCode::kResourceExhausted);
  SurvivesBadClient(
      "truncated",
      [](platform::NativeHandle h) {
        // A message pipe's messages are whole: only the silence is left.
        if (!CarriesMessages(h))
          Write(h, std::string("\x00\x00\x00\x20half", 8));
        // ... and then nothing: the deadline ends it.
      },
      absl::StatusCode::kDeadlineExceeded);
  SurvivesBadClient(
      "silent", [](platform::NativeHandle) {},
      absl::StatusCode::kDeadlineExceeded);
}

TEST(ListenerTest, CloseStopsListeningAndFreesTheAddress) {
  const std::string address = LocalAddress("close");
  Listener listener = Listener::Create(address).value();
  EXPECT_FALSE(Listener::Create(address).ok());  // taken
  ASSERT_TRUE(listener.Close().ok());
  EXPECT_TRUE(listener.Close().ok());
  EXPECT_EQ(listener.Accept().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(Client(address).ok());
  // And the address can be listened on again.
  EXPECT_TRUE(Listener::Create(address).ok());
}

// 64 clients at once, each sending 50 messages and reading the replies; one
// thread serves them all with Wait(). Nothing is lost.
TEST(ListenerTest, SixtyFourConcurrentClientsServedWithWait) {
  constexpr int kClients = 64, kMessages = 50;
  Listener listener =
      Listener::Create(LocalAddress("many"), kClients, "key").value();
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

// Issue 21: ten silent clients and two that trickle their answer a byte at
// a time are pending; a legitimate client that comes after them is served
// at once, and the others end at their own deadlines. The clients connect
// from other threads while Accept() runs: a Windows pipe listener has one
// instance waiting at a time, so each connection needs Accept() to have
// taken the one before.
TEST(ListenerTest, SilentAndTricklingClientsDoNotDelayALegitimateOne) {
  // Long enough for the twelve to connect one by one under Wine.
  constexpr absl::Duration kTimeout = absl::Seconds(10);
  Listener listener =
      Listener::Create(LocalAddress("hostile"), kDefaultBacklog, "key").value();
  listener.set_handshake_timeout(kTimeout);
  const std::string address = listener.address();
  std::atomic<bool> stop{false};
  std::atomic<int> connected{0};
  std::vector<platform::ScopedHandle> silent;
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int i = 0; i < 10; ++i) {
      absl::StatusOr<platform::ScopedHandle> h = platform::Connect(address);
      if (h.ok()) silent.push_back(*std::move(h));
      connected.fetch_add(1);
    }
  });
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&, i] {
      while (connected.load() < 10 + i) absl::SleepFor(absl::Milliseconds(1));
      absl::StatusOr<platform::ScopedHandle> h = platform::Connect(address);
      connected.fetch_add(1);
      if (!h.ok()) return;
      // A plausible answer's header (40 bytes follow), then a byte every
      // 300 ms (13 s in all): a per-read timeout would never fire.
      const std::string answer =
          std::string("\x00\x00\x00\x28", 4) + std::string(40, 'x');
      // On a message pipe a message cannot trickle: these two are silent.
      const bool trickles = !CarriesMessages(h->get());
      for (std::size_t at = 0; trickles && at < answer.size() && !stop.load();
           ++at) {
        const platform::ConstBuffer b[] = {{answer.data() + at, 1}};
        if (!platform::WriteAll(h->get(), b).ok()) return;
        absl::SleepFor(absl::Milliseconds(300));
      }
      while (!stop.load()) absl::SleepFor(absl::Milliseconds(10));
    });
  }
  absl::Time start;
  absl::Duration client_took;
  threads.emplace_back([&] {
    while (connected.load() < 12) absl::SleepFor(absl::Milliseconds(1));
    absl::SleepFor(absl::Milliseconds(200));  // the twelve are pending
    start = absl::Now();
    absl::StatusOr<Connection> c = Client(address, "key");
    client_took = absl::Now() - start;
    ASSERT_TRUE(c.ok()) << c.status();
    absl::StatusOr<std::string> m = c->RecvBytes();
    if (m.ok()) c->SendBytes(*m).IgnoreError();
  });
  absl::StatusOr<Connection> c = listener.Accept();
  const absl::Time served_at = absl::Now();
  EXPECT_TRUE(c.ok()) << c.status();
  if (c.ok()) {
    EXPECT_TRUE(c->SendBytes("served").ok());
    EXPECT_EQ(c->RecvBytes().value_or(""), "served");
  }
  threads.back().join();
  threads.pop_back();
  std::printf("served after %s (client: %s) with 12 pending\n",
              absl::FormatDuration(served_at - start).c_str(),
              absl::FormatDuration(client_took).c_str());
  EXPECT_LT(served_at - start, absl::Seconds(1));
  EXPECT_LT(client_took, absl::Seconds(1));
  EXPECT_EQ(listener.pending_handshakes(), 12u);
  // The twelve end at their deadlines (absolute: the tricklers too, whose
  // 44 bytes would take 13 s), each costing an Accept() call an error.
  for (int i = c.ok() ? 0 : 1; i < 12; ++i) {
    EXPECT_EQ(listener.Accept().status().code(),
              absl::StatusCode::kDeadlineExceeded);
  }
  EXPECT_LT(absl::Now() - start, kTimeout + absl::Seconds(2));
  stop = true;
  for (std::thread& t : threads) t.join();
}

// Pending handshakes are capped: past the cap, clients wait to be taken.
TEST(ListenerTest, PendingHandshakesAreCapped) {
  Listener listener =
      Listener::Create(LocalAddress("capped"), kDefaultBacklog, "key").value();
  EXPECT_EQ(listener.max_pending_handshakes(), kDefaultMaxPendingHandshakes);
  listener.set_max_pending_handshakes(3);
  listener.set_handshake_timeout(absl::Milliseconds(500));
  const std::string address = listener.address();
  std::vector<platform::ScopedHandle> silent;
  std::thread connector([&] {
    for (int i = 0; i < 5; ++i) {
      absl::StatusOr<platform::ScopedHandle> h = platform::Connect(address);
      if (h.ok()) silent.push_back(*std::move(h));
    }
  });
  EXPECT_EQ(listener.Accept().status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_LE(listener.pending_handshakes(), 3u);
  ASSERT_TRUE(listener.Close().ok());
  connector.join();
}

TEST(ListenerTest, ClientTimeoutIsAnOptionCountedFromTheConnection) {
  // A listener that never calls Accept(): the client hears nothing.
  Listener listener =
      Listener::Create(LocalAddress("deaf"), kDefaultBacklog, "key").value();
  ClientOptions options;
  options.handshake_timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::StatusOr<Connection> c = Client(listener.address(), "key", options);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kDeadlineExceeded)
      << c.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

// A server that never answers the first connection (as when a full TCP
// backlog dropped the final ACK) gets a second one.
TEST(ListenerTest, ClientConnectsAgainWhenTheServerNeverSpeaks) {
  platform::BoundSocket raw =
      platform::Listen(LocalAddress("retry"), platform::kMaxBacklog).value();
  std::thread server([&] {
    platform::BoundSocket ignored = platform::Accept(raw).value();
    platform::BoundSocket second = platform::Accept(raw).value();
    Connection c(std::move(second.handle), true, true);
    Handshake h(Handshake::Role::kServer, "key");
    EXPECT_TRUE(RunHandshake(c, h).ok());
    EXPECT_EQ(c.RecvBytes().value(), "hello");
  });
  ClientOptions options;
  options.retry_silent_server = absl::Milliseconds(200);
  absl::StatusOr<Connection> c = Client(raw.address, "key", options);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->SendBytes("hello").ok());
  server.join();
  platform::RemoveSocketFile(raw.address).IgnoreError();
}

}  // namespace
}  // namespace mp
