#include "ipc/queue.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdio>
#include <cstring>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/const_init.h"
#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "ipc/exit_hooks.h"
#include "platform/launch.h"
#include "platform/message_channel.h"
#include "platform/shared_memory.h"

namespace mp::ipc_internal {
namespace {

// The counters every process using the queue shares (32-bit: futex words).
struct SharedCounters {
  std::atomic<uint32_t> count;       // put and not yet got (qsize)
  std::atomic<uint32_t> unfinished;  // put and not yet TaskDone (Joinable)
  std::atomic<uint32_t> put_waiters; // Put() calls waiting for room
};

// First byte of every message.
constexpr char kInline = 0;  // the item follows
constexpr char kShared = 1;  // 8-byte size; the item is in the attached memory

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
    std::deque<std::string> buffer ;
    bool closed  = false;
    bool cancel_join  = false;
    std::thread* feeder  = nullptr;
    bool feeder_joined  = false;
  };

  platform::ScopedHandle reader;
  platform::ScopedHandle writer;
  platform::ScopedHandle shared_handle;
  platform::SharedMapping mapping;
  SharedCounters* shared = nullptr;
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

  absl::Status Send(const std::string& item) {
    if (item.size() + 1 <= platform::kMaxInlineMessage) {
      return platform::SendMessage(writer.get(),
                                   {{&kInline, 1}, {item.data(), item.size()}});
    }
    absl::StatusOr<platform::ScopedHandle> memory =
        platform::CreateSharedMemory(item.size());
    if (!memory.ok()) return memory.status();
    {
      absl::StatusOr<platform::SharedMapping> m =
          platform::MapSharedMemory(memory->get(), item.size());
      if (!m.ok()) return m.status();
      std::memcpy(m->data(), item.data(), item.size());
    }
    char header[9] = {kShared};
    const uint64_t size = item.size();
    std::memcpy(header + 1, &size, sizeof size);
    return platform::SendMessage(writer.get(), {{header, sizeof header}},
                                 memory->get());
  }

  // Writes the buffer until Close() and an empty buffer.
  static void Feed(std::shared_ptr<Impl> self, Local* l) {
    for (;;) {
      std::deque<std::string> batch;
      {
        std::unique_lock<std::mutex> lock(l->mu);
        l->wake_feeder.wait(lock,
                            [l] { return !l->buffer.empty() || l->closed; });
        if (l->buffer.empty()) return;  // closed and flushed
        batch.swap(l->buffer);
      }
      for (const std::string& item : batch) {
        if (absl::Status s = self->Send(item); !s.ok()) {
          // Python's feeder prints the traceback and goes on.
          std::fprintf(stderr, "mp::Queue feeder: %s\n", s.ToString().c_str());
        }
      }
    }
  }
};

namespace {

absl::Mutex live_mu(absl::kConstInit);
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
    if (l->feeder == nullptr || l->feeder_joined) return;
    if (l->cancel_join) {
      l->feeder->detach();
      l->feeder_joined = true;
      return;
    }
    feeder = l->feeder;
    l->feeder_joined = true;
  }
  feeder->join();
}

void FlushAll() {
  std::vector<std::shared_ptr<QueueCore::Impl>> alive;
  {
    absl::MutexLock lock(&live_mu);
    if (live == nullptr) return;
    for (const auto& w : *live) {
      if (auto p = w.lock()) alive.push_back(std::move(p));
    }
  }
  for (const auto& impl : alive) Flush(impl.get());
}

void Track(const std::shared_ptr<QueueCore::Impl>& impl) {
  AddExitHook(FlushAll);
  absl::MutexLock lock(&live_mu);
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
      platform::CreateSharedMemory(sizeof(SharedCounters));
  if (!memory.ok()) return memory.status();
  return Adopt(kind, maxsize, std::move(channel->first),
               std::move(channel->second), std::move(*memory));
}

absl::StatusOr<std::shared_ptr<QueueCore>> QueueCore::Adopt(
    QueueKind kind, int maxsize, platform::ScopedHandle reader,
    platform::ScopedHandle writer, platform::ScopedHandle shared) {
  auto impl = std::make_unique<Impl>();
  absl::StatusOr<platform::SharedMapping> mapping =
      platform::MapSharedMemory(shared.get(), sizeof(SharedCounters));
  if (!mapping.ok()) return mapping.status();
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
  if (kind_ == QueueKind::kSimple) return impl.Send(item);
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
  thread_local std::unique_ptr<char[]> buffer(
      new char[platform::kMaxInlineMessage]);
  absl::StatusOr<std::optional<platform::ReceivedMessage>> got =
      platform::ReceiveMessage(
          impl.reader.get(),
          absl::MakeSpan(buffer.get(), platform::kMaxInlineMessage),
          DeadlineOf(block, timeout));
  if (!got.ok()) return got.status();
  if (!got->has_value()) return EmptyError("Queue.get");
  SharedCounters& c = *impl.shared;
  c.count.fetch_sub(1);
  if (c.put_waiters.load() > 0) platform::WakeWord(&c.count);
  const platform::ReceivedMessage& m = **got;
  if (m.size >= 1 && buffer[0] == kInline) {
    return std::string(buffer.get() + 1, m.size - 1);
  }
  uint64_t size = 0;
  if (m.size != 9 || buffer[0] != kShared || !m.attached.is_valid()) {
    return absl::DataLossError("Queue.get: malformed message");
  }
  std::memcpy(&size, buffer.get() + 1, sizeof size);
  absl::StatusOr<platform::SharedMapping> mapping =
      platform::MapSharedMemory(m.attached.get(), size);
  if (!mapping.ok()) return mapping.status();
  return std::string(static_cast<const char*>(mapping->data()), size);
}

std::size_t QueueCore::qsize() const {
  return impl_->shared->count.load();
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
