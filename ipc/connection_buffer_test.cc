// The read-ahead buffer of Connection on byte streams: many messages per
// read, every framing promise kept at every split of the stream, large
// messages straight into their destination, Poll()/Wait() and the codec
// aware of bytes received ahead, and shared connections reading exactly one
// message per receive.
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/auth.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/connection_test_util.h"
#include "multiprocessing/ipc/errors.h"
#include "multiprocessing/ipc/wait.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/poll.h"

namespace mp {
namespace {

// One frame as CPython writes it: a 4-byte big-endian length, or (long)
// -1 then an 8-byte length.
std::string Frame(const std::string& payload, bool long_header = false) {
  std::string out;
  auto put = [&out](uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) {
      out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
  };
  if (long_header) {
    put(0xffffffffu, 4);
    put(payload.size(), 8);
  } else {
    put(payload.size(), 4);
  }
  return out + payload;
}

// Whether the kernel has bytes (or end of stream) for `c`'s handle, not
// counting what the Connection received ahead.
bool KernelReadable(const Connection& c) {
  const platform::NativeHandle h = c.fileno();
  auto ready = platform::WaitReadable({&h, 1}, absl::ZeroDuration());
  EXPECT_TRUE(ready.ok()) << ready.status();
  return ready.ok() && !ready->empty();
}

TEST(ConnectionBufferTest, ManyFramesOfOneWriteAreServedFromOneRead) {
  auto [reader, writer] = MakePipe();
  std::string stream;
  for (int i = 0; i < 100; ++i) stream += Frame(absl::StrCat("message ", i));
  WriteRaw(writer, stream);
  ASSERT_EQ(reader.RecvBytes().value(), "message 0");
  // The other 99 came with the first read: nothing left in the kernel.
  EXPECT_FALSE(KernelReadable(reader));
  EXPECT_EQ(reader.bytes_received_ahead(), stream.size() - 13);
  EXPECT_EQ(reader.read_ahead_capacity(), Connection::kReadAheadSize);
  for (int i = 1; i < 100; ++i) {
    EXPECT_TRUE(reader.Poll().value());
    ASSERT_EQ(reader.RecvBytes().value(), absl::StrCat("message ", i));
  }
  EXPECT_EQ(reader.bytes_received_ahead(), 0u);
  EXPECT_FALSE(reader.Poll().value());
  ASSERT_TRUE(writer.Close().ok());
  EXPECT_TRUE(IsEof(reader.RecvBytes().status()));
}

TEST(ConnectionBufferTest, EveryMessageThenEndOfStream) {
  for (bool shared : {false, true}) {
    auto [reader, writer] = MakePipe();
    if (shared) {
      ASSERT_TRUE(reader.MarkShared().ok());
    }
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(writer.Send(i).ok());
    ASSERT_TRUE(writer.SendBytes("").ok());
    ASSERT_TRUE(writer.Close().ok());
    for (int i = 0; i < 50; ++i) ASSERT_EQ(reader.Recv<int>().value(), i);
    EXPECT_EQ(reader.RecvBytes().value(), "");
    EXPECT_TRUE(IsEof(reader.RecvBytes().status())) << shared;
    EXPECT_TRUE(IsEof(reader.RecvBytes().status())) << shared;
  }
}

TEST(ConnectionBufferTest, SharedConnectionReadsExactlyOneMessage) {
  auto [reader, writer] = MakePipe();
  ASSERT_TRUE(reader.MarkShared().ok());
  EXPECT_TRUE(reader.shared());
  WriteRaw(writer,
           Frame("one") + Frame("two", /*long_header=*/true) + Frame("three"));
  ASSERT_EQ(reader.RecvBytes().value(), "one");
  EXPECT_EQ(reader.bytes_received_ahead(), 0u);
  EXPECT_TRUE(KernelReadable(reader));
  ASSERT_EQ(reader.RecvBytes().value(), "two");
  EXPECT_TRUE(KernelReadable(reader));
  char buffer[8];
  ASSERT_EQ(reader.RecvBytesInto(absl::MakeSpan(buffer)).value(), 5u);
  EXPECT_FALSE(KernelReadable(reader));
  EXPECT_EQ(reader.read_ahead_capacity(), 0u);
}

// The stream of CutsAndSplits: short, long-header, empty and 1-byte frames.
const std::vector<std::string> kPayloads = {"hello", "world!", "", "x"};
std::string TestStream() {
  return Frame(kPayloads[0]) + Frame(kPayloads[1], /*long_header=*/true) +
         Frame(kPayloads[2]) + Frame(kPayloads[3]);
}

TEST(ConnectionBufferTest, StreamEndingAtEveryOffset) {
  const std::string stream = TestStream();
  // Where each frame ends, and where its header does.
  const std::vector<std::size_t> ends = {9, 27, 31, 36};
  const std::vector<std::size_t> header_ends = {4, 21, 31, 35};
  ASSERT_EQ(stream.size(), ends.back());
  for (bool shared : {false, true}) {
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
      SCOPED_TRACE(absl::StrCat("cut at ", cut, shared ? " (shared)" : ""));
      auto [reader, writer] = MakePipe();
      if (shared) {
        ASSERT_TRUE(reader.MarkShared().ok());
      }
      WriteRaw(writer, stream.substr(0, cut));
      ASSERT_TRUE(writer.Close().ok());
      std::size_t frame = 0;
      while (frame < ends.size() && ends[frame] <= cut) {
        ASSERT_EQ(reader.RecvBytes().value(), kPayloads[frame]);
        ++frame;
      }
      absl::Status last = reader.RecvBytes().status();
      const std::size_t start = frame == 0 ? 0 : ends[frame - 1];
      if (cut == start) {
        EXPECT_TRUE(IsEof(last)) << last;
      } else if (cut < header_ends[frame]) {
        EXPECT_EQ(last.code(), absl::StatusCode::kDataLoss) << last;
        EXPECT_EQ(last.message(), "connection closed inside a message header");
      } else {
        EXPECT_EQ(last.code(), absl::StatusCode::kDataLoss) << last;
        EXPECT_EQ(last.message(),
                  absl::StrCat("connection closed after ",
                               cut - header_ends[frame], " of a message's ",
                               ends[frame] - header_ends[frame], " bytes"));
      }
    }
  }
}

TEST(ConnectionBufferTest, StreamSplitAtEveryOffsetArrivesIntact) {
  const std::string stream = TestStream();
  for (std::size_t split = 1; split < stream.size(); ++split) {
    SCOPED_TRACE(absl::StrCat("split at ", split));
    auto [reader, writer] = MakePipe();
    WriteRaw(writer, stream.substr(0, split));
    std::thread rest([&writer = writer, &stream, split] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      WriteRaw(writer, stream.substr(split));
    });
    for (const std::string& payload : kPayloads) {
      EXPECT_EQ(reader.RecvBytes().value(), payload);
    }
    rest.join();
    EXPECT_EQ(reader.bytes_received_ahead(), 0u);
  }
}

TEST(ConnectionBufferTest, HeaderAcrossTheBufferEnd) {
  // The first read fills the buffer: its end falls `j` bytes into the next
  // (long) header, or into the frame after it.
  for (std::size_t j = 0; j <= 20; ++j) {
    SCOPED_TRACE(absl::StrCat("j = ", j));
    auto [reader, writer] = MakePipe();
    const std::string first(Connection::kReadAheadSize - 4 - j, 'a');
    const std::string stream = Frame(first) +
                               Frame("long", /*long_header=*/true) +
                               Frame("short") + Frame("");
    std::thread write(
        [&writer = writer, &stream] { WriteRaw(writer, stream); });
    EXPECT_EQ(reader.RecvBytes().value(), first);
    EXPECT_EQ(reader.RecvBytes().value(), "long");
    EXPECT_EQ(reader.RecvBytes().value(), "short");
    EXPECT_EQ(reader.RecvBytes().value(), "");
    write.join();
  }
}

TEST(ConnectionBufferTest, LargeMessagesArriveIntactAndTheBufferStays) {
  auto [reader, writer] = MakePipe();
  std::string big(3 * Connection::kReadAheadSize + 17, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i);
  std::thread write([&writer = writer, &big] {
    std::string stream = Frame("small") + Frame(big) + Frame("after") +
                         Frame(big) + Frame("end");
    WriteRaw(writer, stream);
  });
  EXPECT_EQ(reader.RecvBytes().value(), "small");
  EXPECT_EQ(reader.RecvBytes().value(), big);
  EXPECT_EQ(reader.RecvBytes().value(), "after");
  std::string into(big.size() + 5, '-');
  EXPECT_EQ(reader.RecvBytesInto(absl::MakeSpan(into), 5).value(), big.size());
  EXPECT_EQ(into.substr(5), big);
  EXPECT_EQ(reader.RecvBytes().value(), "end");
  EXPECT_EQ(reader.read_ahead_capacity(), Connection::kReadAheadSize);
  write.join();
}

TEST(ConnectionBufferTest, RecvBytesIntoServesBufferedMessages) {
  auto [reader, writer] = MakePipe();
  WriteRaw(writer, Frame("abc") + Frame("0123456789") + Frame("xyz") +
                       Frame(std::string(100, 'L')) + Frame("last"));
  char buffer[8] = {};
  ASSERT_EQ(reader.RecvBytesInto(absl::MakeSpan(buffer), 1).value(), 3u);
  EXPECT_EQ(std::string(buffer + 1, 3), "abc");
  // Too short: the whole message is handed over; the stream stays in step.
  absl::StatusOr<std::size_t> short_into =
      reader.RecvBytesInto(absl::MakeSpan(buffer), 4);
  ASSERT_EQ(short_into.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(BufferTooShortMessage(short_into.status()).value(), "0123456789");
  ASSERT_EQ(reader.RecvBytesInto(absl::MakeSpan(buffer)).value(), 3u);
  EXPECT_EQ(std::string(buffer, 3), "xyz");
  short_into = reader.RecvBytesInto(absl::MakeSpan(buffer));
  EXPECT_EQ(BufferTooShortMessage(short_into.status()).value(),
            std::string(100, 'L'));
  ASSERT_EQ(reader.RecvBytesInto(absl::MakeSpan(buffer)).value(), 4u);
  EXPECT_EQ(std::string(buffer, 4), "last");
  EXPECT_FALSE(reader.closed());
}

TEST(ConnectionBufferTest, OverlongHeaderAfterBufferedMessagesIsRefused) {
  auto [reader, writer] = MakePipe();
  reader.set_max_message_size(1000);
  // A long header claiming 2^60 bytes: refused before any allocation.
  WriteRaw(writer, Frame("fine") + Frame("fine too") + "\xff\xff\xff\xff" +
                       std::string("\x10\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(reader.RecvBytes().value(), "fine");
  EXPECT_EQ(reader.RecvBytes(/*maxlength=*/8).value(), "fine too");
  absl::Status refused = reader.RecvBytes().status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_TRUE(absl::StrContains(refused.message(), "(max_message_size)"));
  EXPECT_TRUE(reader.closed());
  EXPECT_EQ(reader.bytes_received_ahead(), 0u);
  EXPECT_EQ(reader.RecvBytes().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ConnectionBufferTest, MaxlengthAppliesToBufferedMessages) {
  auto [reader, writer] = MakePipe();
  WriteRaw(writer, Frame("ok") + Frame("too long"));
  EXPECT_EQ(reader.RecvBytes(2).value(), "ok");
  EXPECT_EQ(reader.RecvBytes(2).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(reader.closed());
}

TEST(ConnectionBufferTest, PollAndWaitSeeBufferedMessages) {
  auto [reader, writer] = MakePipe();
  auto [idle, idle_peer] = MakePipe();
  auto [other, other_peer] = MakePipe();
  WriteRaw(writer, Frame("a") + Frame("b"));
  ASSERT_EQ(reader.RecvBytes().value(), "a");
  ASSERT_FALSE(KernelReadable(reader));
  EXPECT_TRUE(reader.Poll().value());
  EXPECT_TRUE(reader.Poll(std::nullopt).value());
  // An infinite timeout returns at once: the message is here.
  const absl::Time start = absl::Now();
  std::vector<Waitable> objects = {idle, reader};
  EXPECT_EQ(Wait(objects, std::nullopt).value(), std::vector<std::size_t>{1});
  EXPECT_EQ(Wait(objects, absl::Seconds(30)).value(),
            std::vector<std::size_t>{1});
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // Alongside what else is ready.
  WriteRaw(other_peer, Frame("c"));
  std::vector<Waitable> three = {other, idle, reader};
  EXPECT_EQ(Wait(three, std::nullopt).value(),
            (std::vector<std::size_t>{0, 2}));
  ASSERT_EQ(reader.RecvBytes().value(), "b");
  EXPECT_FALSE(reader.Poll().value());
  std::vector<Waitable> again = {idle, reader};
  EXPECT_TRUE(Wait(again, absl::ZeroDuration()).value().empty());
}

TEST(ConnectionBufferTest, EncodingRefusesBytesReceivedAhead) {
  auto [reader, writer] = MakePipe();
  WriteRaw(writer, Frame("a") + Frame("bc"));
  ASSERT_EQ(reader.RecvBytes().value(), "a");
  HandleTable table;
  std::string out;
  absl::Status s = Encode(reader, &out, &table);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "has 6 bytes received ahead"))
      << s;
  EXPECT_EQ(reader.MarkShared().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(reader.shared());
  ASSERT_EQ(reader.RecvBytes().value(), "bc");
  HandleTable table2;
  out.clear();
  EXPECT_TRUE(Encode(reader, &out, &table2).ok());
}

// What a child decodes from `encoded` (its handles duplicated, as a child
// inherits them).
absl::StatusOr<Connection> DecodeInChild(const std::string& encoded,
                                         const HandleTable& sent) {
  std::vector<platform::NativeHandle> inherited;
  for (platform::NativeHandle h : sent.handles()) {
    absl::StatusOr<platform::ScopedHandle> copy = platform::Duplicate(h);
    if (!copy.ok()) return copy.status();
    inherited.push_back(copy->release());
  }
  HandleTable table = HandleTable::Inherited(std::move(inherited));
  return Decode<Connection>(encoded, &table);
}

TEST(ConnectionBufferTest, EncodingAsKeptBySenderSharesTheConnection) {
  auto [reader, writer] = MakePipe();
  {
    HandleTable table;
    std::string out;
    ASSERT_TRUE(Encode(reader, &out, &table).ok());
    EXPECT_FALSE(reader.shared());  // by value: the child's alone
    absl::StatusOr<Connection> decoded = DecodeInChild(out, table);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_FALSE(decoded->shared());
  }
  HandleTable table;
  std::string out;
  ASSERT_TRUE(Encode(std::ref(reader), &out, &table).ok());
  EXPECT_TRUE(reader.shared());
  absl::StatusOr<Connection> decoded = DecodeInChild(out, table);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->shared());
  // A shared connection stays shared when encoded again by value.
  HandleTable table3;
  out.clear();
  ASSERT_TRUE(Encode(*decoded, &out, &table3).ok());
  absl::StatusOr<Connection> again = DecodeInChild(out, table3);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->shared());
  // Both read one message per receive: no read-ahead buffer.
  WriteRaw(writer, Frame("p") + Frame("q"));
  EXPECT_EQ(again->RecvBytes().value(), "p");
  EXPECT_EQ(again->bytes_received_ahead(), 0u);
  EXPECT_EQ(reader.RecvBytes().value(), "q");
}

TEST(ConnectionBufferTest, MovingKeepsBytesReceivedAhead) {
  auto [reader, writer] = MakePipe();
  WriteRaw(writer, Frame("1") + Frame("2"));
  ASSERT_EQ(reader.RecvBytes().value(), "1");
  Connection moved = std::move(reader);
  EXPECT_EQ(reader.bytes_received_ahead(), 0u);  // NOLINT: moved from
  EXPECT_TRUE(reader.closed());                  // NOLINT
  EXPECT_EQ(moved.RecvBytes().value(), "2");
  Connection assigned;
  WriteRaw(writer, Frame("3") + Frame("4"));
  ASSERT_EQ(moved.RecvBytes().value(), "3");
  assigned = std::move(moved);
  EXPECT_EQ(assigned.RecvBytes().value(), "4");
}

TEST(ConnectionBufferTest, HandshakeTakesBytesReceivedAheadFirst) {
  auto [ours, theirs] = MakePipe();
  // A stuck handshake fails instead of hanging the test.
  ASSERT_TRUE(
      platform::SetReceiveTimeout(ours.fileno(), absl::Seconds(20)).ok());
  ASSERT_TRUE(theirs.SendBytes("before the challenge").ok());
  absl::Status delivered;
  std::thread deliver([&theirs = theirs, &delivered] {
    delivered = DeliverChallenge(theirs, "secret");
  });
  // The challenge is written right after the message: wait until both are
  // there, so the first receive takes the challenge's start ahead.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::Now() < give_up) {
    const platform::NativeHandle h = ours.fileno();
    auto ready = platform::WaitReadable({&h, 1}, absl::Milliseconds(10));
    ASSERT_TRUE(ready.ok());
    if (!ready->empty()) {
      absl::SleepFor(absl::Milliseconds(100));
      break;
    }
  }
  ASSERT_EQ(ours.RecvBytes().value(), "before the challenge");
  ASSERT_GT(ours.bytes_received_ahead(), 0u);
  EXPECT_TRUE(AnswerChallenge(ours, "secret").ok());
  deliver.join();
  EXPECT_TRUE(delivered.ok()) << delivered;
  ASSERT_TRUE(theirs.SendBytes("after").ok());
  EXPECT_EQ(ours.RecvBytes().value(), "after");
}

}  // namespace
}  // namespace mp
