#include "ipc/inherited_handles.h"

#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "platform/channel.h"
#include "platform/handle.h"

namespace mp {
namespace {

TEST(InheritedHandlesTest, FindsHandlesInsideArguments) {
  auto a = platform::CreateDuplexChannel().value();
  HandleList found;
  AppendInheritedHandles(std::make_tuple(1, std::string("x")), &found);
  EXPECT_TRUE(found.empty());
  // The default trait finds nothing in a raw handle number: only owners say
  // which handles they carry.
  AppendInheritedHandles(a.first.get(), &found);
  EXPECT_TRUE(found.empty());
}

TEST(InheritedHandlesTest, OnlyListedHandlesCanBeClaimedAndOnlyOnce) {
  auto a = platform::CreateDuplexChannel().value();
  auto b = platform::CreateDuplexChannel().value();
  const platform::NativeHandle listed = a.first.release();
  const platform::NativeHandle unclaimed = b.first.release();
  ipc_internal::SetClaimableHandles({listed, unclaimed});

  absl::StatusOr<platform::ScopedHandle> stranger =
      ClaimInheritedHandle(a.second.get());
  EXPECT_EQ(stranger.status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<platform::ScopedHandle> claimed = ClaimInheritedHandle(listed);
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_EQ(claimed->get(), listed);
  EXPECT_EQ(ClaimInheritedHandle(listed).status().code(),
            absl::StatusCode::kInvalidArgument);

  // Unclaimed handles are closed: the peer of `unclaimed` sees end of stream.
  ipc_internal::CloseUnclaimedHandles();
  char byte = 0;
  absl::StatusOr<std::size_t> n = platform::ReadSome(b.second.get(), &byte, 1);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0u);
  EXPECT_EQ(ClaimInheritedHandle(unclaimed).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mp
