#include "multiprocessing/ipc/internal/queue_core.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/types/span.h"
#include "multiprocessing/ipc/internal/errors.h"
#include "multiprocessing/ipc/internal/feeder.h"
#include "multiprocessing/ipc/internal/large_item_channel.h"
#include "multiprocessing/ipc/shared_ring.h"
#include "multiprocessing/platform/exit_hooks.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/message_channel.h"
#include "multiprocessing/platform/shared_memory.h"

namespace mp::ipc_internal {
namespace {

// The shared memory of a queue: these counters, then the ring of items.
struct SharedCounters {
  // Futex words (32-bit).
  std::atomic<uint32_t> count;        // put and not yet got (qsize)
  std::atomic<uint32_t> unfinished;   // put and not yet TaskDone (Joinable)
  std::atomic<uint32_t> put_waiters;  // Put() calls waiting for room
  // Guarded by the ring's lock: the ticket of the next item that travels
  // through the large-item channel.
  uint64_t next_ticket;
};
constexpr std::size_t kCountersSize = 64;
static_assert(sizeof(SharedCounters) <= kCountersSize);

// Room for thousands of small items; pages are touched only as it fills.
constexpr std::size_t kRingCapacity = 512 * 1024;
constexpr std::size_t kSharedSize =
    kCountersSize + SharedRing::MemorySize(kRingCapacity);

// Ring record tags.
constexpr uint32_t kInline = 1;  // the payload is the item
constexpr uint32_t kTicket = 2;  // the payload is a large item's ticket

std::optional<absl::Time> DeadlineOf(bool block,
                                     std::optional<absl::Duration> timeout) {
  if (!block) return absl::Now();
  if (!timeout) return std::nullopt;
  return absl::Now() + std::max(*timeout, absl::ZeroDuration());
}

}  // namespace

struct QueueCore::Impl {
  // This process's side of the queue. A forked child makes a fresh one and
  // never touches the parent's.
  struct Local {
    explicit Local(platform::ProcessId p) : pid(p) {}
    const platform::ProcessId pid;
    Feeder feeder;
    // One more than the ticket of the last large item this process sent
    // (0: none).
    std::atomic<uint64_t> large_sent{0};
  };

  Impl(LargeItemChannel c, platform::ScopedHandle s, platform::SharedMapping m,
       SharedRing r)
      : channel(std::move(c)),
        shared_handle(std::move(s)),
        mapping(std::move(m)),
        shared(static_cast<SharedCounters*>(mapping.data())),
        ring(r) {}

  ~Impl() {
    Local* l = local.load();
    if (l != nullptr && l->pid == platform::CurrentProcessId()) delete l;
  }

  LargeItemChannel channel;
  platform::ScopedHandle shared_handle;
  platform::SharedMapping mapping;
  SharedCounters* shared;
  SharedRing ring;
  std::atomic<Local*> local{nullptr};

  Local* GetLocal() {
    const platform::ProcessId self = platform::CurrentProcessId();
    Local* l = local.load(std::memory_order_acquire);
    if (l != nullptr && l->pid == self) return l;
    auto* fresh = new Local(self);
    if (local.compare_exchange_strong(l, fresh)) return fresh;  // old: leaked
    delete fresh;
    return l;
  }

  // Writes `items` in order, blocking while the ring (or the channel) is
  // full. Small items go many to one lock hold.
  absl::Status Write(absl::Span<const std::string> items) {
    absl::Status status;
    std::size_t i = 0;
    while (i < items.size()) {
      if (items[i].size() > kMaxRingItem) {
        status.Update(WriteLarge(items[i++]));
        continue;
      }
      {
        SharedRing::Locked locked(ring);
        if (!locked.status().ok()) return locked.status();
        while (i < items.size() && items[i].size() <= kMaxRingItem &&
               locked.TryPush(kInline, {items[i]})) {
          ++i;
        }
      }
      if (i < items.size() && items[i].size() <= kMaxRingItem) {
        ring.WaitForRoom(items[i].size(), std::nullopt);
      }
    }
    return status;
  }

  absl::Status WriteLarge(const std::string& item) {
    absl::StatusOr<LargeItem> stored = StoreLargeItem(item);
    if (!stored.ok()) return stored.status();
    for (;;) {
      {
        SharedRing::Locked locked(ring);
        if (!locked.status().ok()) return locked.status();
        if (locked.Fits(sizeof(uint64_t))) {
          // Sent and recorded under one lock hold: the channel holds the
          // messages in ticket order. The ticket is taken before the send,
          // so one whose sender died after sending is never reused (a
          // failed send just skips one).
          const uint64_t ticket = shared->next_ticket++;
          absl::StatusOr<bool> sent = channel.TrySend(ticket, *stored);
          if (!sent.ok()) return sent.status();
          if (*sent) {
            locked.TryPush(kTicket, {absl::string_view(
                                        reinterpret_cast<const char*>(&ticket),
                                        sizeof ticket)});
            GetLocal()->large_sent.store(ticket + 1);
            return absl::OkStatus();
          }
        }
      }
      // The ring or the channel is full: wait for consumers to take some.
      ring.WaitForRoom(sizeof(uint64_t), absl::Now() + absl::Milliseconds(5));
    }
  }

  // An item taken off the ring: in `item`, or (large) in `large`.
  struct Taken {
    std::string item;
    std::optional<LargeItem> large;
  };

  // Takes the oldest item; nullopt when there is none, or when the lock
  // could not be had by `deadline` (its holder stopped).
  absl::StatusOr<std::optional<Taken>> TakeFront(
      std::optional<absl::Time> deadline) {
    // Consumers that outpace the producers find the ring empty most times
    // they look: they then leave the lock to the producers (with four
    // consumers queueing on it, each push paid futex calls and context
    // switches). Another consumer could empty it as soon, so a record seen
    // here is still looked for under the lock.
    if (ring.LooksEmpty()) return std::nullopt;
    SharedRing::Locked locked(ring, deadline);
    if (!locked.status().ok()) return locked.status();
    if (!locked.held()) return std::nullopt;
    for (;;) {
      absl::StatusOr<std::optional<SharedRing::Locked::Front>> front =
          locked.PeekFront();
      if (!front.ok()) return front.status();
      if (!front->has_value()) return std::nullopt;
      Taken taken;
      const uint32_t tag = (*front)->tag;
      locked.PopFront(&taken.item);
      if (tag == kInline) return taken;
      uint64_t ticket;
      if (tag != kTicket || taken.item.size() != sizeof ticket) {
        return absl::DataLossError("Queue.get: malformed record");
      }
      std::memcpy(&ticket, taken.item.data(), sizeof ticket);
      absl::StatusOr<std::optional<LargeItem>> large = channel.Take(ticket);
      if (!large.ok()) return large.status();
      if (large->has_value()) {
        taken.large = std::move(*large);
        return taken;
      }
      // Its message is gone: a consumer died between taking the message and
      // removing the record, and the item with it. Go on to the next.
    }
  }

  // Where a large item's memory can be received only while its sender lives
  // (Windows: platform::AttachmentsOutliveSender()), blocks until every
  // large item this process sent has left the channel: taken, or dropped
  // because a consumer died taking it. Python's producers likewise wait at
  // exit until their feeder has written everything into the pipe, which for
  // large items means until a consumer reads them.
  void WaitUntilLargeItemsTaken(Local* l) {
    if (platform::AttachmentsOutliveSender()) return;
    const uint64_t sent = l->large_sent.load();
    if (sent == 0) return;
    for (;;) {
      {
        SharedRing::Locked locked(ring);
        if (!channel.Holds(sent - 1)) return;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  // Close + JoinThread unless cancelled, for this process's side.
  void Flush() {
    Local* l = local.load();
    if (l == nullptr || l->pid != platform::CurrentProcessId()) return;
    if (l->feeder.Flush()) WaitUntilLargeItemsTaken(l);
  }
};

namespace {

std::mutex live_mu;
// The queues alive in this process, flushed at exit. Never destroyed.
std::vector<std::weak_ptr<void>>* live ABSL_GUARDED_BY(live_mu) = nullptr;

}  // namespace

void QueueCore::Track(const std::shared_ptr<Impl>& impl) {
  AddExitHook(FlushAll);
  std::lock_guard<std::mutex> lock(live_mu);
  if (live == nullptr) live = new std::vector<std::weak_ptr<void>>;
  live->erase(std::remove_if(live->begin(), live->end(),
                             [](const auto& w) { return w.expired(); }),
              live->end());
  live->push_back(impl);
}

void QueueCore::FlushAll() {
  std::vector<std::shared_ptr<Impl>> alive;
  {
    std::lock_guard<std::mutex> lock(live_mu);
    if (live == nullptr) return;
    for (const auto& w : *live) {
      if (auto p = w.lock()) alive.push_back(std::static_pointer_cast<Impl>(p));
    }
  }
  for (const auto& impl : alive) impl->Flush();
}

QueueCore::QueueCore(QueueKind kind, int maxsize, std::unique_ptr<Impl> impl)
    : kind_(kind), maxsize_(maxsize > 0 ? maxsize : 0), impl_(std::move(impl)) {
  Track(impl_);
}

absl::StatusOr<std::shared_ptr<QueueCore>> QueueCore::Create(QueueKind kind,
                                                             int maxsize) {
  absl::StatusOr<platform::ChannelPair> channel =
      platform::CreateMessageChannel();
  if (!channel.ok()) return channel.status();
  absl::StatusOr<platform::ScopedHandle> memory =
      platform::CreateSharedMemory(kSharedSize);
  if (!memory.ok()) return memory.status();
  {
    absl::StatusOr<platform::SharedMapping> mapping =
        platform::MapSharedMemory(memory->get(), kSharedSize);
    if (!mapping.ok()) return mapping.status();
    absl::StatusOr<SharedRing> ring =
        SharedRing::Create(static_cast<char*>(mapping->data()) + kCountersSize,
                           kSharedSize - kCountersSize);
    if (!ring.ok()) return ring.status();
  }
  return Adopt(kind, maxsize, std::move(channel->first),
               std::move(channel->second), std::move(*memory));
}

absl::StatusOr<std::shared_ptr<QueueCore>> QueueCore::Adopt(
    QueueKind kind, int maxsize, platform::ScopedHandle reader,
    platform::ScopedHandle writer, platform::ScopedHandle shared) {
  absl::StatusOr<platform::SharedMapping> mapping =
      platform::MapSharedMemory(shared.get(), kSharedSize);
  if (!mapping.ok()) return mapping.status();
  absl::StatusOr<SharedRing> ring =
      SharedRing::Attach(static_cast<char*>(mapping->data()) + kCountersSize,
                         kSharedSize - kCountersSize);
  if (!ring.ok()) return ring.status();
  auto impl = std::make_unique<Impl>(
      LargeItemChannel(std::move(reader), std::move(writer)), std::move(shared),
      std::move(*mapping), *ring);
  return std::shared_ptr<QueueCore>(
      new QueueCore(kind, maxsize, std::move(impl)));
}

QueueCore::~QueueCore() { impl_->Flush(); }

void QueueCore::AppendHandles(HandleList* out) const {
  out->push_back(impl_->channel.reader());
  out->push_back(impl_->channel.writer());
  out->push_back(impl_->shared_handle.get());
}

absl::Status QueueCore::Put(std::string item, bool block,
                            std::optional<absl::Duration> timeout) {
  Impl& impl = *impl_;
  Impl::Local* l = impl.GetLocal();
  if (absl::Status s = l->feeder.CheckOpen(); !s.ok()) return s;
  SharedCounters& c = *impl.shared;
  if (maxsize_ > 0) {
    const std::optional<absl::Time> deadline = DeadlineOf(block, timeout);
    for (;;) {
      uint32_t n = c.count.load();
      if (n < static_cast<uint32_t>(maxsize_)) {
        if (c.count.compare_exchange_weak(n, n + 1)) break;
        continue;
      }
      if (deadline && absl::Now() >= *deadline) return FullError("Queue.put");
      c.put_waiters.fetch_add(1);
      const bool in_time = platform::WaitOnWord(&c.count, n, deadline);
      c.put_waiters.fetch_sub(1);
      if (!in_time && c.count.load() >= static_cast<uint32_t>(maxsize_)) {
        return FullError("Queue.put");
      }
    }
  } else {
    c.count.fetch_add(1);
  }
  if (kind_ == QueueKind::kJoinable) c.unfinished.fetch_add(1);
  if (kind_ == QueueKind::kSimple) return impl.Write({&item, 1});
  // The thread keeps the Impl (and so the feeder) alive until it ends.
  l->feeder.Put(std::move(item),
                [impl = impl_](absl::Span<const std::string> batch) {
                  return impl->Write(batch);
                });
  return absl::OkStatus();
}

absl::StatusOr<std::string> QueueCore::Get(
    bool block, std::optional<absl::Duration> timeout) {
  Impl& impl = *impl_;
  if (absl::Status s = impl.GetLocal()->feeder.CheckOpen(); !s.ok()) return s;
  const std::optional<absl::Time> deadline = DeadlineOf(block, timeout);
  for (;;) {
    // The lock is held for microseconds (a feeder's batch included), so a
    // non-blocking or nearly expired Get() still waits that long for it;
    // only a stopped holder makes it give up.
    absl::StatusOr<std::optional<Impl::Taken>> taken = impl.TakeFront(
        deadline ? std::make_optional(std::max(
                       *deadline, absl::Now() + absl::Milliseconds(10)))
                 : std::nullopt);
    if (!taken.ok()) return taken.status();
    if (taken->has_value()) {
      SharedCounters& c = *impl.shared;
      c.count.fetch_sub(1);
      if (c.put_waiters.load() > 0) platform::WakeWord(&c.count);
      Impl::Taken& t = **taken;
      if (!t.large) return std::move(t.item);
      // Copied out of its memory after the ring's lock is released.
      return LoadLargeItem(*t.large);
    }
    // Nothing taken: the ring was empty, or its lock could not be had
    // (TakeFront waited until the deadline for it). Waiting for a record
    // does not take the lock, so it would not notice the second case.
    if (!impl.ring.WaitForRecord(deadline) ||
        (deadline && absl::Now() >= *deadline)) {
      return EmptyError("Queue.get");
    }
  }
}

void QueueCore::AcquireLockForTesting() {
  new SharedRing::Locked(impl_->ring);  // never destroyed: never released
}

std::size_t QueueCore::qsize() const { return impl_->shared->count.load(); }

bool QueueCore::empty() const {
  SharedRing::Locked locked(impl_->ring);
  return locked.empty();
}

bool QueueCore::full() const {
  return maxsize_ > 0 && qsize() >= static_cast<std::size_t>(maxsize_);
}

void QueueCore::Close() { impl_->GetLocal()->feeder.Close(); }

absl::Status QueueCore::JoinThread() {
  Impl::Local* l = impl_->GetLocal();
  if (absl::Status s = l->feeder.JoinThread(); !s.ok()) return s;
  impl_->WaitUntilLargeItemsTaken(l);
  return absl::OkStatus();
}

void QueueCore::CancelJoinThread() { impl_->GetLocal()->feeder.CancelJoin(); }

absl::Status QueueCore::TaskDone() {
  std::atomic<uint32_t>& u = impl_->shared->unfinished;
  uint32_t n = u.load();
  do {
    if (n == 0) {
      return absl::InvalidArgumentError("task_done() called too many times");
    }
  } while (!u.compare_exchange_weak(n, n - 1));
  if (n == 1) platform::WakeWord(&u);
  return absl::OkStatus();
}

absl::Status QueueCore::Join() {
  std::atomic<uint32_t>& u = impl_->shared->unfinished;
  for (uint32_t n = u.load(); n != 0; n = u.load()) {
    platform::WaitOnWord(&u, n, std::nullopt);
  }
  return absl::OkStatus();
}

}  // namespace mp::ipc_internal
