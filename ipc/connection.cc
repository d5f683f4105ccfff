#include "multiprocessing/ipc/connection.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "multiprocessing/ipc/internal/errors.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/poll.h"

namespace mp {
namespace {

// Payloads up to this size are allocated in one go; above it the buffer
// grows as bytes arrive, so a lying length header costs at most this much
// memory before the peer has to send real data.
constexpr std::size_t kEagerAllocation = std::size_t{64} << 20;
constexpr std::size_t kMaxShortFrame = 0x7fffffff;
// The reused send/receive buffer is released when it grew past this.
constexpr std::size_t kKeptBufferSize = std::size_t{1} << 20;

void StoreBigEndian(uint64_t v, int bytes, char* out) {
  for (int i = bytes - 1; i >= 0; --i, v >>= 8)
    out[i] = static_cast<char>(v & 0xff);
}

uint64_t LoadBigEndian(const char* in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

}  // namespace

Connection::Connection(platform::ScopedHandle handle, bool readable,
                       bool writable)
    : handle_(std::move(handle)),
      readable_(readable),
      writable_(writable),
      message_pipe_(handle_.is_valid() &&
                    platform::IsMessagePipe(handle_.get())) {}

absl::Status Connection::CheckReadable() const {
  if (closed()) return absl::FailedPreconditionError("handle is closed");
  if (!readable_) {
    return absl::FailedPreconditionError("connection is write-only");
  }
  return absl::OkStatus();
}

absl::Status Connection::CheckWritable() const {
  if (closed()) return absl::FailedPreconditionError("handle is closed");
  if (!writable_) {
    return absl::FailedPreconditionError("connection is read-only");
  }
  return absl::OkStatus();
}

absl::Status Connection::SendBytes(absl::string_view data, std::size_t offset,
                                   std::optional<std::size_t> size) {
  if (offset > data.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("offset ", offset, " is past the buffer's end (",
                     data.size(), " bytes)"));
  }
  const std::size_t n = size.value_or(data.size() - offset);
  if (n > data.size() - offset) {
    return absl::InvalidArgumentError(
        absl::StrCat("buffer length (", data.size(), ") < offset (", offset,
                     ") + size (", n, ")"));
  }
  return SendFrame(data.substr(offset, n));
}

absl::Status Connection::SendFrame(absl::string_view payload) {
  if (absl::Status s = CheckWritable(); !s.ok()) return s;
  if (message_pipe_) {
    const platform::ConstBuffer message[] = {{payload.data(), payload.size()}};
    absl::Status written = platform::WriteMessage(handle_.get(), message);
    ReleaseLargeBuffer();
    return written;
  }
  char header[12];
  std::size_t header_size = 4;
  if (payload.size() <= kMaxShortFrame) {
    StoreBigEndian(payload.size(), 4, header);
  } else {
    StoreBigEndian(0xffffffffu, 4, header);  // -1: a long frame
    StoreBigEndian(payload.size(), 8, header + 4);
    header_size = 12;
  }
  const platform::ConstBuffer frame[] = {{header, header_size},
                                         {payload.data(), payload.size()}};
  absl::Status written = platform::WriteAll(handle_.get(), frame);
  // Sent (payload may be scratch_, encoded by Send<T>): a large buffer goes.
  ReleaseLargeBuffer();
  return written;
}

void Connection::ReleaseLargeBuffer() {
  if (scratch_.capacity() > kKeptBufferSize) std::string().swap(scratch_);
}

absl::StatusOr<std::size_t> Connection::RecvLength() {
  char header[8];
  absl::StatusOr<std::size_t> got =
      platform::ReadFull(handle_.get(), header, 4);
  if (!got.ok()) return got.status();
  if (*got == 0) return EofError("the other end closed the connection");
  if (*got < 4) {
    return absl::DataLossError("connection closed inside a message header");
  }
  const int32_t length =
      static_cast<int32_t>(static_cast<uint32_t>(LoadBigEndian(header, 4)));
  if (length >= 0) return static_cast<std::size_t>(length);
  if (length != -1) {
    return absl::DataLossError(absl::StrCat("corrupt message length ", length));
  }
  got = platform::ReadFull(handle_.get(), header, 8);
  if (!got.ok()) return got.status();
  if (*got < 8) {
    return absl::DataLossError("connection closed inside a message header");
  }
  const uint64_t long_length = LoadBigEndian(header, 8);
  if (long_length > SIZE_MAX) {
    return absl::DataLossError(
        absl::StrCat("corrupt message length ", long_length));
  }
  return static_cast<std::size_t>(long_length);
}

absl::Status Connection::RecvPayload(char* dst, std::size_t n) {
  absl::StatusOr<std::size_t> got = platform::ReadFull(handle_.get(), dst, n);
  if (!got.ok()) return got.status();
  if (*got < n) {
    return absl::DataLossError(absl::StrCat("connection closed after ", *got,
                                            " of a message's ", n, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status Connection::RecvMessage(std::string* out, std::size_t limit,
                                     absl::string_view which) {
  absl::StatusOr<bool> got = platform::ReadMessage(handle_.get(), out, limit);
  if (got.ok() && !*got) {
    return EofError("the other end closed the connection");
  }
  if (got.status().code() == absl::StatusCode::kResourceExhausted) {
    // Its first bytes are read and the rest cannot be skipped reliably:
    // closed, as the byte stream's path (and CPython) does.
    handle_.reset();
    return absl::ResourceExhaustedError(
        absl::StrCat("bad message length: ", got.status().message(), which));
  }
  return got.status();
}

absl::Status Connection::RecvInto(std::string* out,
                                  std::optional<std::size_t> maxlength) {
  if (absl::Status s = CheckReadable(); !s.ok()) return s;
  // What a large Recv<T> left behind is not kept for this message.
  ReleaseLargeBuffer();
  const std::size_t limit =
      std::min(maxlength.value_or(SIZE_MAX), max_message_size_);
  if (message_pipe_) {
    return RecvMessage(out, limit,
                       maxlength && *maxlength == limit
                           ? " (maxlength)"
                           : " (max_message_size)");
  }
  absl::StatusOr<std::size_t> length = RecvLength();
  if (!length.ok()) return length.status();
  if (*length > limit) {
    // The rest of the stream is this message's body: nothing after it can
    // be found again, so the connection is closed, as in CPython.
    handle_.reset();
    return absl::ResourceExhaustedError(absl::StrCat(
        "bad message length: ", *length, " bytes exceeds the limit of ", limit,
        maxlength && *maxlength == limit ? " (maxlength)"
                                         : " (max_message_size)"));
  }
  return RecvGrowing(out, *length);
}

absl::Status Connection::RecvGrowing(std::string* out, std::size_t length) {
  // Grow geometrically past kEagerAllocation, so memory follows the bytes
  // that really arrive.
  out->clear();
  std::size_t have = 0;
  while (have < length) {
    const std::size_t next =
        std::min(length, std::max(kEagerAllocation, 2 * have));
    out->resize(next);
    if (absl::Status s = RecvPayload(out->data() + have, next - have);
        !s.ok()) {
      out->clear();
      return s;
    }
    have = next;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Connection::RecvBytes(
    std::optional<std::size_t> maxlength) {
  std::string out;
  if (absl::Status s = RecvInto(&out, maxlength); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::size_t> Connection::RecvBytesInto(absl::Span<char> buffer,
                                                      std::size_t offset) {
  if (offset > buffer.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("offset ", offset, " is past the buffer's end (",
                     buffer.size(), " bytes)"));
  }
  if (absl::Status s = CheckReadable(); !s.ok()) return s;
  if (message_pipe_) {
    std::string message;
    if (absl::Status s =
            RecvMessage(&message, max_message_size_, " (max_message_size)");
        !s.ok()) {
      return s;
    }
    if (message.size() <= buffer.size() - offset) {
      std::copy(message.begin(), message.end(), buffer.begin() + offset);
      return message.size();
    }
    const std::size_t size = message.size();
    return ipc_internal::BufferTooShortError(
        absl::StrCat("buffer too short: the message has ", size,
                     " bytes, the buffer ", buffer.size() - offset,
                     " after offset ", offset),
        std::move(message));
  }
  absl::StatusOr<std::size_t> length = RecvLength();
  if (!length.ok()) return length.status();
  if (*length > max_message_size_) {
    handle_.reset();
    return absl::ResourceExhaustedError(absl::StrCat(
        "bad message length: ", *length, " bytes exceeds the limit of ",
        max_message_size_, " (max_message_size)"));
  }
  if (*length <= buffer.size() - offset) {
    if (absl::Status s = RecvPayload(buffer.data() + offset, *length);
        !s.ok()) {
      return s;
    }
    return *length;
  }
  // BufferTooShort: the message is read anyway and handed over whole, its
  // buffer growing as bytes arrive (never to the length the peer claims).
  std::string message;
  if (absl::Status s = RecvGrowing(&message, *length); !s.ok()) return s;
  return ipc_internal::BufferTooShortError(
      absl::StrCat("buffer too short: the message has ", *length,
                   " bytes, the buffer ", buffer.size() - offset,
                   " after offset ", offset),
      std::move(message));
}

absl::StatusOr<bool> Connection::Poll(std::optional<absl::Duration> timeout) {
  if (absl::Status s = CheckReadable(); !s.ok()) return s;
  const platform::NativeHandle h = handle_.get();
  absl::StatusOr<std::vector<std::size_t>> ready =
      platform::WaitReadable({&h, 1}, timeout);
  if (!ready.ok()) return ready.status();
  return !ready->empty();
}

absl::Status Connection::Close() {
  if (closed()) return absl::OkStatus();
  return handle_.Close();
}

absl::StatusOr<std::pair<Connection, Connection>> Pipe(bool duplex) {
  absl::StatusOr<platform::ChannelPair> pair =
      duplex ? platform::CreateDuplexChannel()
             : platform::CreateOneWayChannel();
  if (!pair.ok()) return pair.status();
  return std::make_pair(Connection(std::move(pair->first), /*readable=*/true,
                                   /*writable=*/duplex),
                        Connection(std::move(pair->second), /*readable=*/duplex,
                                   /*writable=*/true));
}

}  // namespace mp
