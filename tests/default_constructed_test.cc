// Every public type that can be default-constructed is safe to use in that
// state (issue 24): each method returning a Status fails with
// kFailedPrecondition and a message naming the type and its factory; the
// others return a documented neutral value or do nothing. No crash.
//
// Not here because they cannot be default-constructed: mp::Pool,
// AsyncResult, MapResult, ImapIterator, mp::Process.

#include <cstddef>
#include <string>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/listener.h"
#include "multiprocessing/ipc/queue.h"
#include "multiprocessing/pool/pool.h"
#include "multiprocessing/process/process.h"
#include "multiprocessing/shared_memory/shared_memory.h"
#include "multiprocessing/shared_memory/sharedctypes.h"
#include "multiprocessing/sync/synchronize.h"

namespace mp {
namespace {

// kFailedPrecondition whose message names `type` and `factory`.
template <typename S>
void ExpectNotMade(const S& s, const std::string& type,
                   const std::string& factory) {
  absl::Status status;
  if constexpr (std::is_same_v<S, absl::Status>) {
    status = s;
  } else {
    status = s.status();
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), type)) << status;
  EXPECT_TRUE(absl::StrContains(status.message(), factory)) << status;
}

constexpr absl::Duration kShort = absl::Milliseconds(1);

TEST(DefaultConstructedTest, TheOthersCannotBeDefaultConstructed) {
  static_assert(!std::is_default_constructible_v<Pool>);
  static_assert(!std::is_default_constructible_v<AsyncResult<int>>);
  static_assert(!std::is_default_constructible_v<MapResult<int>>);
  static_assert(!std::is_default_constructible_v<ImapIterator<int>>);
  // mp::Process() is Python's Process() with no target: a process that
  // runs nothing and exits 0 (process_life_test), not an empty shell.
}

TEST(DefaultConstructedTest, Queue) {
  Queue<int> q;
  ExpectNotMade(q.Put(1), "mp::Queue", "Create()");
  ExpectNotMade(q.Put(1, false), "mp::Queue", "Create()");
  ExpectNotMade(q.Put(1, true, kShort), "mp::Queue", "Create()");
  ExpectNotMade(q.PutNowait(1), "mp::Queue", "Create()");
  ExpectNotMade(q.Get(), "mp::Queue", "Create()");
  ExpectNotMade(q.Get(true, kShort), "mp::Queue", "Create()");
  ExpectNotMade(q.GetNowait(), "mp::Queue", "Create()");
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  q.Close();
  ExpectNotMade(q.JoinThread(), "mp::Queue", "Create()");
  q.CancelJoinThread();
  Queue<int> copy = q;  // copies and assignment are fine too
  ExpectNotMade(copy.Put(1), "mp::Queue", "Create()");
}

TEST(DefaultConstructedTest, JoinableQueue) {
  JoinableQueue<int> q;
  ExpectNotMade(q.Put(1), "mp::JoinableQueue", "Create()");
  ExpectNotMade(q.PutNowait(1), "mp::JoinableQueue", "Create()");
  ExpectNotMade(q.Get(false), "mp::JoinableQueue", "Create()");
  ExpectNotMade(q.GetNowait(), "mp::JoinableQueue", "Create()");
  ExpectNotMade(q.TaskDone(), "mp::JoinableQueue", "Create()");
  ExpectNotMade(q.Join(), "mp::JoinableQueue", "Create()");
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_TRUE(q.empty());
  EXPECT_FALSE(q.full());
  q.Close();
  ExpectNotMade(q.JoinThread(), "mp::JoinableQueue", "Create()");
  q.CancelJoinThread();
}

TEST(DefaultConstructedTest, SimpleQueue) {
  SimpleQueue<int> q;
  ExpectNotMade(q.Put(1), "mp::SimpleQueue", "Create()");
  ExpectNotMade(q.Get(), "mp::SimpleQueue", "Create()");
  EXPECT_EQ(q.qsize(), 0u);
  EXPECT_TRUE(q.empty());
  q.Close();
}

TEST(DefaultConstructedTest, Connection) {
  Connection c;
  EXPECT_TRUE(c.closed());
  EXPECT_EQ(c.SendBytes("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.RecvBytes().status().code(),
            absl::StatusCode::kFailedPrecondition);
  char buffer[4];
  EXPECT_EQ(c.RecvBytesInto(absl::MakeSpan(buffer)).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.Send(1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.Recv<int>().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.Poll().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.Poll(kShort).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(c.Close().ok());
  EXPECT_FALSE(c.readable());
  EXPECT_FALSE(c.writable());
  c.set_max_message_size(10);
  EXPECT_EQ(c.max_message_size(), 10u);
}

TEST(DefaultConstructedTest, Listener) {
  Listener l;
  EXPECT_TRUE(l.closed());
  ExpectNotMade(l.Accept(), "mp::Listener", "Create()");
  EXPECT_EQ(l.address(), "");
  EXPECT_FALSE(l.last_accepted().has_value());
  EXPECT_TRUE(l.pending_handles().empty());
  EXPECT_EQ(l.pending_handshakes(), 0u);
  l.set_handshake_timeout(absl::Seconds(1));
  EXPECT_EQ(l.handshake_timeout(), absl::Seconds(1));
  l.set_max_pending_handshakes(0);
  EXPECT_EQ(l.max_pending_handshakes(), 1u);
  EXPECT_TRUE(l.Close().ok());
  EXPECT_TRUE(l.Close().ok());
}

TEST(DefaultConstructedTest, Lock) {
  Lock l;
  EXPECT_FALSE(l.valid());
  ExpectNotMade(l.Acquire(), "mp::Lock", "mp::Lock::Create()");
  ExpectNotMade(l.Acquire(false), "mp::Lock", "mp::Lock::Create()");
  ExpectNotMade(l.Acquire(true, kShort), "mp::Lock", "mp::Lock::Create()");
  ExpectNotMade(l.Release(), "mp::Lock", "mp::Lock::Create()");
  ExpectNotMade(l.ReleaseAll(), "mp::Lock", "mp::Lock::Create()");
  ExpectNotMade(l.AcquireRestore(1), "mp::Lock", "mp::Lock::Create()");
  EXPECT_FALSE(l.IsMine());
  EXPECT_FALSE(l.IsLocked());
  EXPECT_FALSE(l.try_lock());
  l.lock();  // nothing to take
  l.unlock();
}

TEST(DefaultConstructedTest, RLock) {
  RLock l;
  EXPECT_FALSE(l.valid());
  ExpectNotMade(l.Acquire(), "mp::RLock", "mp::RLock::Create()");
  ExpectNotMade(l.Acquire(false), "mp::RLock", "mp::RLock::Create()");
  ExpectNotMade(l.Release(), "mp::RLock", "mp::RLock::Create()");
  ExpectNotMade(l.ReleaseAll(), "mp::RLock", "mp::RLock::Create()");
  ExpectNotMade(l.AcquireRestore(1), "mp::RLock", "mp::RLock::Create()");
  EXPECT_FALSE(l.IsMine());
  EXPECT_FALSE(l.IsLocked());
  EXPECT_EQ(l.count(), 0u);
  EXPECT_FALSE(l.try_lock());
  l.lock();
  l.unlock();
}

TEST(DefaultConstructedTest, Semaphore) {
  Semaphore s;
  EXPECT_FALSE(s.valid());
  ExpectNotMade(s.Acquire(), "mp::Semaphore", "mp::Semaphore::Create()");
  ExpectNotMade(s.Acquire(false), "mp::Semaphore", "mp::Semaphore::Create()");
  ExpectNotMade(s.Release(), "mp::Semaphore", "mp::Semaphore::Create()");
  EXPECT_EQ(s.GetValue(), 0);
  EXPECT_FALSE(s.try_lock());
  s.lock();
  s.unlock();
}

TEST(DefaultConstructedTest, BoundedSemaphore) {
  BoundedSemaphore s;
  EXPECT_FALSE(s.valid());
  ExpectNotMade(s.Acquire(), "mp::BoundedSemaphore",
                "mp::BoundedSemaphore::Create()");
  ExpectNotMade(s.Acquire(true, kShort), "mp::BoundedSemaphore",
                "mp::BoundedSemaphore::Create()");
  ExpectNotMade(s.Release(), "mp::BoundedSemaphore",
                "mp::BoundedSemaphore::Create()");
  EXPECT_EQ(s.GetValue(), 0);
  EXPECT_FALSE(s.try_lock());
  s.lock();
  s.unlock();
}

TEST(DefaultConstructedTest, Condition) {
  Condition c;
  EXPECT_FALSE(c.valid());
  ExpectNotMade(c.Acquire(), "mp::Condition", "mp::Condition::Create()");
  ExpectNotMade(c.Release(), "mp::Condition", "mp::Condition::Create()");
  ExpectNotMade(c.Wait(), "mp::Condition", "mp::Condition::Create()");
  ExpectNotMade(c.Wait(kShort), "mp::Condition", "mp::Condition::Create()");
  int calls = 0;
  ExpectNotMade(c.WaitFor([&] { return ++calls > 1; }), "mp::Condition",
                "mp::Condition::Create()");
  ExpectNotMade(c.Notify(), "mp::Condition", "mp::Condition::Create()");
  ExpectNotMade(c.NotifyAll(), "mp::Condition", "mp::Condition::Create()");
  EXPECT_FALSE(c.try_lock());
  c.lock();
  c.unlock();
}

TEST(DefaultConstructedTest, Event) {
  Event e;
  EXPECT_FALSE(e.valid());
  EXPECT_FALSE(e.IsSet());
  e.Set();
  EXPECT_FALSE(e.IsSet());  // nothing to set
  e.Clear();
  EXPECT_FALSE(e.Wait(kShort));
  EXPECT_FALSE(e.Wait());  // returns at once: nothing will set it
}

TEST(DefaultConstructedTest, Barrier) {
  Barrier b;
  EXPECT_FALSE(b.valid());
  ExpectNotMade(b.Wait(), "mp::Barrier", "mp::Barrier::Create(");
  ExpectNotMade(b.Wait(kShort), "mp::Barrier", "mp::Barrier::Create(");
  b.Reset();
  b.Abort();
  EXPECT_EQ(b.parties(), 0);
  EXPECT_EQ(b.n_waiting(), 0);
  EXPECT_TRUE(b.broken());
  b.set_action([] {});
}

TEST(DefaultConstructedTest, SharedMemory) {
  SharedMemory m;
  EXPECT_TRUE(m.closed());
  EXPECT_EQ(m.name(), "");
  EXPECT_EQ(m.size(), 0u);
  EXPECT_TRUE(m.buf().empty());
  ExpectNotMade(m.Unlink(), "mp::SharedMemory", "mp::SharedMemory::Create(");
  m.Close();
  m.Close();
}

TEST(DefaultConstructedTest, RawValue) {
  RawValue<int> v;
  EXPECT_FALSE(v.valid());
  EXPECT_EQ(v.value(), 0);
  v.set_value(7);
  EXPECT_EQ(v.value(), 0);
  EXPECT_EQ(v.get(), nullptr);
}

TEST(DefaultConstructedTest, RawArray) {
  RawArray<int> a;
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_TRUE(a.span().empty());
}

TEST(DefaultConstructedTest, Value) {
  Value<double> v;
  EXPECT_FALSE(v.valid());
  EXPECT_EQ(v.value(), 0.0);
  v.set_value(2.5);
  EXPECT_EQ(v.value(), 0.0);
  EXPECT_EQ(v.get_lock(), nullptr);
  EXPECT_EQ(v.get_obj(), nullptr);
  v.lock();
  v.unlock();
}

TEST(DefaultConstructedTest, Array) {
  Array<int> a;
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(a.size(), 0u);
  ExpectNotMade(a.Get(0), "mp::Array", "mp::Array<T>::Create(");
  ExpectNotMade(a.Set(0, 1), "mp::Array", "mp::Array<T>::Create(");
  EXPECT_EQ(a.get_lock(), nullptr);
  EXPECT_TRUE(a.get_obj().empty());
  a.lock();
  a.unlock();
}

// A Value or Array made without a lock has none to take: lock() and
// unlock() do nothing (they dereferenced a null lock before).
TEST(DefaultConstructedTest, LockMethodsOfALockFreeValueAndArray) {
  absl::StatusOr<Value<int>> v = Value<int>::Create(3, /*lock=*/false);
  ASSERT_TRUE(v.ok()) << v.status();
  v->lock();
  v->unlock();
  EXPECT_EQ(v->value(), 3);
  absl::StatusOr<Array<int>> a = Array<int>::Create(2, /*lock=*/false);
  ASSERT_TRUE(a.ok()) << a.status();
  a->lock();
  a->unlock();
  EXPECT_EQ(a->Get(1).value_or(-1), 0);
}

}  // namespace
}  // namespace mp
