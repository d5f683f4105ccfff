// Waiting for handles to become readable, with a deadline.
#ifndef MULTIPROCESSING_PLATFORM_POLL_H_
#define MULTIPROCESSING_PLATFORM_POLL_H_

#include <cstddef>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "multiprocessing/platform/handle.h"

namespace mp::platform {

// Waits until at least one handle is readable (data, end of stream, or an
// error a read would report) and returns the indices of the ready ones, in
// order; empty when the timeout passed first. `timeout`: nullopt waits
// forever, zero or negative checks once and returns at once. Signals do not
// cut the wait short. A handle that is not open is an error.
[[nodiscard]] absl::StatusOr<std::vector<std::size_t>> WaitReadable(
    absl::Span<const NativeHandle> handles,
    std::optional<absl::Duration> timeout);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_POLL_H_
