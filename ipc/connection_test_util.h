// Helpers shared by the Connection tests.
#ifndef MULTIPROCESSING_IPC_CONNECTION_TEST_UTIL_H_
#define MULTIPROCESSING_IPC_CONNECTION_TEST_UTIL_H_

#include <utility>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/platform/channel.h"

namespace mp {

inline std::pair<Connection, Connection> MakePipe(bool duplex = true) {
  auto p = Pipe(duplex);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

// Writes raw bytes to the other end, bypassing the framing.
inline void WriteRaw(const Connection& c, absl::string_view bytes) {
  ASSERT_TRUE(
      platform::WriteAll(c.fileno(), {{bytes.data(), bytes.size()}}).ok());
}

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_CONNECTION_TEST_UTIL_H_
