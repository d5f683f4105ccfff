#include "ipc/queue.h"

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "ipc/exit_hooks.h"
#include "ipc/shared_ring.h"
#include "platform/launch.h"
#include "platform/message_channel.h"
#include "platform/shared_memory.h"

namespace mp::ipc_internal {
namespace {

// The shared memory of a queue: these counters, then the ring of items.
struct SharedCounters {
  // Futex words (32-bit).
  std::atomic<uint32_t> count;        // put and not yet got (qsize)
  std::atomic<uint32_t> unfinished;   // put and not yet TaskDone (Joinable)
  std::atomic<uint32_t> put_waiters;  // Put() calls waiting for room
  // Guarded by the ring's lock: the ticket of the next item that travels
  // through the message channel.
  uint64_t next_ticket;
};
constexpr std::size_t kCountersSize = 64;
static_assert(sizeof(SharedCounters) <= kCountersSize);

// Room for thousands of small items; pages are touched only as it fills.
constexpr std::size_t kRingCapacity = 512 * 1024;
constexpr std::size_t kSharedSize =
    kCountersSize + SharedRing::MemorySize(kRingCapacity);

// Items up to this size are copied through the ring. Larger ones go in
// their own shared memory, whose handle travels through the message channel
// as [ticket, size]; the ring holds a record with the ticket.
constexpr std::size_t kMaxRingItem = 64 * 1024;

// Ring record tags.
constexpr uint32_t kInline = 1;  // the payload is the item
constexpr uint32_t kShared = 2;  // the payload is the 8-byte ticket

absl::Status ClosedError() {
  return absl::FailedPreconditionError("Queue is closed");
}

std::optional<absl::Time> DeadlineOf(bool block,
                                     std::optional<absl::Duration> timeout) {
  if (!block) return absl::Now();
  if (!timeout) return std::nullopt;
  return absl::Now() + std::max(*timeout, absl::ZeroDuration());
}

}  // namespace

struct QueueCore::Impl {
  // This process's side of the queue: the feeder and its buffer. A forked
  // child starts a fresh one (the parent's may hold a locked mutex and names
  // a thread the child does not have) and never touches the parent's.
  struct Local {
    explicit Local(platform::ProcessId p) : pid(p) {}
    // The feeder was joined or detached by then (Flush() runs first).
    ~Local() { delete feeder; }
    const platform::ProcessId pid;
    // std::mutex, not absl::Mutex: ThreadSanitizer sees through it even
    // with the system's uninstrumented Abseil.
    std::mutex mu;
    std::condition_variable wake_feeder;
    std::vector<std::string> buffer;
    bool closed = false;
    bool cancel_join = false;
    std::thread* feeder = nullptr;
    bool feeder_joined = false;
    // The ticket of the last large item this process sent, if any.
    std::optional<uint64_t> last_large_ticket;
  };

  platform::ScopedHandle reader;  // the message channel, for large items
  platform::ScopedHandle writer;
  platform::ScopedHandle shared_handle;
  platform::SharedMapping mapping;
  SharedCounters* shared = nullptr;
  std::optional<SharedRing> ring;
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

  ~Impl() {
    Local* l = local.load();
    if (l != nullptr && l->pid == platform::CurrentProcessId()) delete l;
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
        SharedRing::Locked locked(*ring);
        if (!locked.status().ok()) return locked.status();
        while (i < items.size() && items[i].size() <= kMaxRingItem &&
               locked.TryPush(kInline, {items[i]})) {
          ++i;
        }
      }
      if (i < items.size() && items[i].size() <= kMaxRingItem) {
        ring->WaitForRoom(items[i].size(), std::nullopt);
      }
    }
    return status;
  }

  absl::Status WriteLarge(const std::string& item) {
    absl::StatusOr<platform::ScopedHandle> memory =
        platform::CreateSharedMemory(item.size());
    if (!memory.ok()) return memory.status();
    {
      absl::StatusOr<platform::SharedMapping> m =
          platform::MapSharedMemory(memory->get(), item.size());
      if (!m.ok()) return m.status();
      std::memcpy(m->data(), item.data(), item.size());
    }
    const uint64_t size = item.size();
    for (;;) {
      {
        SharedRing::Locked locked(*ring);
        if (!locked.status().ok()) return locked.status();
        if (locked.Fits(sizeof(uint64_t))) {
          // Sent and recorded under one lock hold: the channel holds the
          // messages in ticket order. The ticket is taken before the send,
          // so one whose sender died after sending is never reused (a
          // failed send just skips one).
          const uint64_t ticket = shared->next_ticket++;
          const platform::ConstBuffer parts[] = {{&ticket, sizeof ticket},
                                                 {&size, sizeof size}};
          absl::StatusOr<bool> sent =
              platform::TrySendMessage(writer.get(), parts, memory->get());
          if (!sent.ok()) return sent.status();
          if (*sent) {
            locked.TryPush(kShared, {absl::string_view(
                                        reinterpret_cast<const char*>(&ticket),
                                        sizeof ticket)});
            Local* l = GetLocal();
            std::lock_guard<std::mutex> lock(l->mu);
            l->last_large_ticket = ticket;
            return absl::OkStatus();
          }
        }
      }
      // The ring or the channel is full: wait for consumers to take some.
      ring->WaitForRoom(sizeof(uint64_t), absl::Now() + absl::Milliseconds(5));
    }
  }

  // An item taken off the ring: in `item`, or (large) in `memory`.
  struct Taken {
    std::string item;
    platform::ScopedHandle memory;
    uint64_t size = 0;
  };

  // Takes the oldest item; nullopt when there is none, or when the lock
  // could not be had by `deadline` (its holder stopped).
  absl::StatusOr<std::optional<Taken>> TakeFront(
      std::optional<absl::Time> deadline) {
    SharedRing::Locked locked(*ring, deadline);
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
      if (tag != kShared || taken.item.size() != sizeof ticket) {
        return absl::DataLossError("Queue.get: malformed record");
      }
      std::memcpy(&ticket, taken.item.data(), sizeof ticket);
      absl::StatusOr<bool> found = TakeMessage(ticket, &taken);
      if (!found.ok()) return found.status();
      if (*found) return taken;
      // Its message is gone: a consumer died between taking the message and
      // removing the record, and the item with it. Go on to the next.
    }
  }

  // Under the ring's lock: takes the message with `ticket` off the channel,
  // dropping older ones (left by producers that died between sending and
  // recording them). False when the message is not there.
  absl::StatusOr<bool> TakeMessage(uint64_t ticket, Taken* taken) {
    for (;;) {
      uint64_t header[2];
      const absl::Span<char> buffer(reinterpret_cast<char*>(header),
                                    sizeof header);
      absl::StatusOr<std::optional<std::size_t>> peeked =
          platform::PeekMessage(reader.get(), buffer);
      if (!peeked.ok()) return peeked.status();
      if (!peeked->has_value()) return false;
      if (**peeked == sizeof header && header[0] > ticket) return false;
      absl::StatusOr<std::optional<platform::ReceivedMessage>> got =
          platform::ReceiveMessage(reader.get(), buffer, absl::Now());
      if (!got.ok() && got.status().code() != absl::StatusCode::kDataLoss) {
        return got.status();
      }
      if (got.ok() && !got->has_value()) return false;
      if (got.ok() && (*got)->size == sizeof header && header[0] == ticket) {
        if ((*got)->attachment_lost) {
          // Windows: its producer was killed (or cancelled its join) before
          // anyone took it. The item is gone; the next get goes on.
          return absl::DataLossError(
              "Queue.get: a large item was lost: its producer exited before "
              "it was taken");
        }
        if (!(*got)->attached.is_valid()) {
          return absl::DataLossError("Queue.get: item without its memory");
        }
        taken->memory = std::move((*got)->attached);
        taken->size = header[1];
        return true;
      }
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
    std::optional<uint64_t> last;
    {
      std::lock_guard<std::mutex> lock(l->mu);
      last = l->last_large_ticket;
    }
    if (!last) return;
    for (;;) {
      {
        SharedRing::Locked locked(*ring);
        uint64_t header[2];
        absl::StatusOr<std::optional<std::size_t>> peeked =
            platform::PeekMessage(
                reader.get(), absl::Span<char>(reinterpret_cast<char*>(header),
                                               sizeof header));
        // Messages leave in ticket order.
        if (!peeked.ok() || !peeked->has_value() || **peeked != sizeof header ||
            header[0] > *last) {
          return;
        }
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  // Writes the buffer until Close() and an empty buffer.
  static void Feed(std::shared_ptr<Impl> self, Local* l) {
    // Two buffers swap roles, keeping their capacity: Put() appends to one
    // while this writes the other, and neither is reallocated from empty
    // each time (which page-faulted in fresh memory at every batch).
    std::vector<std::string> batch;
    for (;;) {
      batch.clear();
      // But a burst's worth of capacity is not kept for good.
      if (batch.capacity() > 65536) std::vector<std::string>().swap(batch);
      {
        std::unique_lock<std::mutex> lock(l->mu);
        l->wake_feeder.wait(lock,
                            [l] { return !l->buffer.empty() || l->closed; });
        if (l->buffer.empty()) return;  // closed and flushed
        batch.swap(l->buffer);
      }
      if (absl::Status s = self->Write(batch); !s.ok()) {
        // Python's feeder prints the traceback and goes on.
        std::fprintf(stderr, "mp::Queue feeder: %s\n", s.ToString().c_str());
      }
    }
  }
};

namespace {

std::mutex live_mu;
// The queues alive in this process, flushed at exit. Never destroyed.
std::vector<std::weak_ptr<QueueCore::Impl>>* live ABSL_GUARDED_BY(live_mu) =
    nullptr;

// Close + JoinThread unless cancelled, for this process's side.
void Flush(QueueCore::Impl* impl) {
  QueueCore::Impl::Local* l = impl->local.load();
  if (l == nullptr || l->pid != platform::CurrentProcessId()) return;
  std::thread* feeder = nullptr;
  {
    std::lock_guard<std::mutex> lock(l->mu);
    l->closed = true;
    l->wake_feeder.notify_one();
    const bool running = l->feeder != nullptr && !l->feeder_joined;
    l->feeder_joined = true;
    if (l->cancel_join) {
      if (running) l->feeder->detach();
      return;
    }
    if (running) feeder = l->feeder;
  }
  if (feeder != nullptr) feeder->join();
  impl->WaitUntilLargeItemsTaken(l);
}

void FlushAll() {
  std::vector<std::shared_ptr<QueueCore::Impl>> alive;
  {
    std::lock_guard<std::mutex> lock(live_mu);
    if (live == nullptr) return;
    for (const auto& w : *live) {
      if (auto p = w.lock()) alive.push_back(std::move(p));
    }
  }
  for (const auto& impl : alive) Flush(impl.get());
}

void Track(const std::shared_ptr<QueueCore::Impl>& impl) {
  AddExitHook(FlushAll);
  std::lock_guard<std::mutex> lock(live_mu);
  if (live == nullptr) live = new std::vector<std::weak_ptr<QueueCore::Impl>>;
  live->erase(std::remove_if(live->begin(), live->end(),
                             [](const auto& w) { return w.expired(); }),
              live->end());
  live->push_back(impl);
}

}  // namespace

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
  auto impl = std::make_unique<Impl>();
  absl::StatusOr<platform::SharedMapping> mapping =
      platform::MapSharedMemory(shared.get(), kSharedSize);
  if (!mapping.ok()) return mapping.status();
  absl::StatusOr<SharedRing> ring =
      SharedRing::Attach(static_cast<char*>(mapping->data()) + kCountersSize,
                         kSharedSize - kCountersSize);
  if (!ring.ok()) return ring.status();
  impl->ring = *ring;
  impl->reader = std::move(reader);
  impl->writer = std::move(writer);
  impl->shared_handle = std::move(shared);
  impl->mapping = std::move(*mapping);
  impl->shared = static_cast<SharedCounters*>(impl->mapping.data());
  return std::shared_ptr<QueueCore>(
      new QueueCore(kind, maxsize, std::move(impl)));
}

QueueCore::~QueueCore() { Flush(impl_.get()); }

void QueueCore::AppendHandles(HandleList* out) const {
  out->push_back(impl_->reader.get());
  out->push_back(impl_->writer.get());
  out->push_back(impl_->shared_handle.get());
}

absl::Status QueueCore::Put(std::string item, bool block,
                            std::optional<absl::Duration> timeout) {
  Impl& impl = *impl_;
  Impl::Local* l = impl.GetLocal();
  {
    std::lock_guard<std::mutex> lock(l->mu);
    if (l->closed) return ClosedError();
  }
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
  std::lock_guard<std::mutex> lock(l->mu);
  l->buffer.push_back(std::move(item));
  l->wake_feeder.notify_one();
  if (l->feeder == nullptr) {
    l->feeder = new std::thread(&Impl::Feed, impl_, l);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> QueueCore::Get(
    bool block, std::optional<absl::Duration> timeout) {
  Impl& impl = *impl_;
  Impl::Local* l = impl.GetLocal();
  {
    std::lock_guard<std::mutex> lock(l->mu);
    if (l->closed) return ClosedError();
  }
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
      if (!t.memory.is_valid()) return std::move(t.item);
      // Copied out of its memory after the ring's lock is released.
      absl::StatusOr<platform::SharedMapping> mapping =
          platform::MapSharedMemory(t.memory.get(), t.size);
      if (!mapping.ok()) return mapping.status();
      return std::string(static_cast<const char*>(mapping->data()), t.size);
    }
    if (!impl.ring->WaitForRecord(deadline)) return EmptyError("Queue.get");
  }
}

void QueueCore::AcquireLockForTesting() {
  new SharedRing::Locked(*impl_->ring);  // never destroyed: never released
}

std::size_t QueueCore::qsize() const { return impl_->shared->count.load(); }

bool QueueCore::empty() const {
  SharedRing::Locked locked(*impl_->ring);
  return locked.empty();
}

bool QueueCore::full() const {
  return maxsize_ > 0 && qsize() >= static_cast<std::size_t>(maxsize_);
}

void QueueCore::Close() {
  Impl::Local* l = impl_->GetLocal();
  std::lock_guard<std::mutex> lock(l->mu);
  l->closed = true;
  l->wake_feeder.notify_one();
}

absl::Status QueueCore::JoinThread() {
  Impl::Local* l = impl_->GetLocal();
  {
    std::lock_guard<std::mutex> lock(l->mu);
    if (!l->closed) {
      return absl::FailedPreconditionError(
          "Queue.join_thread: call Close() first");
    }
    l->cancel_join = false;  // an explicit join waits
  }
  Flush(impl_.get());
  return absl::OkStatus();
}

void QueueCore::CancelJoinThread() {
  Impl::Local* l = impl_->GetLocal();
  std::lock_guard<std::mutex> lock(l->mu);
  l->cancel_join = true;
}

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
