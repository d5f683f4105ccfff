#include "multiprocessing/ipc/auth.h"

#include <string>
#include <thread>
#include <utility>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/errors.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/crypto.h"

namespace mp {
namespace {

// Runs Deliver on one end and Answer on the other, in two threads.
std::pair<absl::Status, absl::Status> Handshake(const std::string& deliver_key,
                                                const std::string& answer_key) {
  auto [a, b] = Pipe().value();
  absl::Status delivered;
  std::thread t([&, &a = a] { delivered = DeliverChallenge(a, deliver_key); });
  absl::Status answered = AnswerChallenge(b, answer_key);
  t.join();
  return {delivered, answered};
}

TEST(AuthTest, SameKeySucceeds) {
  auto [d, a] = Handshake("secret", "secret");
  EXPECT_TRUE(d.ok()) << d;
  EXPECT_TRUE(a.ok()) << a;
}

TEST(AuthTest, WrongKeyFailsOnBothSides) {
  auto [d, a] = Handshake("secret", "guess");
  EXPECT_EQ(d.code(), absl::StatusCode::kPermissionDenied) << d;
  EXPECT_EQ(a.code(), absl::StatusCode::kPermissionDenied) << a;
  EXPECT_TRUE(IsAuthenticationError(d)) << d;
  EXPECT_TRUE(IsAuthenticationError(a)) << a;
}

TEST(AuthTest, EmptyKeyIsARealKey) {
  EXPECT_TRUE(Handshake("", "").first.ok());
  EXPECT_EQ(Handshake("", "x").first.code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(AuthTest, ChallengeIsModernAndMacCoversThePrefix) {
  auto [ours, peer] = Pipe().value();
  std::thread t(
      [&, &ours = ours] { DeliverChallenge(ours, "k").IgnoreError(); });
  std::string challenge = peer.RecvBytes().value();
  ASSERT_EQ(challenge.rfind("#CHALLENGE#{sha256}", 0), 0u);
  EXPECT_EQ(challenge.size(), 11 + 8 + 40);
  const std::string message = challenge.substr(11);
  ASSERT_TRUE(peer.SendBytes("{sha256}" +
                             platform::Hmac("sha256", "k", message).value())
                  .ok());
  EXPECT_EQ(peer.RecvBytes().value(), "#WELCOME#");
  t.join();
}

// CPython <= 3.11 delivers 20 random bytes and expects a bare HMAC-MD5.
TEST(AuthTest, AnswersALegacyChallenge) {
  auto [ours, peer] = Pipe().value();
  absl::Status answered;
  std::thread t([&, &ours = ours] { answered = AnswerChallenge(ours, "k"); });
  const std::string random(20, 'r');
  ASSERT_TRUE(peer.SendBytes("#CHALLENGE#" + random).ok());
  EXPECT_EQ(peer.RecvBytes().value(),
            platform::Hmac("md5", "k", random).value());
  ASSERT_TRUE(peer.SendBytes("#WELCOME#").ok());
  t.join();
  EXPECT_TRUE(answered.ok()) << answered;
}

// ... and answers our challenge with a bare HMAC-MD5 of all of it.
TEST(AuthTest, AcceptsALegacyAnswer) {
  auto [ours, peer] = Pipe().value();
  absl::Status delivered;
  std::thread t([&, &ours = ours] { delivered = DeliverChallenge(ours, "k"); });
  const std::string message = peer.RecvBytes().value().substr(11);
  ASSERT_TRUE(peer.SendBytes(platform::Hmac("md5", "k", message).value()).ok());
  EXPECT_EQ(peer.RecvBytes().value(), "#WELCOME#");
  t.join();
  EXPECT_TRUE(delivered.ok()) << delivered;
}

TEST(AuthTest, BadInputIsAClearError) {
  {  // not a challenge
    auto [ours, peer] = Pipe().value();
    ASSERT_TRUE(peer.SendBytes("hello there, this is not a challenge").ok());
    EXPECT_EQ(AnswerChallenge(ours, "k").code(),
              absl::StatusCode::kPermissionDenied);
  }
  {  // a challenge too short
    auto [ours, peer] = Pipe().value();
    ASSERT_TRUE(peer.SendBytes("#CHALLENGE#abc").ok());
    EXPECT_EQ(AnswerChallenge(ours, "k").code(),
              absl::StatusCode::kPermissionDenied);
  }
  {  // an unknown digest
    auto [ours, peer] = Pipe().value();
    ASSERT_TRUE(
        peer.SendBytes("#CHALLENGE#{crc32}" + std::string(40, 'r')).ok());
    EXPECT_EQ(AnswerChallenge(ours, "k").code(),
              absl::StatusCode::kPermissionDenied);
  }
  {  // over 256 bytes: refused before it is read
    auto [ours, peer] = Pipe().value();
    ASSERT_TRUE(peer.SendBytes("#CHALLENGE#" + std::string(300, 'r')).ok());
    EXPECT_EQ(AnswerChallenge(ours, "k").code(),
              absl::StatusCode::kResourceExhausted);
  }
  {  // the peer hangs up
    auto [ours, peer] = Pipe().value();
    ASSERT_TRUE(peer.Close().ok());
    EXPECT_TRUE(IsEof(AnswerChallenge(ours, "k")));
    EXPECT_FALSE(DeliverChallenge(ours, "k").ok());
  }
}

// require_sha256: no legacy MD5 answer accepted, none given, and no other
// digest either.
TEST(AuthTest, RequireSha256RefusesMd5BothWays) {
  const AuthOptions strict{/*require_sha256=*/true};
  {  // a legacy answer to our challenge
    auto [ours, peer] = Pipe().value();
    absl::Status delivered;
    std::thread t(
        [&, &ours = ours] { delivered = DeliverChallenge(ours, "k", strict); });
    const std::string message = peer.RecvBytes().value().substr(11);
    ASSERT_TRUE(
        peer.SendBytes(platform::Hmac("md5", "k", message).value()).ok());
    EXPECT_EQ(peer.RecvBytes().value(), "#FAILURE#");
    t.join();
    EXPECT_EQ(delivered.code(), absl::StatusCode::kPermissionDenied);
  }
  for (const std::string& challenge :
       {std::string(20, 'r'), "{md5}" + std::string(40, 'r'),
        "{sha384}" + std::string(40, 'r')}) {
    auto [ours, peer] = Pipe().value();
    ASSERT_TRUE(peer.SendBytes("#CHALLENGE#" + challenge).ok());
    EXPECT_EQ(AnswerChallenge(ours, "k", strict).code(),
              absl::StatusCode::kPermissionDenied);
    // Nothing was answered.
    ASSERT_TRUE(ours.Close().ok());
    EXPECT_TRUE(IsEof(peer.RecvBytes().status()));
  }
  // sha256 both ways works.
  auto [a, b] = Pipe().value();
  absl::Status delivered;
  std::thread t([&, &a = a] { delivered = DeliverChallenge(a, "k", strict); });
  EXPECT_TRUE(AnswerChallenge(b, "k", strict).ok());
  t.join();
  EXPECT_TRUE(delivered.ok()) << delivered;
}

// The state machine never asks for more than the handshake's bytes, so what
// follows the handshake stays in the stream.
TEST(AuthTest, HandshakeReadsNoFurtherThanItsLastByte) {
  auto [server, client] = Pipe().value();
  absl::Status served;
  std::thread t([&, &server = server] {
    mp::Handshake h(mp::Handshake::Role::kServer, "k");
    served = RunHandshake(server, h);
  });
  mp::Handshake h(mp::Handshake::Role::kClient, "k");
  // Client: answers, then delivers; then sends at once, before the server
  // can have finished reading.
  ASSERT_TRUE(RunHandshake(client, h).ok());
  ASSERT_TRUE(client.SendBytes("after").ok());
  t.join();
  ASSERT_TRUE(served.ok()) << served;
  EXPECT_EQ(server.RecvBytes().value(), "after");
}

TEST(AuthTest, DeadlineIsAbsolute) {
  auto [ours, peer] = Pipe().value();
  // The peer trickles a plausible answer, one byte at a time, faster than
  // any per-read timeout would notice.
  std::thread t([&, &peer = peer] {
    (void)peer.RecvBytes();
    const std::string header("\x00\x00\x00\x28", 4);
    for (int i = 0; i < 44; ++i) {
      const char byte = i < 4 ? header[i] : 'x';
      const platform::ConstBuffer b[] = {{&byte, 1}};
      if (!platform::WriteAll(peer.fileno(), b).ok()) return;
      absl::SleepFor(absl::Milliseconds(50));
    }
  });
  mp::Handshake h(mp::Handshake::Role::kServer, "k");
  const absl::Time start = absl::Now();
  absl::Status s = RunHandshake(ours, h, absl::Now() + absl::Milliseconds(500));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_LT(absl::Now() - start, absl::Seconds(1.5));
  t.join();
}

}  // namespace
}  // namespace mp
