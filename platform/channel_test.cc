#include "multiprocessing/platform/channel.h"

#include <string>
#include <thread>

#if defined(_WIN32)
#include <windows.h>
#else
#include <cerrno>
#endif

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "multiprocessing/platform/test_util.h"

namespace mp::platform {
namespace {

bool IsCloseOnExec(const ScopedHandle& h) {
  return !IsInheritable(h.get()).value();
}

std::string ReadN(NativeHandle h, std::size_t n) {
  std::string s(n, '\0');
  s.resize(ReadFull(h, s.data(), n).value());
  return s;
}

// One function says which read errors are the peer's end of stream.
TEST(ChannelTest, EndOfStreamErrorsAreOneMapping) {
#if defined(_WIN32)
  for (DWORD e : {ERROR_BROKEN_PIPE, ERROR_PIPE_NOT_CONNECTED, ERROR_NO_DATA,
                  ERROR_NETNAME_DELETED, ERROR_CONNECTION_ABORTED}) {
    EXPECT_TRUE(IsEndOfStreamError(static_cast<int>(e))) << e;
  }
  for (DWORD e : {ERROR_SUCCESS, ERROR_MORE_DATA, ERROR_IO_PENDING,
                  ERROR_ACCESS_DENIED, ERROR_TIMEOUT, ERROR_OPERATION_ABORTED,
                  ERROR_INVALID_HANDLE, ERROR_PIPE_BUSY}) {
    EXPECT_FALSE(IsEndOfStreamError(static_cast<int>(e))) << e;
  }
#else
  EXPECT_TRUE(IsEndOfStreamError(ECONNRESET));
  for (int e : {0, EAGAIN, EINTR, EBADF, EPIPE}) {
    EXPECT_FALSE(IsEndOfStreamError(e)) << e;
  }
#endif
  // Channels are byte streams, never message pipes.
  ChannelPair p = CreateDuplexChannel().value();
  EXPECT_FALSE(IsMessagePipe(p.first.get()));
  EXPECT_FALSE(IsMessagePipe(p.second.get()));
}

TEST(ChannelTest, DuplexCarriesBytesBothWays) {
  ChannelPair p = CreateDuplexChannel().value();
  ASSERT_TRUE(WriteAll(p.first.get(), {{"ping", 4}}).ok());
  EXPECT_EQ(ReadN(p.second.get(), 4), "ping");
  ASSERT_TRUE(WriteAll(p.second.get(), {{"pong", 4}}).ok());
  EXPECT_EQ(ReadN(p.first.get(), 4), "pong");
}

TEST(ChannelTest, OneWayOnlyGoesOneWay) {
  ChannelPair p = CreateOneWayChannel().value();
  ASSERT_TRUE(WriteAll(p.second.get(), {{"abc", 3}}).ok());
  EXPECT_EQ(ReadN(p.first.get(), 3), "abc");
  EXPECT_FALSE(WriteAll(p.first.get(), {{"x", 1}}).ok());
  char c;
  EXPECT_FALSE(ReadSome(p.second.get(), &c, 1).ok());
}

TEST(ChannelTest, EveryHandleIsCloseOnExec) {
  ChannelPair d = CreateDuplexChannel().value();
  ChannelPair o = CreateOneWayChannel().value();
  EXPECT_TRUE(IsCloseOnExec(d.first));
  EXPECT_TRUE(IsCloseOnExec(d.second));
  EXPECT_TRUE(IsCloseOnExec(o.first));
  EXPECT_TRUE(IsCloseOnExec(o.second));
}

TEST(ChannelTest, GatherWriteKeepsOrderAcrossPartialWrites) {
  ChannelPair p = CreateDuplexChannel().value();
  // Far more than a socket buffer, in many pieces, so the kernel takes it in
  // several partial writes.
  std::string a(3 << 20, 'a'), b = "-", c(5 << 20, 'c');
  std::vector<ConstBuffer> bufs = {
      {a.data(), a.size()}, {b.data(), 1}, {nullptr, 0}, {c.data(), c.size()}};
  std::thread writer([&] { ASSERT_TRUE(WriteAll(p.first.get(), bufs).ok()); });
  std::string got = ReadN(p.second.get(), a.size() + 1 + c.size());
  writer.join();
  EXPECT_TRUE(got == a + b + c);
}

TEST(ChannelTest, ReadFullStopsShortAtEndOfStream) {
  ChannelPair p = CreateDuplexChannel().value();
  ASSERT_TRUE(WriteAll(p.first.get(), {{"abc", 3}}).ok());
  p.first.reset();
  char buf[10];
  EXPECT_EQ(ReadFull(p.second.get(), buf, sizeof buf).value(), 3u);
  EXPECT_EQ(ReadFull(p.second.get(), buf, sizeof buf).value(), 0u);
}

TEST(ChannelTest, CloseForWritingEndsTheStreamAfterWhatWasWritten) {
  ChannelPair p = CreateDuplexChannel().value();
  ASSERT_TRUE(WriteAll(p.second.get(), {{"abc", 3}}).ok());
  ASSERT_TRUE(CloseForWriting(p.second).ok());
  char buf[8];
  EXPECT_EQ(ReadFull(p.first.get(), buf, sizeof buf).value(), 3u);
  EXPECT_EQ(ReadSome(p.first.get(), buf, sizeof buf).value(), 0u);
#if !defined(_WIN32)  // a half-close: the other direction still works
  ASSERT_TRUE(WriteAll(p.first.get(), {{"x", 1}}).ok());
  EXPECT_EQ(ReadSome(p.second.get(), buf, 1).value(), 1u);
#else  // Windows pipes cannot half-close: the end is gone
  EXPECT_FALSE(p.second.is_valid());
#endif
}

TEST(ChannelTest, ReceiveTimeoutEndsAReadUntilCleared) {
  ChannelPair p = CreateDuplexChannel().value();
  ASSERT_TRUE(SetReceiveTimeout(p.second.get(), absl::Milliseconds(100)).ok());
  char c = 0;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::size_t> n = ReadSome(p.second.get(), &c, 1);
  EXPECT_EQ(n.status().code(), absl::StatusCode::kDeadlineExceeded)
      << n.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(90));
  // Data that arrives in time is read.
  ASSERT_TRUE(WriteAll(p.first.get(), {{"a", 1}}).ok());
  EXPECT_EQ(ReadSome(p.second.get(), &c, 1).value(), 1u);
  // Cleared: a read waits as long as it takes.
  ASSERT_TRUE(SetReceiveTimeout(p.second.get(), std::nullopt).ok());
  std::thread late([&] {
    absl::SleepFor(absl::Milliseconds(300));
    WriteAll(p.first.get(), {{"b", 1}}).IgnoreError();
  });
  EXPECT_EQ(ReadSome(p.second.get(), &c, 1).value(), 1u);
  EXPECT_EQ(c, 'b');
  late.join();
}

// With SIGPIPE at its default action, a write that raised it would kill the
// test binary; these pass only if the write reports an error instead.
TEST(ChannelTest, WriteToGonePeerIsAnErrorNotSigpipe) {
  ChannelPair d = CreateDuplexChannel().value();
  d.second.reset();
  absl::Status s = WriteAll(d.first.get(), {{"x", 1}});
  EXPECT_FALSE(s.ok());
  ChannelPair o = CreateOneWayChannel().value();
  o.first.reset();
  s = WriteAll(o.second.get(), {{"x", 1}});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
#if !defined(_WIN32)
  EXPECT_NE(s.message().find("Broken pipe"), absl::string_view::npos) << s;
#endif
}

#if !defined(_WIN32)  // no signals on Windows
TEST(ChannelTest, ReadsAndWritesSurviveASignalStorm) {
  ChannelPair p = CreateDuplexChannel().value();
  const std::size_t n = 16 << 20;
  std::string sent(n, '\0');
  for (std::size_t i = 0; i < n; ++i) sent[i] = static_cast<char>(i * 7);
  std::thread writer([&] {
    for (std::size_t off = 0; off < n; off += 4096) {
      ASSERT_TRUE(WriteAll(p.first.get(), {{sent.data() + off, 4096}}).ok());
    }
  });
  std::string got;
  int64_t signals = 0;
  {
    mp::test_util::SignalStorm storm(50);
    got = ReadN(p.second.get(), n);
    signals = storm.delivered();
  }
  writer.join();
  EXPECT_TRUE(got == sent);
  EXPECT_GT(signals, 0);
}
#endif

}  // namespace
}  // namespace mp::platform
