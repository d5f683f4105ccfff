#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstring>

#include "multiprocessing/platform/error.h"
#include "multiprocessing/platform/message_channel.h"
#include "multiprocessing/platform/poll.h"

namespace mp::platform {

bool AttachmentsOutliveSender() { return true; }

absl::StatusOr<ChannelPair> CreateMessageChannel() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
    return LastNativeError("socketpair(SOCK_SEQPACKET)");
  }
  return ChannelPair{ScopedHandle(fds[0]), ScopedHandle(fds[1])};
}

namespace {

// sendmsg() with `flags`; false when MSG_DONTWAIT found the channel full.
absl::StatusOr<bool> Send(NativeHandle h, absl::Span<const ConstBuffer> parts,
                          NativeHandle attached, int flags) {
  iovec iov[8];
  if (parts.size() > 8) {
    return absl::InvalidArgumentError("SendMessage: more than 8 parts");
  }
  std::size_t total = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    iov[i].iov_base = const_cast<void*>(parts[i].data);
    iov[i].iov_len = parts[i].size;
    total += parts[i].size;
  }
  if (total > kMaxInlineMessage) {
    return absl::InvalidArgumentError("SendMessage: message too long");
  }
  msghdr msg = {};
  msg.msg_iov = iov;
  msg.msg_iovlen = parts.size();
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (attached != kInvalidHandle) {
    std::memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    const int fd = static_cast<int>(attached);
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  }
  for (;;) {
    const ssize_t n =
        ::sendmsg(static_cast<int>(h), &msg, MSG_NOSIGNAL | flags);
    if (n >= 0) return true;  // a seqpacket send is all or none
    if (errno == EAGAIN && (flags & MSG_DONTWAIT) != 0) return false;
    if (errno != EINTR) return LastNativeError("sendmsg");
  }
}

}  // namespace

absl::Status SendMessage(NativeHandle h, absl::Span<const ConstBuffer> parts,
                         NativeHandle attached) {
  return Send(h, parts, attached, 0).status();
}

absl::StatusOr<bool> TrySendMessage(NativeHandle h,
                                    absl::Span<const ConstBuffer> parts,
                                    NativeHandle attached) {
  return Send(h, parts, attached, MSG_DONTWAIT);
}

absl::StatusOr<std::optional<std::size_t>> PeekMessage(
    NativeHandle h, absl::Span<char> buffer) {
  iovec iov{buffer.data(), buffer.size()};
  // A peek duplicates attached handles into this process: close them.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  for (;;) {
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(static_cast<int>(h), &msg,
                                MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
      return LastNativeError("recvmsg(MSG_PEEK)");
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
         c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
        ScopedHandle close_it(fd);
      }
    }
    return static_cast<std::size_t>(n);
  }
}

absl::StatusOr<std::optional<ReceivedMessage>> ReceiveMessage(
    NativeHandle h, absl::Span<char> buffer,
    std::optional<absl::Time> deadline) {
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  for (;;) {
    if (deadline) {
      absl::StatusOr<std::vector<std::size_t>> ready = WaitReadable(
          {&h, 1}, std::max(*deadline - absl::Now(), absl::ZeroDuration()));
      if (!ready.ok()) return ready.status();
      if (ready->empty()) return std::nullopt;
    }
    msghdr msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n =
        ::recvmsg(static_cast<int>(h), &msg,
                  MSG_CMSG_CLOEXEC | (deadline ? MSG_DONTWAIT : 0));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        continue;  // taken by another reader
      return LastNativeError("recvmsg");
    }
    ReceivedMessage received;
    received.size = static_cast<std::size_t>(n);
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr;
         c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
        received.attached.reset(fd);
      }
    }
    if ((msg.msg_flags & MSG_TRUNC) != 0) {
      return absl::DataLossError("ReceiveMessage: message longer than buffer");
    }
    return received;
  }
}

}  // namespace mp::platform
