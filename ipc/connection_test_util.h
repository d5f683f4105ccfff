// Helpers shared by the Connection tests.
#ifndef MULTIPROCESSING_IPC_CONNECTION_TEST_UTIL_H_
#define MULTIPROCESSING_IPC_CONNECTION_TEST_UTIL_H_

#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/channel.h"

namespace mp {

inline std::pair<Connection, Connection> MakePipe(
    bool duplex = true, Transport transport = Transport::kKernel) {
  auto p = Pipe(duplex, transport);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

// What the tests reach inside a Connection for.
struct ConnectionTestPeer {
  // Writes raw bytes to the other end through `c`'s transport, bypassing
  // the framing.
  static absl::Status WriteRaw(Connection& c, absl::string_view bytes) {
    return c.WriteAll({{bytes.data(), bytes.size()}});
  }
  // The shared memory under a Transport::kSharedMemory connection.
  static platform::NativeHandle SharedMemory(const Connection& c) {
    return c.shm_->memory_handle();
  }
};

inline void WriteRaw(Connection& c, absl::string_view bytes) {
  ASSERT_TRUE(ConnectionTestPeer::WriteRaw(c, bytes).ok());
}

// For the tests that run over every transport: TEST_P(..., Name) with
// INSTANTIATE_TEST_SUITE_P(Transports, ..., EveryTransport(),
// TransportName).
inline ::testing::internal::ParamGenerator<Transport> EveryTransport() {
  return ::testing::Values(Transport::kKernel, Transport::kSharedMemory);
}
inline std::string TransportName(
    const ::testing::TestParamInfo<Transport>& info) {
  return info.param == Transport::kKernel ? "Kernel" : "SharedMemory";
}

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_CONNECTION_TEST_UTIL_H_
