// Named shared memory on POSIX (shm_open), and the tracker that unlinks what
// a creator left (see named_shared_memory.h).
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/crypto.h"
#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/launch.h"
#include "multiprocessing/platform/named_shared_memory.h"

namespace mp::platform {
namespace {

// A tracker record: 'R' (created) or 'U' (unlinked), then the name with its
// slash, NUL-padded. Smaller than PIPE_BUF, so each write arrives whole.
constexpr std::size_t kNameMax = 255;
constexpr std::size_t kRecordSize = 1 + kNameMax + 1;
// Names one tracker remembers; beyond that, creations are not tracked.
constexpr int kMaxTracked = 4096;

// The tracker's memory: static, because its process (a fork) must not
// allocate.
char tracked[kMaxTracked][kNameMax + 1];

void WriteStderr(const char* s) {
  ssize_t unused = ::write(2, s, std::strlen(s));
  (void)unused;
}

int TrackerMain(int fd) {
  char record[kRecordSize];
  for (;;) {
    std::size_t got = 0;
    while (got < kRecordSize) {
      const ssize_t n = ::read(fd, record + got, kRecordSize - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got < kRecordSize) break;  // the creator has ended
    record[kRecordSize - 1] = '\0';
    const char* name = record + 1;
    int free_slot = -1;
    int found = -1;
    for (int i = 0; i < kMaxTracked; ++i) {
      if (tracked[i][0] == '\0') {
        if (free_slot < 0) free_slot = i;
      } else if (std::strcmp(tracked[i], name) == 0) {
        found = i;
      }
    }
    if (record[0] == 'R' && found < 0 && free_slot >= 0) {
      std::strcpy(tracked[free_slot], name);
    } else if (record[0] == 'U' && found >= 0) {
      tracked[found][0] = '\0';
    }
  }
  for (int i = 0; i < kMaxTracked; ++i) {
    if (tracked[i][0] == '\0') continue;
    if (::shm_unlink(tracked[i]) == 0) {
      WriteStderr(
          "mp: shared_memory: its creator ended without Unlink(): "
          "unlinked ");
      WriteStderr(tracked[i]);
      WriteStderr("\n");
    }
  }
  return 0;
}

std::mutex tracker_mu;
int tracker_fd = -1;          // write end, in tracker_owner only
ProcessId tracker_owner = 0;  // the process that started it

// Tells this process's tracker (started at the first 'R').
void Tell(char op, const std::string& os_name) {
  if (os_name.size() > kNameMax) return;
  std::lock_guard<std::mutex> lock(tracker_mu);
  if (tracker_owner != CurrentProcessId()) {
    // Never started, or started by the process we were forked from (whose
    // descriptor a fork start closed): ours is not running.
    if (op != 'R') return;
    tracker_fd = -1;
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return;
    LaunchOptions options;
    options.kill_with_parent = false;  // it must outlive us
    const int read_end = p[0];
    absl::StatusOr<ChildProcess> child = ForkAndRun(
        {static_cast<NativeHandle>(read_end)},
        [read_end] { return TrackerMain(read_end); }, options);
    ::close(p[0]);
    if (!child.ok()) {
      ::close(p[1]);
      return;
    }
    tracker_fd = p[1];
    tracker_owner = CurrentProcessId();
  }
  if (tracker_fd < 0) return;
  char record[kRecordSize] = {};
  record[0] = op;
  std::memcpy(record + 1, os_name.data(), os_name.size());
  ssize_t unused = ::write(tracker_fd, record, kRecordSize);
  (void)unused;
}

std::string OsName(absl::string_view name) { return absl::StrCat("/", name); }

absl::StatusOr<std::string> RandomName() {
  char bytes[4];
  if (absl::Status s = RandomBytes(absl::MakeSpan(bytes, 4)); !s.ok()) {
    return s;
  }
  return absl::StrCat("psm_",
                      absl::BytesToHexString(absl::string_view(bytes, 4)));
}

absl::Status CheckName(absl::string_view name) {
  if (name.empty() || name.size() > kNameMax - 1 ||
      name.find('/') != absl::string_view::npos ||
      name.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared memory: bad name '", name, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

void NamedSharedMemory::Close() {
  if (data_ != nullptr) ::munmap(data_, mapped_);
  data_ = nullptr;
  handle_.reset();
}

absl::StatusOr<NamedSharedMemory> NamedSharedMemory::Create(
    absl::string_view name, std::size_t size, bool track) {
  if (size == 0) {
    return absl::InvalidArgumentError(
        "shared memory: 'size' must be a positive number different from "
        "zero");
  }
  std::string chosen(name);
  int fd = -1;
  for (;;) {
    if (name.empty()) {
      absl::StatusOr<std::string> random = RandomName();
      if (!random.ok()) return random.status();
      chosen = *std::move(random);
    } else if (absl::Status s = CheckName(name); !s.ok()) {
      return s;
    }
    fd = ::shm_open(OsName(chosen).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd >= 0) break;
    if (errno == EEXIST && name.empty()) continue;
    return LastNativeError(absl::StrCat("shm_open ", OsName(chosen)));
  }
  ScopedHandle handle(fd);
  if (::fchmod(fd, 0600) != 0 ||  // the umask may have taken bits, not added
      ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    absl::Status s = LastNativeError("ftruncate");
    ::shm_unlink(OsName(chosen).c_str());
    return s;
  }
  absl::StatusOr<NamedSharedMemory> m = Adopt(std::move(handle), chosen, size);
  if (!m.ok()) {
    ::shm_unlink(OsName(chosen).c_str());
    return m.status();
  }
  if (track) Tell('R', OsName(chosen));
  return m;
}

absl::StatusOr<NamedSharedMemory> NamedSharedMemory::Open(
    absl::string_view name) {
  if (absl::Status s = CheckName(name); !s.ok()) return s;
  const int fd = ::shm_open(OsName(name).c_str(), O_RDWR, 0600);
  if (fd < 0) return LastNativeError(absl::StrCat("shm_open ", OsName(name)));
  ScopedHandle handle(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return LastNativeError("fstat");
  return Adopt(std::move(handle), std::string(name),
               static_cast<std::size_t>(st.st_size));
}

absl::StatusOr<NamedSharedMemory> NamedSharedMemory::Adopt(ScopedHandle handle,
                                                           std::string name,
                                                           std::size_t size) {
  const std::size_t mapped = size == 0 ? 1 : size;
  void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_SHARED,
                   static_cast<int>(handle.get()), 0);
  if (p == MAP_FAILED) return LastNativeError("mmap");
  NamedSharedMemory m;
  m.name_ = std::move(name);
  m.data_ = p;
  m.size_ = size;
  m.mapped_ = mapped;
  m.handle_ = std::move(handle);
  return m;
}

absl::Status UnlinkNamedSharedMemory(absl::string_view name) {
  if (absl::Status s = CheckName(name); !s.ok()) return s;
  const std::string os_name = OsName(name);
  if (::shm_unlink(os_name.c_str()) != 0) {
    return LastNativeError(absl::StrCat("shm_unlink ", os_name));
  }
  Tell('U', os_name);
  return absl::OkStatus();
}

bool NamedSharedMemoryExists(absl::string_view name) {
  if (!CheckName(name).ok()) return false;
  const int fd = ::shm_open(OsName(name).c_str(), O_RDONLY, 0);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

}  // namespace mp::platform
