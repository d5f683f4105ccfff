// QueueCore on its own: encoded items (byte strings) through the ring and
// the large-item channel, with and without the feeder. The typed queues'
// semantics are in ipc/queue_test.cc, those between processes in
// tests/queue_test.cc.
#include "multiprocessing/ipc/internal/queue_core.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/errors.h"
#include "multiprocessing/ipc/internal/large_item_channel.h"

namespace mp::ipc_internal {
namespace {

// Small and large items, interleaved, so both ways travel in one order.
std::vector<std::string> Items() {
  std::vector<std::string> items;
  for (int i = 0; i < 20; ++i) {
    const std::size_t size = i % 3 == 0 ? kMaxRingItem + 1 + i : 10 + i;
    items.push_back(std::string(size, static_cast<char>('a' + i)));
  }
  return items;
}

void PutAndGetInOrder(QueueKind kind) {
  std::shared_ptr<QueueCore> q = QueueCore::Create(kind, 0).value();
  const std::vector<std::string> items = Items();
  for (const std::string& item : items) {
    ASSERT_TRUE(q->Put(item, true, std::nullopt).ok());
  }
  EXPECT_EQ(q->qsize(), items.size());
  for (const std::string& item : items) {
    absl::StatusOr<std::string> got = q->Get(true, absl::Seconds(10));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, item);
  }
  EXPECT_TRUE(IsEmpty(q->Get(false, std::nullopt).status()));
  EXPECT_TRUE(q->empty());
  EXPECT_EQ(q->qsize(), 0u);
}

TEST(QueueCoreTest, ItemsThroughTheFeederKeepTheirOrder) {
  PutAndGetInOrder(QueueKind::kQueue);
}

TEST(QueueCoreTest, ItemsWrittenAtOnceKeepTheirOrder) {
  PutAndGetInOrder(QueueKind::kSimple);
}

TEST(QueueCoreTest, BoundedQueueIsFull) {
  std::shared_ptr<QueueCore> q =
      QueueCore::Create(QueueKind::kQueue, 1).value();
  EXPECT_EQ(q->maxsize(), 1);
  ASSERT_TRUE(q->Put("a", true, std::nullopt).ok());
  EXPECT_TRUE(q->full());
  EXPECT_TRUE(IsFull(q->Put("b", false, std::nullopt)));
  EXPECT_EQ(q->Get(true, absl::Seconds(10)).value_or("?"), "a");
  EXPECT_FALSE(q->full());
}

TEST(QueueCoreTest, TaskDoneCountsItemsPut) {
  std::shared_ptr<QueueCore> q =
      QueueCore::Create(QueueKind::kJoinable, 0).value();
  EXPECT_EQ(q->kind(), QueueKind::kJoinable);
  EXPECT_EQ(q->TaskDone().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(q->Put("a", true, std::nullopt).ok());
  ASSERT_TRUE(q->Put("b", true, std::nullopt).ok());
  ASSERT_TRUE(q->TaskDone().ok());
  ASSERT_TRUE(q->TaskDone().ok());
  EXPECT_TRUE(q->Join().ok());  // every item had its TaskDone
  EXPECT_EQ(q->TaskDone().code(), absl::StatusCode::kInvalidArgument);
}

TEST(QueueCoreTest, AdoptedHandlesAreTheSameQueue) {
  std::shared_ptr<QueueCore> q =
      QueueCore::Create(QueueKind::kSimple, 0).value();
  HandleList handles;
  q->AppendHandles(&handles);
  ASSERT_EQ(handles.size(), 3u);
  std::shared_ptr<QueueCore> same =
      QueueCore::Adopt(QueueKind::kSimple, 0,
                       platform::Duplicate(handles[0]).value(),
                       platform::Duplicate(handles[1]).value(),
                       platform::Duplicate(handles[2]).value())
          .value();
  const std::string large(kMaxRingItem * 2, 'L');
  ASSERT_TRUE(q->Put("small", true, std::nullopt).ok());
  ASSERT_TRUE(q->Put(large, true, std::nullopt).ok());
  EXPECT_EQ(same->Get(true, absl::Seconds(10)).value_or("?"), "small");
  EXPECT_EQ(same->Get(true, absl::Seconds(10)).value_or("?"), large);
  EXPECT_EQ(q->qsize(), 0u);
}

}  // namespace
}  // namespace mp::ipc_internal
