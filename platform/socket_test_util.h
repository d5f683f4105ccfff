// Helpers of the socket tests.
#ifndef MULTIPROCESSING_PLATFORM_SOCKET_TEST_UTIL_H_
#define MULTIPROCESSING_PLATFORM_SOCKET_TEST_UTIL_H_

#include <string>

#include "gtest/gtest.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/socket.h"

namespace mp::test_util {

// Listens on `address`, connects, and passes bytes both ways.
inline void RoundTrip(const std::string& address) {
  namespace p = ::mp::platform;
  SCOPED_TRACE(address);
  absl::StatusOr<p::BoundSocket> listener = p::Listen(address, 4);
  ASSERT_TRUE(listener.ok()) << listener.status();
  absl::StatusOr<p::ScopedHandle> client = p::Connect(listener->address);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<p::BoundSocket> server = p::Accept(*listener);
  ASSERT_TRUE(server.ok()) << server.status();
  const p::ConstBuffer hello[] = {{"hello", 5}};
  ASSERT_TRUE(p::WriteAll(client->get(), hello).ok());
  char buf[5];
  ASSERT_EQ(p::ReadFull(server->handle.get(), buf, 5).value(), 5u);
  EXPECT_EQ(std::string(buf, 5), "hello");
  ASSERT_TRUE(p::WriteAll(server->handle.get(), hello).ok());
  ASSERT_EQ(p::ReadFull(client->get(), buf, 5).value(), 5u);
  ASSERT_TRUE(p::RemoveSocketFile(listener->address).ok());
}

}  // namespace mp::test_util

#endif  // MULTIPROCESSING_PLATFORM_SOCKET_TEST_UTIL_H_
