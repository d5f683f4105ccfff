// Named shared memory as CPython's multiprocessing.shared_memory makes it, so
// that a Python process and a C++ one attach to each other's segments by
// name.
//
// POSIX: shm_open("/" + name) (the name users see has no slash, as in
// CPython), created O_CREAT | O_EXCL with mode 0600, sized with ftruncate;
// the size of an attached segment is what fstat says. Random names are
// CPython's: "psm_" and 8 hex digits.
//
// Windows: a named file mapping backed by the paging file (CreateFileMapping
// with the name as given, "wnsm_" and 8 hex digits when random), readable
// and writable by the current user only; the size of an attached segment is
// that of its view (whole pages, as CPython reports it). A mapping lives
// while a process has a handle or view of it: unlinking does nothing.
//
// Segments left behind (POSIX): a segment lives in /dev/shm until it is
// unlinked, whoever made it. A creating process that asks for tracking
// (`track`, the default) starts, at its first such segment, a small tracker
// process that holds the read end of a pipe; the creator writes to it the
// names it creates and unlinks. When the creator ends, however it ends
// (returned, _exit, SIGKILL), the tracker reads end-of-file, unlinks the
// segments the creator left, says so on stderr (as CPython's resource
// tracker warns about "leaked shared_memory objects"), and exits. Processes
// that only attach never track, so (unlike CPython 3.11) an attacher's exit
// does not unlink the creator's segment. The tracker is the creator's own:
// a child that creates segments gets its own tracker.
#ifndef MULTIPROCESSING_PLATFORM_NAMED_SHARED_MEMORY_H_
#define MULTIPROCESSING_PLATFORM_NAMED_SHARED_MEMORY_H_

#include <cstddef>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "multiprocessing/platform/handle.h"

namespace mp::platform {

// A mapped named segment; unmapped and its handle closed by the destructor
// (or Close). Move-only.
class NamedSharedMemory {
 public:
  // A new segment of `size` (> 0) zeroed bytes named `name` (empty: a random
  // name, retried until one is free). An existing name: kAlreadyExists
  // (Python's FileExistsError).
  [[nodiscard]] static absl::StatusOr<NamedSharedMemory> Create(
      absl::string_view name, std::size_t size, bool track = true);
  // The existing segment `name`, all of it. None: kNotFound
  // (FileNotFoundError).
  [[nodiscard]] static absl::StatusOr<NamedSharedMemory> Open(
      absl::string_view name);
  // The segment whose handle a parent passed (see handle()).
  [[nodiscard]] static absl::StatusOr<NamedSharedMemory> Adopt(
      ScopedHandle handle, std::string name, std::size_t size);

  NamedSharedMemory() = default;
  NamedSharedMemory(NamedSharedMemory&& other) noexcept {
    *this = std::move(other);
  }
  NamedSharedMemory& operator=(NamedSharedMemory&& other) noexcept;
  NamedSharedMemory(const NamedSharedMemory&) = delete;
  NamedSharedMemory& operator=(const NamedSharedMemory&) = delete;
  ~NamedSharedMemory() { Close(); }

  // The name Python uses (no leading slash).
  const std::string& name() const { return name_; }
  void* data() const { return data_; }
  std::size_t size() const { return size_; }
  NativeHandle handle() const { return handle_.get(); }
  bool is_open() const { return data_ != nullptr; }

  // Unmaps and closes (others keep the segment). Idempotent.
  void Close();

 private:
  std::string name_;
  void* data_ = nullptr;
  std::size_t size_ = 0;  // what users see
  std::size_t mapped_ = 0;
  ScopedHandle handle_;
};

// Removes the name (POSIX shm_unlink; processes that have it mapped keep
// it). No such segment: kNotFound. Windows: nothing to do (OK).
[[nodiscard]] absl::Status UnlinkNamedSharedMemory(absl::string_view name);

// Whether a segment with this name exists (for tests and leak checks).
bool NamedSharedMemoryExists(absl::string_view name);

}  // namespace mp::platform

#endif  // MULTIPROCESSING_PLATFORM_NAMED_SHARED_MEMORY_H_
