// Connection on every OS. The test binary is also the peer that dies in
// the middle of a message: started with --child-die-mid-frame=<case>
// <handle>, ChildMain() writes that case's bytes and exits.
#include "multiprocessing/ipc/connection.h"

#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection_test_util.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/child_main.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/test_util.h"

namespace mp {
namespace {

// The conformance tests: every one runs over each Transport.
class ConnectionTest : public ::testing::TestWithParam<Transport> {
 protected:
  std::pair<Connection, Connection> MakePipe(bool duplex = true) {
    return mp::MakePipe(duplex, GetParam());
  }
};
INSTANTIATE_TEST_SUITE_P(Transports, ConnectionTest, EveryTransport(),
                         TransportName);

// What a dying peer wrote before it died.
struct Unfinished {
  std::string bytes;
  const char* where;
};
const std::vector<Unfinished>& UnfinishedFrames() {
  static const auto* frames = new std::vector<Unfinished>{
      {std::string("\0\0", 2), "inside the header"},
      {std::string("\0\0\x03\xe8"
                   "0123456789",
                   14),
       "inside the body"},
      {std::string("\xff\xff\xff\xff\0\0", 6), "inside a long header"}};
  return *frames;
}

// A child process that dies in the middle of a frame: the receiver sees
// kDataLoss, never EOF and never a hang.
TEST(ConnectionKernelTest, PeerDyingMidMessageIsDataLoss) {
  for (std::size_t i = 0; i < UnfinishedFrames().size(); ++i) {
    auto [parent, child] = MakePipe();
    const platform::NativeHandle keep = child.fileno();
    // The child gets `keep` and learns its own value of it on `control`,
    // which it takes from us (platform/launch.h).
    platform::ChannelPair control = platform::CreateOneWayChannel().value();
    platform::LaunchOptions options;
    options.taken_by_child = {control.first.get()};
    platform::ChildProcess proc =
        platform::LaunchProgram({platform::ExecutablePath().value(),
                                 absl::StrCat("--child-die-mid-frame=", i),
                                 absl::StrCat(control.first.get())},
                                {&keep, 1}, options)
            .value();
    ASSERT_TRUE(child.Close().ok());
    const std::string value = absl::StrCat(proc.inherited.at(0), "\n");
    ASSERT_TRUE(
        platform::WriteAll(control.second.get(), {{value.data(), value.size()}})
            .ok());
    absl::StatusOr<std::string> r = parent.RecvBytes();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss)
        << UnfinishedFrames()[i].where << ": " << r.status();
    EXPECT_EQ(platform::WaitForExit(proc, std::nullopt).value(), 0);
  }
}

TEST_P(ConnectionTest, MessagesKeepTheirBoundariesBothWays) {
  auto [a, b] = MakePipe();
  ASSERT_TRUE(a.SendBytes("one").ok());
  ASSERT_TRUE(a.SendBytes("").ok());
  ASSERT_TRUE(a.SendBytes("three").ok());
  EXPECT_EQ(b.RecvBytes().value(), "one");
  EXPECT_EQ(b.RecvBytes().value(), "");
  EXPECT_EQ(b.RecvBytes().value(), "three");
  ASSERT_TRUE(b.SendBytes("back").ok());
  EXPECT_EQ(a.RecvBytes().value(), "back");
}

TEST_P(ConnectionTest, OneWayPipeRejectsTheWrongDirection) {
  auto [reader, writer] = MakePipe(/*duplex=*/false);
  EXPECT_TRUE(reader.readable());
  EXPECT_FALSE(reader.writable());
  EXPECT_FALSE(writer.readable());
  EXPECT_TRUE(writer.writable());
  EXPECT_EQ(reader.SendBytes("x").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer.RecvBytes().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(writer.Poll().status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(writer.SendBytes("ok").ok());
  EXPECT_EQ(reader.RecvBytes().value(), "ok");
}

TEST_P(ConnectionTest, SendBytesOffsetAndSize) {
  auto [a, b] = MakePipe();
  ASSERT_TRUE(a.SendBytes("abcdef", 2).ok());
  ASSERT_TRUE(a.SendBytes("abcdef", 1, 3).ok());
  ASSERT_TRUE(a.SendBytes("abcdef", 6).ok());
  EXPECT_EQ(b.RecvBytes().value(), "cdef");
  EXPECT_EQ(b.RecvBytes().value(), "bcd");
  EXPECT_EQ(b.RecvBytes().value(), "");
  EXPECT_EQ(a.SendBytes("abc", 4).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a.SendBytes("abc", 1, 3).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(a.SendBytes("abc", 0, 4).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(b.Poll().value());  // nothing was sent by the failed calls
}

TEST_P(ConnectionTest, RecvBytesOverMaxlengthFailsAndCloses) {
  auto [a, b] = MakePipe();
  ASSERT_TRUE(a.SendBytes("12345").ok());
  ASSERT_TRUE(a.SendBytes("123456").ok());
  EXPECT_EQ(b.RecvBytes(5).value(), "12345");
  absl::StatusOr<std::string> r = b.RecvBytes(5);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(b.closed());
  EXPECT_EQ(b.RecvBytes().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(ConnectionTest, RecvBytesIntoFitsAtOffset) {
  auto [a, b] = MakePipe();
  ASSERT_TRUE(a.SendBytes("xyz").ok());
  char buf[8] = "-------";
  EXPECT_EQ(b.RecvBytesInto(absl::MakeSpan(buf, 7), 4).value(), 3u);
  EXPECT_EQ(std::string(buf, 7), "----xyz");
}

TEST_P(ConnectionTest, RecvBytesIntoTooShortHandsOverTheWholeMessage) {
  auto [a, b] = MakePipe();
  ASSERT_TRUE(a.SendBytes("a long message").ok());
  ASSERT_TRUE(a.SendBytes("next").ok());
  char buf[8];
  absl::StatusOr<std::size_t> r = b.RecvBytesInto(absl::MakeSpan(buf), 2);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(BufferTooShortMessage(r.status()), "a long message");
  EXPECT_EQ(BufferTooShortMessage(absl::InternalError("x")), std::nullopt);
  // The connection is still in step.
  EXPECT_EQ(b.RecvBytesInto(absl::MakeSpan(buf)).value(), 4u);
  EXPECT_EQ(std::string(buf, 4), "next");
  EXPECT_EQ(b.RecvBytesInto(absl::MakeSpan(buf), 9).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_P(ConnectionTest, PollTimeouts) {
  auto [a, b] = MakePipe();
  absl::Time start = absl::Now();
  EXPECT_FALSE(b.Poll().value());
  EXPECT_FALSE(b.Poll(absl::ZeroDuration()).value());
  EXPECT_FALSE(b.Poll(absl::Seconds(-1)).value());
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(50));
  start = absl::Now();
  EXPECT_FALSE(b.Poll(absl::Milliseconds(100)).value());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  std::thread t([&a = a] {
    absl::SleepFor(absl::Milliseconds(50));
    a.SendBytes("x").IgnoreError();
  });
  EXPECT_TRUE(b.Poll(std::nullopt).value());  // None: waits as long as it takes
  t.join();
  EXPECT_TRUE(b.Poll().value());
  EXPECT_EQ(b.RecvBytes().value(), "x");
}

TEST_P(ConnectionTest, EofAfterPeerClosesAndEverythingIsRead) {
  auto [a, b] = MakePipe();
  ASSERT_TRUE(a.SendBytes("last words").ok());
  ASSERT_TRUE(a.Close().ok());
  EXPECT_TRUE(a.Close().ok());  // twice is fine
  EXPECT_TRUE(b.Poll().value());
  EXPECT_EQ(b.RecvBytes().value(), "last words");
  EXPECT_TRUE(IsEof(b.RecvBytes().status()));
  EXPECT_TRUE(IsEof(b.RecvBytes().status()));
}

TEST_P(ConnectionTest, ClosedConnectionIsAnError) {
  auto [a, b] = MakePipe();
  ASSERT_TRUE(a.Close().ok());
  EXPECT_TRUE(a.closed());
  EXPECT_EQ(a.SendBytes("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a.RecvBytes().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a.Poll().status().code(), absl::StatusCode::kFailedPrecondition);
  Connection never_opened;
  EXPECT_TRUE(never_opened.closed());
  EXPECT_EQ(never_opened.SendBytes("x").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(ConnectionTest, SendingToAClosedPeerIsAnErrorNotSigpipe) {
  for (bool duplex : {true, false}) {
    auto [a, b] = MakePipe(duplex);
    ASSERT_TRUE(a.Close().ok());
    absl::Status s = b.SendBytes("anyone there?");
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  }
}

TEST_P(ConnectionTest, SixteenMebibyteMessage) {
  auto [a, b] = MakePipe();
  std::string big(16 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>(i % 251);
  std::thread t([&a = a, &big] { ASSERT_TRUE(a.SendBytes(big).ok()); });
  std::string got = b.RecvBytes().value();
  t.join();
  EXPECT_TRUE(got == big);
}

TEST_P(ConnectionTest, ReadsCpythonsLongFrameHeader) {
  auto [a, b] = MakePipe();
  // -1, then the length as 8 bytes: how CPython frames payloads over 2 GiB.
  WriteRaw(a, std::string("\xff\xff\xff\xff\0\0\0\0\0\0\0\x05hello", 17));
  EXPECT_EQ(b.RecvBytes().value(), "hello");
}

TEST_P(ConnectionTest, LyingLengthIsRefusedBeforeAllocating) {
  auto [a, b] = MakePipe();
  // Claims 2^62 bytes.
  WriteRaw(a, std::string("\xff\xff\xff\xff\x40\0\0\0\0\0\0\0", 12));
  absl::StatusOr<std::string> r = b.RecvBytes();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
      << r.status();
  EXPECT_TRUE(b.closed());

  auto [c, d] = MakePipe();
  d.set_max_message_size(1000);
  WriteRaw(c, std::string("\0\0\x03\xe9", 4));  // 1001
  EXPECT_EQ(d.RecvBytes().status().code(),
            absl::StatusCode::kResourceExhausted);
}

// Issue 21: RecvBytesInto trusts a length only as far as bytes arrive. A
// header claiming 3 GiB (under the 4 GiB default cap), a few bytes, then
// silence: resident memory stays far below the claim.
TEST_P(ConnectionTest, LyingHeaderThenSilenceKeepsRecvBytesIntoBounded) {
#ifdef __SANITIZE_THREAD__
  // TSan's shadow memory (several bytes per byte written) is resident too,
  // so this process's RSS no longer measures what the receiver allocated;
  // the plain, ASan and UBSan runs check it.
  GTEST_SKIP() << "resident memory is not ours to measure under TSan";
#endif
  auto [a, b] = MakePipe();
  const std::int64_t before = test_util::ResidentKiB();
  absl::Status received;
  std::thread t([&b = b, &received] {
    char small[16];
    received = b.RecvBytesInto(absl::MakeSpan(small)).status();
  });
  WriteRaw(a, std::string("\xff\xff\xff\xff\0\0\0\0\xc0\0\0\0", 12) +
                  std::string(1000, 'x'));
  absl::SleepFor(absl::Milliseconds(500));
  const std::int64_t grew = test_util::ResidentKiB() - before;
  ASSERT_TRUE(a.Close().ok());
  t.join();
  EXPECT_EQ(received.code(), absl::StatusCode::kDataLoss) << received;
  std::printf("resident memory grew by %lld KiB after a 3 GiB claim\n",
              static_cast<long long>(grew));
  EXPECT_LT(grew, 160 * 1024) << "KiB";
}

// Issue 21: the buffer Send<T>/Recv<T> reuse is not kept past 1 MiB.
TEST_P(ConnectionTest, LargeReusedBufferIsReleased) {
  auto [a, b] = MakePipe();
  const std::string big(8 << 20, 'b');
  std::thread t([&a = a, &big] { ASSERT_TRUE(a.Send(big).ok()); });
  EXPECT_EQ(b.Recv<std::string>().value_or(""), big);
  t.join();
  EXPECT_LE(a.reused_buffer_capacity(), std::size_t{1} << 20);
  // The receiver's goes with its next message, sent or received.
  ASSERT_TRUE(b.Send(std::string("small")).ok());
  EXPECT_LE(b.reused_buffer_capacity(), std::size_t{1} << 20);
  std::thread u([&a = a, &big] { ASSERT_TRUE(a.Send(big).ok()); });
  EXPECT_EQ(b.Recv<std::string>().value_or(""), big);
  u.join();
  ASSERT_TRUE(a.Send(std::string("small")).ok());
  EXPECT_EQ(b.Recv<std::string>().value_or(""), "small");
  EXPECT_LE(b.reused_buffer_capacity(), std::size_t{1} << 20);
}

TEST_P(ConnectionTest, CorruptLengthIsDataLoss) {
  auto [a, b] = MakePipe();
  WriteRaw(a, std::string("\xff\xff\xff\xfb", 4));  // -5
  EXPECT_EQ(b.RecvBytes().status().code(), absl::StatusCode::kDataLoss);
}

TEST_P(ConnectionTest, TypedSendAndRecv) {
  auto [a, b] = MakePipe();
  ASSERT_TRUE(a.Send(std::make_pair(3, 4)).ok());
  ASSERT_TRUE(a.Send(std::string("hello")).ok());
  ASSERT_TRUE(a.Send(42).ok());
  auto p = b.Recv<std::pair<int, int>>().value();
  EXPECT_EQ(p.first + p.second, 7);
  EXPECT_EQ(b.Recv<std::string>().value(), "hello");
  // The wrong type is a clear error, not undefined behaviour.
  EXPECT_EQ(b.Recv<std::string>().status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ConnectionKernelTest, EncodingFindsTheHandlesAValueCarries) {
  auto [a, b] = MakePipe();
  auto [c, d] = MakePipe();
  // Inside a std::array (which the old separate trait missed), beside other
  // values, twice (one entry), and closed (none).
  std::array<Connection, 1> array{std::move(a)};
  Connection closed;
  const int n = 5;
  HandleTable table;
  std::string bytes;
  ASSERT_TRUE(Encode(std::tie(array, n, c, closed, c), &bytes, &table).ok());
  EXPECT_EQ(table.handles(), (HandleList{array[0].fileno(), c.fileno()}));
}

TEST_P(ConnectionTest, AConnectionCannotTravelInAMessage) {
  auto [a, b] = MakePipe();
  auto [c, d] = MakePipe();
  absl::Status s = a.Send(std::make_pair(1, std::ref(c)));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_FALSE(b.Poll().value());  // nothing was sent
}

// Started with --child-die-mid-frame=<case> <control>: takes the control
// pipe from its parent, reads there its value of the pipe end to write to,
// writes that case's bytes and dies with the frame unfinished.
std::optional<int> ChildMain() {
  const std::vector<std::string>& args = platform::ProgramArguments();
  absl::string_view which;
  if (args.size() == 3) which = args[1];
  std::size_t i = 0;
  int64_t handle = 0;
  if (absl::ConsumePrefix(&which, "--child-die-mid-frame=") &&
      absl::SimpleAtoi(which, &i) && i < UnfinishedFrames().size() &&
      absl::SimpleAtoi(args[2], &handle)) {
    absl::StatusOr<platform::ScopedHandle> control =
        platform::TakeHandleFromParent(platform::ParentProcessId(), handle);
    if (!control.ok()) platform::ExitNow(2);
    std::string line;
    char c = 0;
    while (platform::ReadSome(control->get(), &c, 1).value_or(0) == 1 &&
           c != '\n') {
      line.push_back(c);
    }
    if (!absl::SimpleAtoi(line, &handle)) platform::ExitNow(3);
    const std::string& bytes = UnfinishedFrames()[i].bytes;
    const bool wrote =
        platform::WriteAll(handle, {{bytes.data(), bytes.size()}}).ok();
    platform::ExitNow(wrote ? 0 : 1);
  }
  return std::nullopt;
}
MP_TEST_CHILD_MAIN(ChildMain);

}  // namespace
}  // namespace mp
