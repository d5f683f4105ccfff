#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/error.h"

namespace mp::platform {
namespace {

// Up to this many buffers go into one sendmsg/writev.
constexpr std::size_t kMaxIov = 16;

// writev() on a pipe whose reader is gone raises SIGPIPE. Block it on this
// thread for the call, and swallow the one the write raised (if it was not
// already pending), so the caller sees EPIPE and nothing else changes.
ssize_t WritevNoSigpipe(int fd, const iovec* iov, int n) {
  sigset_t pipe_set, old_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  ssize_t r = ::writev(fd, iov, n);
  const int saved = errno;
  if (r < 0 && saved == EPIPE && !was_pending) {
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_set, nullptr);
  errno = saved;
  return r;
}

// Writes up to this many bytes in several pieces are joined first.
constexpr std::size_t kJoinLimit = 512;

ssize_t WriteVector(int fd, iovec* iov, int n) {
  if (n == 1) {
    ssize_t r = ::send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
    if (r >= 0 || errno != ENOTSOCK) return r;
    return WritevNoSigpipe(fd, iov, n);
  }
  msghdr msg = {};
  msg.msg_iov = iov;
  msg.msg_iovlen = static_cast<decltype(msg.msg_iovlen)>(n);
  ssize_t r = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  if (r < 0 && errno == ENOTSOCK) r = WritevNoSigpipe(fd, iov, n);
  return r;
}

}  // namespace

absl::StatusOr<ChannelPair> CreateDuplexChannel() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return LastNativeError("socketpair");
  }
  return ChannelPair{ScopedHandle(fds[0]), ScopedHandle(fds[1])};
}

absl::StatusOr<ChannelPair> CreateOneWayChannel() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return LastNativeError("pipe2");
  return ChannelPair{ScopedHandle(fds[0]), ScopedHandle(fds[1])};
}

absl::Status WriteAll(NativeHandle h, absl::Span<const ConstBuffer> buffers) {
  const int fd = static_cast<int>(h);
  // Small pieces (a frame's header and payload) are joined: one buffer is
  // a send() (WriteVector), cheaper than the kernel gathering several (a
  // 64 B message stream: 0.80x raw write() with sendmsg of two pieces,
  // 1.00-1.04x joined and sent). Windows' WriteAll joins too.
  char joined[kJoinLimit];
  ConstBuffer one;
  if (buffers.size() > 1) {
    std::size_t total = 0;
    for (const ConstBuffer& b : buffers) total += b.size;
    if (total <= kJoinLimit) {
      std::size_t at = 0;
      for (const ConstBuffer& b : buffers) {
        if (b.size > 0) std::memcpy(joined + at, b.data, b.size);
        at += b.size;
      }
      one = {joined, total};
      buffers = {&one, 1};
    }
  }
  iovec iov[kMaxIov];
  std::size_t next = 0;  // first buffer not yet in iov
  std::size_t skip = 0;  // bytes of buffers[next] already written
  while (next < buffers.size()) {
    int n = 0;
    for (std::size_t i = next;
         i < buffers.size() && n < static_cast<int>(kMaxIov); ++i) {
      const std::size_t offset = (i == next) ? skip : 0;
      iov[n].iov_base =
          const_cast<char*>(static_cast<const char*>(buffers[i].data) + offset);
      iov[n].iov_len =
          std::min<std::size_t>(buffers[i].size - offset, SSIZE_MAX);
      ++n;
    }
    ssize_t r = WriteVector(fd, iov, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return LastNativeError("write");
    }
    // Advance past what was written.
    std::size_t done = static_cast<std::size_t>(r);
    while (next < buffers.size()) {
      const std::size_t left = buffers[next].size - skip;
      if (done < left) {
        skip += done;
        break;
      }
      done -= left;
      ++next;
      skip = 0;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::size_t> ReadSome(NativeHandle h, void* buffer,
                                     std::size_t size) {
  for (;;) {
    ssize_t r = ::read(static_cast<int>(h), buffer,
                       std::min<std::size_t>(size, SSIZE_MAX));
    if (r >= 0) return static_cast<std::size_t>(r);
    // A peer that closed while data we sent it was unread resets the
    // connection; for the reader that is the end of the stream.
    if (IsEndOfStreamError(errno)) return 0;
    // Only a socket with a receive timeout (SetReceiveTimeout) says this.
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      return TimeoutError("read: nothing arrived before the receive timeout");
    }
    if (errno != EINTR) return LastNativeError("read");
  }
}

absl::Status SetReceiveTimeout(NativeHandle h,
                               std::optional<absl::Duration> timeout) {
  timeval tv = {};  // zero: block forever
  if (timeout) {
    tv = absl::ToTimeval(std::max(*timeout, absl::Microseconds(1)));
  }
  if (::setsockopt(static_cast<int>(h), SOL_SOCKET, SO_RCVTIMEO, &tv,
                   sizeof tv) != 0) {
    return LastNativeError("setsockopt(SO_RCVTIMEO)");
  }
  return absl::OkStatus();
}

absl::Status CloseForWriting(ScopedHandle& h) {
  if (::shutdown(static_cast<int>(h.get()), SHUT_WR) != 0) {
    return LastNativeError("shutdown");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::int64_t> DuplexChannelCreator(NativeHandle h) {
  const int fd = static_cast<int>(h);
  struct stat st = {};
  if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("handle ", h, " is not a duplex channel"));
  }
  int type = 0;
  socklen_t len = sizeof type;
  sockaddr_storage name = {};
  socklen_t name_len = sizeof name;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
      type != SOCK_STREAM ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&name), &name_len) != 0 ||
      name.ss_family != AF_UNIX) {
    return absl::InvalidArgumentError(
        absl::StrCat("handle ", h, " is not a duplex channel"));
  }
#ifdef __linux__
  // A socketpair's credentials are its creator's.
  ucred cred = {};
  socklen_t cred_len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0) {
    return LastNativeError("getsockopt(SO_PEERCRED)");
  }
  return static_cast<std::int64_t>(cred.pid);
#else
  return 0;
#endif
}

bool IsEndOfStreamError(int native_error) { return native_error == ECONNRESET; }

bool IsMessagePipe(NativeHandle /*h*/) { return false; }

absl::Status WriteMessage(NativeHandle /*h*/,
                          absl::Span<const ConstBuffer> /*buffers*/) {
  return absl::UnimplementedError("message pipes are Windows only");
}

absl::StatusOr<bool> ReadMessage(NativeHandle /*h*/, std::string* /*out*/,
                                 std::size_t /*limit*/) {
  return absl::UnimplementedError("message pipes are Windows only");
}

}  // namespace mp::platform
