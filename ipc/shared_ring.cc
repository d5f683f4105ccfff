#include "multiprocessing/ipc/shared_ring.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>

#include "absl/time/clock.h"
#include "multiprocessing/ipc/internal/ring_copy.h"
#include "multiprocessing/platform/shared_memory.h"

namespace mp::ipc_internal {

struct SharedRing::Header {
  uint64_t magic;
  // Bytes of record space after the header, as laid out; each process uses
  // its own copy (SharedRing::capacity_), checked against this at Attach().
  uint64_t capacity;
  platform::SharedLock lock;
  // Changed under `lock`. Byte positions that only grow; the record space
  // is used modulo `capacity`. tail - head bytes hold records. Atomic so
  // that a process may glance at them without the lock (LooksEmpty(), the
  // sleepers' check): a hint, which the lock holder checks again.
  std::atomic<uint64_t> head;
  std::atomic<uint64_t> tail;
  // Futex words: bumped by each push batch / pop batch.
  std::atomic<uint32_t> pushes;
  std::atomic<uint32_t> pops;
  // Sleepers on each word (a process killed asleep leaves one too many,
  // which costs only a needless wake-up call).
  std::atomic<uint32_t> record_waiters;
  std::atomic<uint32_t> room_waiters;
};

namespace {

constexpr uint64_t kMagic = 0x676e6952504d0001;  // "MPRing" v1
static_assert(sizeof(SharedRing::Header) <= SharedRing::kHeaderSize);

struct RecordHeader {
  uint32_t size;
  uint32_t tag;
};
static_assert(sizeof(RecordHeader) == SharedRing::kRecordOverhead);

}  // namespace

absl::StatusOr<SharedRing> SharedRing::Create(void* memory, std::size_t size) {
  if (size < kHeaderSize + 2 * kRecordOverhead) {
    return absl::InvalidArgumentError("SharedRing: memory too small");
  }
  auto* header = new (memory) Header;
  header->capacity = size - kHeaderSize;
  if (absl::Status s = platform::InitSharedLock(&header->lock); !s.ok()) {
    return s;
  }
  std::atomic_thread_fence(std::memory_order_release);
  header->magic = kMagic;
  return SharedRing(header, static_cast<char*>(memory) + kHeaderSize,
                    size - kHeaderSize);
}

absl::StatusOr<SharedRing> SharedRing::Attach(void* memory, std::size_t size) {
  auto* header = static_cast<Header*>(memory);
  if (size < kHeaderSize + 2 * kRecordOverhead || header->magic != kMagic ||
      header->capacity != size - kHeaderSize) {
    return absl::DataLossError("SharedRing: not a ring of this size");
  }
  return SharedRing(header, static_cast<char*>(memory) + kHeaderSize,
                    size - kHeaderSize);
}

std::size_t SharedRing::max_payload() const {
  const uint64_t room = capacity_ - kRecordOverhead;
  return static_cast<std::size_t>(std::min<uint64_t>(room, UINT32_MAX));
}

SharedRing::Locked::Locked(const SharedRing& ring)
    : Locked(ring, std::nullopt) {}

SharedRing::Locked::Locked(const SharedRing& ring,
                           std::optional<absl::Time> deadline)
    : header_(ring.header_), data_(ring.data_), capacity_(ring.capacity_) {
  absl::StatusOr<std::optional<bool>> died =
      platform::AcquireSharedLockChecked(&header_->lock, deadline);
  if (!died.ok()) {
    status_ = died.status();
    held_ = false;
    return;
  }
  held_ = died->has_value();
  owner_died_ = died->value_or(false);
  // The dead holder may have pushed or popped without bumping the words.
  if (owner_died_) {
    pushed_ = INT_MAX;
    popped_ = true;
  }
}

SharedRing::Locked::~Locked() {
  if (!held_) return;
  // Producers waiting for room are woken only once half the ring is free:
  // waking them at every pop when the ring is full would have each push
  // one record and sleep again, a system call or two per record.
  const bool roomy =
      popped_ && (owner_died_ || 2 * (Tail() - Head()) <= capacity_);
  // Bumped under the lock: a sleeper reads the word under the lock before
  // sleeping, so it either sees this change or is woken by it.
  if (pushed_ > 0) header_->pushes.fetch_add(1);
  if (roomy) header_->pops.fetch_add(1);
  platform::ReleaseSharedLock(&header_->lock);
  // One sleeping consumer per record: more would find nothing to take.
  if (pushed_ > 0 && header_->record_waiters.load() > 0) {
    platform::WakeWord(&header_->pushes, pushed_);
  }
  if (roomy && header_->room_waiters.load() > 0) {
    platform::WakeWord(&header_->pops);
  }
}

uint64_t SharedRing::Locked::Head() const {
  return header_->head.load(std::memory_order_relaxed);
}

uint64_t SharedRing::Locked::Tail() const {
  return header_->tail.load(std::memory_order_relaxed);
}

bool SharedRing::Locked::PositionsValid() const {
  return held_ && Tail() - Head() <= capacity_;
}

bool SharedRing::Locked::Fits(std::size_t payload_size) const {
  if (!PositionsValid()) return false;
  const uint64_t used = Tail() - Head();
  return payload_size <= UINT32_MAX &&
         kRecordOverhead + payload_size <= capacity_ - used;
}

bool SharedRing::Locked::TryPush(
    uint32_t tag, std::initializer_list<absl::string_view> parts) {
  std::size_t size = 0;
  for (absl::string_view p : parts) size += p.size();
  if (!Fits(size)) return false;
  const uint64_t capacity = capacity_;
  uint64_t pos = Tail();
  const RecordHeader record{static_cast<uint32_t>(size), tag};
  CopyIn(data_, capacity, pos, reinterpret_cast<const char*>(&record),
         sizeof record);
  pos += sizeof record;
  for (absl::string_view p : parts) {
    CopyIn(data_, capacity, pos, p.data(), p.size());
    pos += p.size();
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  header_->tail.store(pos, std::memory_order_release);  // publishes it
  if (pushed_ < INT_MAX) ++pushed_;
  return true;
}

bool SharedRing::Locked::empty() const { return !held_ || Tail() == Head(); }

absl::StatusOr<std::optional<SharedRing::Locked::Front>>
SharedRing::Locked::PeekFront() const {
  if (!status_.ok()) return status_;
  if (!held_) return absl::FailedPreconditionError("SharedRing: not locked");
  const uint64_t used = Tail() - Head();
  if (used == 0) return std::nullopt;
  RecordHeader record;
  if (used < sizeof record || used > capacity_) {
    return absl::DataLossError("SharedRing: corrupt positions");
  }
  CopyOut(data_, capacity_, Head(), reinterpret_cast<char*>(&record),
          sizeof record);
  if (record.size > used - sizeof record) {
    return absl::DataLossError("SharedRing: corrupt record size");
  }
  return Front{record.tag, record.size};
}

void SharedRing::Locked::PopFront(std::string* payload) {
  if (payload != nullptr) payload->clear();
  // Checked again: the positions are read from shared memory each time.
  absl::StatusOr<std::optional<Front>> front = PeekFront();
  if (!front.ok() || !front->has_value()) return;
  RecordHeader record;
  const uint64_t head = Head();
  CopyOut(data_, capacity_, head, reinterpret_cast<char*>(&record),
          sizeof record);
  if (record.size != (*front)->size) return;  // changed under the lock
  if (payload != nullptr) {
    payload->resize(record.size);
    CopyOut(data_, capacity_, head + sizeof record, payload->data(),
            record.size);
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  // Removes the record.
  header_->head.store(head + sizeof record + record.size,
                      std::memory_order_release);
  popped_ = true;
}

namespace {

// A process killed between changing the ring and waking the sleepers (it
// can die anywhere) leaves them asleep: so they look again at least this
// often.
constexpr absl::Duration kRecheckEvery = absl::Milliseconds(100);

// Sleeps on `word` while `still_waiting()` holds, judged from the
// positions without the lock (a consumer starved of records then never
// queues on the lock behind the producers, and a stopped lock holder does
// not hold it up). True once it no longer holds or the word changed; false
// at the deadline.
//
// No wake-up is lost: the sleeper counts itself in `waiters`, then reads
// the word, then the positions; the waker changes the positions, then bumps
// the word, then reads `waiters` (all sequentially consistent). Either the
// sleeper sees the new positions or word, or the waker sees the sleeper
// counted and wakes it (a futex wait on a word that changed returns at
// once).
template <typename Predicate>
bool Sleep(std::atomic<uint32_t>* word, std::atomic<uint32_t>* waiters,
           std::optional<absl::Time> deadline, Predicate still_waiting) {
  for (;;) {
    waiters->fetch_add(1);
    const uint32_t seen = word->load();
    if (!still_waiting()) {
      waiters->fetch_sub(1);
      return true;
    }
    const absl::Time recheck = absl::Now() + kRecheckEvery;
    const bool woken = platform::WaitOnWord(
        word, seen, deadline ? std::min(*deadline, recheck) : recheck);
    waiters->fetch_sub(1);
    if (woken) return true;
    if (deadline && absl::Now() >= *deadline) return false;
  }
}

}  // namespace

bool SharedRing::LooksEmpty() const {
  return header_->tail.load() == header_->head.load();
}

bool SharedRing::WaitForRecord(std::optional<absl::Time> deadline) const {
  Header* h = header_;
  return Sleep(&h->pushes, &h->record_waiters, deadline,
               [this] { return LooksEmpty(); });
}

bool SharedRing::WaitForRoom(std::size_t payload_size,
                             std::optional<absl::Time> deadline) const {
  Header* h = header_;
  const uint64_t capacity = capacity_;
  return Sleep(&h->pops, &h->room_waiters, deadline,
               [h, capacity, payload_size] {
                 const uint64_t used = h->tail.load() - h->head.load();
                 // Positions that make no sense wait too (for the 100 ms
                 // recheck), as Locked::Fits() says no room then.
                 return used > capacity || payload_size > UINT32_MAX ||
                        kRecordOverhead + payload_size > capacity - used;
               });
}

}  // namespace mp::ipc_internal
