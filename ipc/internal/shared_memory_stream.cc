#include "multiprocessing/ipc/internal/shared_memory_stream.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "multiprocessing/ipc/internal/ring_copy.h"
#include "multiprocessing/platform/poll.h"

namespace mp::ipc_internal {

// One direction: written by one end, read by the other. Each word the two
// ends write is on a cache line of its own.
struct SharedMemoryStream::Ring {
  // Byte positions that only grow; [head, tail) holds unread bytes.
  alignas(64) std::atomic<uint64_t> tail;  // the writer's
  alignas(64) std::atomic<uint64_t> head;  // the reader's
  // Raised by an end about to sleep, taken down by the other end, which
  // then owes it one doorbell byte.
  alignas(64) std::atomic<uint32_t> reader_waits;
  alignas(64) std::atomic<uint32_t> writer_waits;
};

struct SharedMemoryStream::Layout {
  uint64_t magic;
  alignas(64) std::atomic<uint32_t> closed[2];  // end i closed
  Ring ring[2];                                 // ring[i]: end i writes it
};

namespace {

constexpr uint64_t kMagic = 0x6d6165727453504d;  // "MPStream"
constexpr std::size_t kDataOffset = 4096;
static_assert(sizeof(SharedMemoryStream::Layout) <= kDataOffset);
static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "the rings' words are shared between processes");
// The shortest spin: an end whose waits keep ending in sleep spins this
// long before sleeping again.
constexpr absl::Duration kMinSpin = absl::Microseconds(1);
// How long a wait spins on the CPU before it spins by yielding it.
constexpr std::chrono::microseconds kPauseSpin{5};

char* RingData(SharedMemoryStream::Layout* layout, int side) {
  return reinterpret_cast<char*>(layout) + kDataOffset +
         side * SharedMemoryStream::kRingSize;
}

absl::Status ImpossiblePositions(uint64_t head, uint64_t tail) {
  return absl::DataLossError(
      absl::StrCat("shared-memory connection: the peer left impossible ring "
                   "positions (head ",
                   head, ", tail ", tail, ")"));
}

}  // namespace

std::size_t SharedMemoryStream::MemorySize() {
  return kDataOffset + 2 * kRingSize;
}

absl::StatusOr<platform::ScopedHandle> SharedMemoryStream::CreateMemory() {
  absl::StatusOr<platform::ScopedHandle> memory =
      platform::CreateSharedMemory(MemorySize());
  if (!memory.ok()) return memory.status();
  absl::StatusOr<platform::SharedMapping> mapping =
      platform::MapSharedMemory(memory->get(), MemorySize());
  if (!mapping.ok()) return mapping.status();
  // Zeroed memory is two empty rings with every flag down.
  static_cast<Layout*>(mapping->data())->magic = kMagic;
  return memory;
}

absl::StatusOr<SharedMemoryStream> SharedMemoryStream::Attach(
    platform::ScopedHandle memory, int side, platform::NativeHandle doorbell) {
  if (side != 0 && side != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared-memory connection: no end ", side));
  }
  absl::StatusOr<platform::SharedMapping> mapping =
      platform::MapSharedMemory(memory.get(), MemorySize());
  if (!mapping.ok()) return mapping.status();
  if (static_cast<Layout*>(mapping->data())->magic != kMagic) {
    return absl::DataLossError(
        "shared-memory connection: the memory is not a connection's");
  }
  return SharedMemoryStream(std::move(memory), *std::move(mapping), side,
                            doorbell);
}

SharedMemoryStream::SharedMemoryStream(platform::ScopedHandle memory,
                                       platform::SharedMapping mapping,
                                       int side,
                                       platform::NativeHandle doorbell)
    : memory_(std::move(memory)),
      mapping_(std::move(mapping)),
      layout_(static_cast<Layout*>(mapping_.data())),
      side_(side),
      doorbell_(doorbell) {}

SharedMemoryStream::SharedMemoryStream(SharedMemoryStream&& other) noexcept
    : memory_(std::move(other.memory_)),
      mapping_(std::move(other.mapping_)),
      layout_(std::exchange(other.layout_, nullptr)),
      side_(other.side_),
      doorbell_(other.doorbell_),
      armed_data_(other.armed_data_),
      armed_room_(other.armed_room_),
      owed_(other.owed_),
      peer_gone_(other.peer_gone_),
      handed_over_(other.handed_over_),
      closed_(other.closed_),
      spin_(other.spin_) {}

SharedMemoryStream::~SharedMemoryStream() {
  if (layout_ != nullptr) Close();
}

SharedMemoryStream::Ring& SharedMemoryStream::in() const {
  return layout_->ring[1 - side_];
}
SharedMemoryStream::Ring& SharedMemoryStream::out() const {
  return layout_->ring[side_];
}

bool SharedMemoryStream::PeerClosed() const {
  return peer_gone_ ||
         layout_->closed[1 - side_].load(std::memory_order_acquire) != 0;
}

void SharedMemoryStream::Close() {
  if (closed_) return;
  closed_ = true;
  if (handed_over_) return;
  layout_->closed[side_].store(1, std::memory_order_release);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  WakePeer(in().writer_waits);
  WakePeer(out().reader_waits);
}

void SharedMemoryStream::WakePeer(std::atomic<uint32_t>& flag) {
  // The caller's change to the ring is ordered before this load by a
  // seq_cst fence, and the sleeper's raising of the flag before its look at
  // the ring: one of the two sees the other.
  if (flag.load(std::memory_order_relaxed) == 0) return;
  if (flag.exchange(0) == 0) return;
  const char byte = 0;
  // A peer that is gone does not need waking.
  platform::WriteAll(doorbell_, {{&byte, 1}}).IgnoreError();
}

void SharedMemoryStream::CollectOwed() {
  if (armed_data_ && in().reader_waits.load() == 0) {
    armed_data_ = false;
    ++owed_;
  }
  if (armed_room_ && out().writer_waits.load() == 0) {
    armed_room_ = false;
    ++owed_;
  }
}

absl::Status SharedMemoryStream::ReadBell() {
  char byte;
  absl::StatusOr<std::size_t> got = platform::ReadSome(doorbell_, &byte, 1);
  if (!got.ok()) return got.status();
  if (*got == 0) {
    peer_gone_ = true;  // its process ended: nothing more will be written
    owed_ = 0;
    return absl::OkStatus();
  }
  CollectOwed();
  if (owed_ > 0) --owed_;  // else a byte no flag accounts for: ignored
  return absl::OkStatus();
}

absl::Status SharedMemoryStream::ReadOwed() {
  CollectOwed();
  while (owed_ > 0 && !peer_gone_) {
    // The peer writes the byte right after taking the flag down.
    if (absl::Status s = ReadBell(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status SharedMemoryStream::DisarmRoom() {
  if (armed_room_) {
    armed_room_ = false;
    if (out().writer_waits.exchange(0) == 0) ++owed_;  // the peer took it
  }
  return ReadOwed();
}

template <typename Ready>
absl::Status SharedMemoryStream::Await(std::atomic<uint32_t>& my_flag,
                                       bool& armed, Ready ready) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto spin = absl::ToChronoNanoseconds(spin_);
  bool yielding = false;
  for (unsigned i = 1;; ++i) {
    if (ready() || PeerClosed()) return absl::OkStatus();
    if (!yielding) {
      platform::CpuRelax();
    } else {
      // The peer has not answered for a while: it may be waiting for this
      // CPU, so give it up (with more busy ends than CPUs, pausing alone
      // made round trips 4-5x slower than the kernel's).
      std::this_thread::yield();
    }
    if (i % 16 == 0) {
      const auto waited = Clock::now() - start;
      if (waited > spin) break;
      yielding = waited > kPauseSpin;
    }
  }
  for (;;) {
    if (!armed) {
      my_flag.store(1);
      armed = true;
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
    if (ready() || PeerClosed()) break;
    // Blocks until the peer takes a flag down (or ends).
    if (absl::Status s = ReadBell(); !s.ok()) return s;
  }
  // The spin adapts to how long waits take: a wait that a full spin would
  // have covered (the peer was only slow to answer because it slept too)
  // gets a full spin next time; a longer one halves the spin, down to
  // kMinSpin, so an end whose peer is often busy for long stops burning
  // its CPU.
  const auto waited = Clock::now() - start;
  spin_ = waited < absl::ToChronoNanoseconds(kMaxSpin)
              ? kMaxSpin
              : std::max(kMinSpin, spin_ / 2);
  return absl::OkStatus();
}

absl::StatusOr<std::size_t> SharedMemoryStream::ReadSome(void* buffer,
                                                         std::size_t size) {
  Ring& ring = in();
  const uint64_t head = ring.head.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t tail = ring.tail.load(std::memory_order_acquire);
    if (tail != head) {
      if (tail - head > kRingSize) return ImpossiblePositions(head, tail);
      const std::size_t n = std::min<uint64_t>(size, tail - head);
      CopyOut(RingData(layout_, 1 - side_), kRingSize, head,
              static_cast<char*>(buffer), n);
      ring.head.store(head + n, std::memory_order_release);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      WakePeer(ring.writer_waits);
      return n;
    }
    if (size == 0) return 0;
    if (PeerClosed()) {
      // Its last bytes were stored before its flag: look once more.
      if (ring.tail.load(std::memory_order_acquire) != head) continue;
      return 0;
    }
    if (absl::Status s = Await(
            ring.reader_waits, armed_data_,
            [&] { return ring.tail.load(std::memory_order_acquire) != head; });
        !s.ok()) {
      return s;
    }
  }
}

absl::Status SharedMemoryStream::WriteAll(
    absl::Span<const platform::ConstBuffer> buffers) {
  Ring& ring = out();
  char* data = RingData(layout_, side_);
  uint64_t tail = ring.tail.load(std::memory_order_relaxed);
  auto publish = [&] {
    ring.tail.store(tail, std::memory_order_release);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    WakePeer(ring.reader_waits);
  };
  for (const platform::ConstBuffer& b : buffers) {
    const char* p = static_cast<const char*>(b.data);
    std::size_t left = b.size;
    while (left > 0) {
      if (PeerClosed()) {
        return absl::FailedPreconditionError(
            "the other end closed the connection");
      }
      const uint64_t head = ring.head.load(std::memory_order_acquire);
      if (tail - head > kRingSize) return ImpossiblePositions(head, tail);
      const std::size_t room = kRingSize - (tail - head);
      if (room == 0) {
        publish();  // what fits is the reader's: it makes the room
        if (absl::Status s = Await(
                ring.writer_waits, armed_room_,
                [&] {
                  return tail - ring.head.load(std::memory_order_acquire) <
                         kRingSize;
                });
            !s.ok()) {
          return s;
        }
        continue;
      }
      const std::size_t n = std::min(left, room);
      CopyIn(data, kRingSize, tail, p, n);
      tail += n;
      p += n;
      left -= n;
    }
  }
  publish();
  return absl::OkStatus();
}

bool SharedMemoryStream::Readable() const {
  const Ring& ring = in();
  return ring.tail.load(std::memory_order_acquire) !=
             ring.head.load(std::memory_order_relaxed) ||
         PeerClosed();
}

absl::StatusOr<bool> SharedMemoryStream::ArmForWait() {
  if (Readable()) return true;
  // Bytes owed for earlier flags are read now, and the room flag goes down,
  // so that a readable doorbell means new bytes (or the peer's end).
  if (absl::Status s = DisarmRoom(); !s.ok()) return s;
  if (!armed_data_) {
    in().reader_waits.store(1);
    armed_data_ = true;
  }
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return Readable();
}

absl::StatusOr<bool> SharedMemoryStream::Poll(
    std::optional<absl::Duration> timeout) {
  absl::StatusOr<bool> ready = ArmForWait();
  if (!ready.ok() || *ready) return ready;
  absl::StatusOr<std::vector<std::size_t>> bell =
      platform::WaitReadable({&doorbell_, 1}, timeout);
  if (!bell.ok()) return bell.status();
  return !bell->empty();
}

}  // namespace mp::ipc_internal
