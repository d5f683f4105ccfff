// Pipe(duplex, Transport::kSharedMemory) beyond the conformance tests
// (connection_test.cc runs those over it): ends passed to children under
// every start method, a child that dies or is killed (end of stream, a
// message cut short, a sender refused), Wait() over both transports, no
// stale readiness, a peer that corrupts the ring, and a thousand pipes
// leaving no handle behind.
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/connection_test_util.h"
#include "multiprocessing/ipc/errors.h"
#include "multiprocessing/ipc/wait.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/shared_memory.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/process/test_main.h"

namespace mp {
namespace {

std::pair<Connection, Connection> ShmPipe(bool duplex = true) {
  return MakePipe(duplex, Transport::kSharedMemory);
}

// Sizes that cross every boundary: empty, small, the ring's size and more.
std::vector<std::size_t> Sizes() {
  constexpr std::size_t ring = ipc_internal::SharedMemoryStream::kRingSize;
  return {0, 1, 64, 4096, ring - 4, ring, ring + 1, 3 * ring + 17};
}

std::string Payload(std::size_t size, int seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    s[i] = static_cast<char>((i * 31 + seed) % 251);
  }
  return s;
}

// Echoes every message until end of stream.
int Echo(Connection& conn) {
  for (;;) {
    absl::StatusOr<std::string> m = conn.RecvBytes();
    if (!m.ok()) return IsEof(m.status()) ? 0 : 1;
    if (!conn.SendBytes(*m).ok()) return 2;
  }
}
MP_REGISTER_TARGET(Echo);

// Says hello, then waits to be killed.
int HelloThenHang(Connection& conn) {
  if (!conn.SendBytes("hello").ok()) return 1;
  for (;;) absl::SleepFor(absl::Seconds(1));
}
MP_REGISTER_TARGET(HelloThenHang);

// Writes the first `cut` bytes of a 1000-byte message's frame and dies
// without closing anything (no destructor runs).
int DieMidMessage(Connection& conn, int cut) {
  std::string frame = std::string("\0\0\x03\xe8", 4) + std::string(996, 'x');
  frame.resize(static_cast<std::size_t>(cut));
  if (!ConnectionTestPeer::WriteRaw(conn, frame).ok()) return 1;
  std::_Exit(0);
}
MP_REGISTER_TARGET(DieMidMessage);

int Nothing(Connection&) { return 0; }
MP_REGISTER_TARGET(Nothing);

using ConnectionShmProcessTest = test_util::EveryStartMethod;

TEST_P(ConnectionShmProcessTest, AnEndMovedToAChildCarriesEveryMessage) {
  auto [mine, theirs] = ShmPipe();
  Process p = Make(Echo, std::move(theirs));
  ASSERT_TRUE(p.Start().ok());
  int seed = 0;
  for (std::size_t size : Sizes()) {
    const std::string sent = Payload(size, ++seed);
    // Larger than the ring: our send returns once the child has read the
    // message whole; its echo then waits for our receive. (One thread: a
    // Connection is not for two at once, a send and a receive included.)
    ASSERT_TRUE(mine.SendBytes(sent).ok());
    absl::StatusOr<std::string> got = mine.RecvBytes();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(*got == sent) << "size " << size;
  }
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(mine.Send(i).ok());
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(mine.Recv<int>().value_or(-1), i);
  // Our end closing is the child's end of stream.
  ASSERT_TRUE(mine.Close().ok());
  ASSERT_TRUE(p.Join().ok());
  EXPECT_EQ(p.exitcode(), 0);
}

// A child's end goes when the child ends (whether or not its destructor
// ran): our receive then reads end of stream, our send is refused.
TEST_P(ConnectionShmProcessTest, ChildEndingIsEndOfStream) {
  auto [reader, writer] = ShmPipe(/*duplex=*/false);
  Process p = Make(Nothing, std::move(writer));
  ASSERT_TRUE(p.Start().ok());
  ASSERT_TRUE(p.Join().ok());
  ASSERT_TRUE(reader.Poll(absl::Seconds(10)).value());
  EXPECT_TRUE(IsEof(reader.RecvBytes().status()));
}

TEST_P(ConnectionShmProcessTest, KilledPeerIsEndOfStreamAndRefusesSends) {
  auto [mine, theirs] = ShmPipe();
  Process p = Make(HelloThenHang, std::move(theirs));
  ASSERT_TRUE(p.Start().ok());
  ASSERT_EQ(mine.RecvBytes().value_or(""), "hello");
  ASSERT_TRUE(p.Kill().ok());
  ASSERT_TRUE(p.Join().ok());
  // Killed, not closed: the receiver finds the kernel's end of its doorbell.
  absl::StatusOr<std::string> r = mine.RecvBytes();
  EXPECT_TRUE(IsEof(r.status())) << r.status();
  EXPECT_TRUE(mine.Poll().value());
  // The sender: refused once the ring is full at the latest.
  const std::string chunk(64 << 10, 'c');
  absl::Status s;
  int sent = 0;
  for (; sent < 100 && s.ok(); ++sent) s = mine.SendBytes(chunk);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_LE(sent, 6);
}

TEST_P(ConnectionShmProcessTest, PeerDyingMidMessageIsDataLoss) {
  for (int cut : {2, 4, 500}) {
    auto [mine, theirs] = ShmPipe();
    Process p = Make(DieMidMessage, std::move(theirs), cut);
    ASSERT_TRUE(p.Start().ok());
    absl::StatusOr<std::string> r = mine.RecvBytes();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss)
        << "cut at " << cut << ": " << r.status();
    ASSERT_TRUE(p.Join().ok());
    EXPECT_EQ(p.exitcode(), 0);
  }
}

TEST_P(ConnectionShmProcessTest, SharingIsRefused) {
  auto [mine, theirs] = ShmPipe();
  Process p = Make(Nothing, std::ref(theirs));
  absl::Status s = p.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(theirs.MarkShared().code(), absl::StatusCode::kFailedPrecondition);
  // Still ours, and working.
  ASSERT_TRUE(theirs.SendBytes("still here").ok());
  EXPECT_EQ(mine.RecvBytes().value_or(""), "still here");
}

MP_INSTANTIATE_FOR_EVERY_START_METHOD(ConnectionShmProcessTest);

TEST(ConnectionShmTest, WaitOverBothTransports) {
  auto [shm_a, shm_b] = ShmPipe();
  auto [k_a, k_b] = MakePipe();
  // Structured bindings are captured by name (C++17 has no implicit
  // capture of them; clang refuses it).
  auto wait = [&shm = shm_b,
               &kernel = k_b](std::optional<absl::Duration> timeout) {
    std::vector<Waitable> objects = {shm, kernel};
    return Wait(objects, timeout).value();
  };
  EXPECT_TRUE(wait(absl::ZeroDuration()).empty());
  const absl::Time start = absl::Now();
  EXPECT_TRUE(wait(absl::Milliseconds(100)).empty());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(100));
  // A message that arrives while Wait() sleeps wakes it.
  std::thread t([&shm_a = shm_a] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(shm_a.SendBytes("late").ok());
  });
  EXPECT_EQ(wait(std::nullopt), std::vector<std::size_t>{0});
  t.join();
  EXPECT_EQ(wait(absl::ZeroDuration()), std::vector<std::size_t>{0});
  EXPECT_EQ(shm_b.RecvBytes().value_or(""), "late");
  // Read: nothing is ready any more (the wake-up byte does not linger).
  EXPECT_TRUE(wait(absl::ZeroDuration()).empty());
  EXPECT_TRUE(wait(absl::Milliseconds(20)).empty());
  ASSERT_TRUE(k_a.SendBytes("kernel").ok());
  ASSERT_TRUE(shm_a.SendBytes("shm").ok());
  EXPECT_EQ(wait(std::nullopt), (std::vector<std::size_t>{0, 1}));
  // A closed peer is ready (end of stream).
  EXPECT_EQ(shm_b.RecvBytes().value_or(""), "shm");
  ASSERT_TRUE(shm_a.Close().ok());
  EXPECT_EQ(wait(absl::ZeroDuration()), (std::vector<std::size_t>{0, 1}));
}

// After traffic in both directions that filled the rings (so both ends
// slept for room and for data), neither end looks readable.
TEST(ConnectionShmTest, NoStaleReadinessAfterFullRings) {
  auto [a, b] = ShmPipe();
  const std::string big(5 * ipc_internal::SharedMemoryStream::kRingSize, 'b');
  for (int round = 0; round < 3; ++round) {
    std::thread t([&a = a, &big] { ASSERT_TRUE(a.SendBytes(big).ok()); });
    absl::SleepFor(absl::Milliseconds(20));  // a sleeps on a full ring
    ASSERT_EQ(b.RecvBytes().value_or("").size(), big.size());
    t.join();
    std::thread u([&b = b, &big] {
      absl::SleepFor(absl::Milliseconds(20));  // a sleeps on an empty ring
      ASSERT_TRUE(b.SendBytes(big).ok());
    });
    ASSERT_EQ(a.RecvBytes().value_or("").size(), big.size());
    u.join();
    EXPECT_FALSE(a.Poll().value());
    EXPECT_FALSE(b.Poll().value());
    EXPECT_FALSE(a.Poll(absl::Milliseconds(10)).value());
    std::vector<Waitable> objects = {a, b};
    EXPECT_TRUE(Wait(objects, absl::Milliseconds(10)).value().empty());
  }
}

// The encoding of an end carries its doorbell and its memory; sharing it is
// refused in the encoding.
TEST(ConnectionShmTest, EncodingCarriesTheDoorbellAndTheMemory) {
  auto [a, b] = ShmPipe();
  HandleTable table;
  std::string bytes;
  ASSERT_TRUE(Encode(std::tie(a), &bytes, &table).ok());
  EXPECT_EQ(table.handles(),
            (HandleList{ConnectionTestPeer::SharedMemory(a), a.fileno()}));
  std::string shared;
  HandleTable shared_table;
  auto kept = std::ref(b);
  absl::Status s = Encode(std::tie(kept), &shared, &shared_table);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(a.transport(), Transport::kSharedMemory);
  EXPECT_EQ(b.transport(), Transport::kSharedMemory);
}

// The peer can write anything into the shared memory: impossible positions
// are kDataLoss for both ends, never a read or write out of bounds.
TEST(ConnectionShmTest, CorruptPositionsAreDataLoss) {
  auto [a, b] = ShmPipe();
  ASSERT_TRUE(a.SendBytes("fine").ok());
  ASSERT_EQ(b.RecvBytes().value_or(""), "fine");
  platform::SharedMapping memory =
      platform::MapSharedMemory(ConnectionTestPeer::SharedMemory(a), 4096)
          .value();
  // The tail of the ring `a` writes (see SharedMemoryStream::Layout):
  // far past its head.
  auto* tail = reinterpret_cast<std::atomic<uint64_t>*>(
      static_cast<char*>(memory.data()) + 128);
  tail->store(uint64_t{1} << 40);
  absl::StatusOr<std::string> r = b.RecvBytes();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_EQ(a.SendBytes("x").code(), absl::StatusCode::kDataLoss);
}

TEST(ConnectionShmTest, AThousandPipesLeaveNoHandle) {
  const int before = platform::CountOpenHandles().value();
  for (int i = 0; i < 1000; ++i) {
    auto [a, b] = ShmPipe(/*duplex=*/i % 2 == 0);
    ASSERT_TRUE(b.SendBytes(absl::StrCat(i)).ok());
    ASSERT_EQ(a.RecvBytes().value_or(""), absl::StrCat(i));
  }
  EXPECT_EQ(platform::CountOpenHandles().value(), before);
}

}  // namespace
}  // namespace mp
