#include "multiprocessing/ipc/connection.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

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
// Where an empty read-ahead buffer is filled from: a payload behind a 4-byte
// header then starts 64-byte aligned, like the (16-byte aligned) strings it
// is copied to. Copies between buffers misaligned to each other are several
// times slower on x86 (`rep movsb`): a 16 KiB ping-pong took 42 us filled
// from 0 and 25 us from here (raw socketpair code: 25 us).
constexpr std::size_t kFillStart = 60;
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

Connection::Connection(platform::ScopedHandle doorbell,
                       std::unique_ptr<ipc_internal::SharedMemoryStream> shm,
                       bool readable, bool writable)
    : handle_(std::move(doorbell)),
      shm_(std::move(shm)),
      readable_(readable),
      writable_(writable) {}

Connection::Connection(Connection&& other) noexcept
    : handle_(std::move(other.handle_)),
      shm_(std::move(other.shm_)),
      readable_(std::exchange(other.readable_, false)),
      writable_(std::exchange(other.writable_, false)),
      message_pipe_(std::exchange(other.message_pipe_, false)),
      max_message_size_(other.max_message_size_),
      scratch_(std::move(other.scratch_)),
      read_buffer_(std::move(other.read_buffer_)),
      read_pos_(std::exchange(other.read_pos_, 0)),
      read_end_(std::exchange(other.read_end_, 0)),
      shared_(std::exchange(other.shared_, false)) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    shm_ = std::move(other.shm_);  // first: its closing rings the old handle
    handle_ = std::move(other.handle_);
    readable_ = std::exchange(other.readable_, false);
    writable_ = std::exchange(other.writable_, false);
    message_pipe_ = std::exchange(other.message_pipe_, false);
    max_message_size_ = other.max_message_size_;
    scratch_ = std::move(other.scratch_);
    read_buffer_ = std::move(other.read_buffer_);
    read_pos_ = std::exchange(other.read_pos_, 0);
    read_end_ = std::exchange(other.read_end_, 0);
    shared_ = std::exchange(other.shared_, false);
  }
  return *this;
}

absl::Status Connection::MarkShared() const {
  if (shm_) {
    return absl::FailedPreconditionError(
        "a shared-memory connection has one reader and one writer: it "
        "cannot be shared (pass it to a Process by value)");
  }
  if (bytes_received_ahead() > 0) {
    return absl::FailedPreconditionError(absl::StrCat("the connection has ",
                                                      bytes_received_ahead(),
                                                      " bytes received ahead"));
  }
  shared_ = true;
  return absl::OkStatus();
}

std::size_t Connection::TakeReceivedAhead(char* dst, std::size_t max) {
  const std::size_t n = std::min(max, bytes_received_ahead());
  if (n > 0) std::memcpy(dst, read_buffer_.get() + read_pos_, n);
  read_pos_ += n;
  return n;
}

void Connection::ResetHandle() {
  shm_.reset();
  handle_.reset();
  read_buffer_.reset();
  read_pos_ = read_end_ = 0;
}

absl::StatusOr<std::size_t> Connection::FillAtLeast(std::size_t n) {
  if (!read_buffer_) {
    read_buffer_ = std::make_unique<char[]>(kReadAheadSize);
    read_pos_ = read_end_ = kFillStart;
  }
  if (read_pos_ == read_end_) read_pos_ = read_end_ = kFillStart;
  if (read_end_ - read_pos_ >= n) return read_end_ - read_pos_;
  if (kReadAheadSize - read_pos_ < n) {  // too near the end: move to front
    std::memmove(read_buffer_.get(), read_buffer_.get() + read_pos_,
                 read_end_ - read_pos_);
    read_end_ -= read_pos_;
    read_pos_ = 0;
  }
  while (read_end_ - read_pos_ < n) {
    absl::StatusOr<std::size_t> got =
        ReadSome(read_buffer_.get() + read_end_, kReadAheadSize - read_end_);
    if (!got.ok()) return got.status();
    if (*got == 0) break;  // end of stream
    read_end_ += *got;
  }
  return read_end_ - read_pos_;
}

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
  absl::Status written = WriteAll(frame);
  // Sent (payload may be scratch_, encoded by Send<T>): a large buffer goes.
  ReleaseLargeBuffer();
  return written;
}

void Connection::ReleaseLargeBuffer() {
  if (scratch_.capacity() > kKeptBufferSize) std::string().swap(scratch_);
}

absl::StatusOr<std::size_t> Connection::RecvLength() {
  char header[8];
  const char* short_header = header;
  const char* long_header = header;
  if (reads_ahead()) {
    absl::StatusOr<std::size_t> have = FillAtLeast(4);
    if (!have.ok()) return have.status();
    if (*have == 0) return EofError("the other end closed the connection");
    if (*have < 4) {
      return absl::DataLossError("connection closed inside a message header");
    }
    short_header = read_buffer_.get() + read_pos_;
  } else {
    absl::StatusOr<std::size_t> got = ReadFull(header, 4);
    if (!got.ok()) return got.status();
    if (*got == 0) return EofError("the other end closed the connection");
    if (*got < 4) {
      return absl::DataLossError("connection closed inside a message header");
    }
  }
  const int32_t length = static_cast<int32_t>(
      static_cast<uint32_t>(LoadBigEndian(short_header, 4)));
  if (length >= 0) {
    if (reads_ahead()) read_pos_ += 4;
    return static_cast<std::size_t>(length);
  }
  if (length != -1) {
    return absl::DataLossError(absl::StrCat("corrupt message length ", length));
  }
  if (reads_ahead()) {
    // The short header stays in the buffer until the long one is whole.
    absl::StatusOr<std::size_t> have = FillAtLeast(12);
    if (!have.ok()) return have.status();
    if (*have < 12) {
      return absl::DataLossError("connection closed inside a message header");
    }
    long_header = read_buffer_.get() + read_pos_ + 4;
  } else {
    absl::StatusOr<std::size_t> got = ReadFull(header, 8);
    if (!got.ok()) return got.status();
    if (*got < 8) {
      return absl::DataLossError("connection closed inside a message header");
    }
  }
  const uint64_t long_length = LoadBigEndian(long_header, 8);
  if (reads_ahead()) read_pos_ += 12;
  if (long_length > SIZE_MAX) {
    return absl::DataLossError(
        absl::StrCat("corrupt message length ", long_length));
  }
  return static_cast<std::size_t>(long_length);
}

absl::Status Connection::RecvPayload(char* dst, std::size_t n) {
  std::size_t done = 0;
  auto cut_short = [&] {
    return absl::DataLossError(absl::StrCat("connection closed after ", done,
                                            " of a message's ", n, " bytes"));
  };
  if (reads_ahead()) {
    // What was received ahead first; then, while what is missing fits the
    // buffer, read ahead again (the next messages may come with it); a
    // larger rest goes straight to `dst`.
    for (;;) {
      const std::size_t take = std::min(n - done, read_end_ - read_pos_);
      if (take > 0) {
        std::memcpy(dst + done, read_buffer_.get() + read_pos_, take);
        read_pos_ += take;
        done += take;
      }
      if (done == n || n - done >= kReadAheadSize) break;
      absl::StatusOr<std::size_t> have = FillAtLeast(1);
      if (!have.ok()) return have.status();
      if (*have == 0) return cut_short();
    }
    if (done == n) return absl::OkStatus();
  }
  absl::StatusOr<std::size_t> got = ReadFull(dst + done, n - done);
  if (!got.ok()) return got.status();
  done += *got;
  if (done < n) return cut_short();
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
    ResetHandle();
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
    ResetHandle();
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
    ResetHandle();
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
  if (bytes_received_ahead() > 0) return true;
  if (shm_) return shm_->Poll(timeout);
  const platform::NativeHandle h = handle_.get();
  absl::StatusOr<std::vector<std::size_t>> ready =
      platform::WaitReadable({&h, 1}, timeout);
  if (!ready.ok()) return ready.status();
  return !ready->empty();
}

absl::Status Connection::Close() {
  if (closed()) return absl::OkStatus();
  shm_.reset();  // raises its closed flag and rings the peer first
  read_buffer_.reset();
  read_pos_ = read_end_ = 0;
  return handle_.Close();
}

absl::StatusOr<std::size_t> Connection::ReadSome(char* dst, std::size_t n) {
  if (shm_) return shm_->ReadSome(dst, n);
  return platform::ReadSome(handle_.get(), dst, n);
}

absl::StatusOr<std::size_t> Connection::ReadFull(char* dst, std::size_t n) {
  return platform::ReadFull(
      [this](void* p, std::size_t size) {
        return ReadSome(static_cast<char*>(p), size);
      },
      dst, n);
}

absl::Status Connection::WriteAll(
    absl::Span<const platform::ConstBuffer> buffers) {
  if (shm_) return shm_->WriteAll(buffers);
  return platform::WriteAll(handle_.get(), buffers);
}

bool Connection::ReadyOrArm() const {
  if (bytes_received_ahead() > 0) return true;
  if (!shm_ || closed()) return false;
  absl::StatusOr<bool> ready = shm_->ArmForWait();
  return !ready.ok() || *ready;
}

namespace {

// The two ends of a pair over shared memory: a duplex kernel channel (each
// end's doorbell, and how each sees the other's end) and the memory.
absl::StatusOr<std::pair<Connection, Connection>> SharedMemoryPipe(
    bool duplex) {
  absl::StatusOr<platform::ChannelPair> bells = platform::CreateDuplexChannel();
  if (!bells.ok()) return bells.status();
  absl::StatusOr<platform::ScopedHandle> memory =
      ipc_internal::SharedMemoryStream::CreateMemory();
  if (!memory.ok()) return memory.status();
  absl::StatusOr<platform::ScopedHandle> memory2 =
      platform::Duplicate(memory->get());
  if (!memory2.ok()) return memory2.status();
  std::pair<Connection, Connection> ends;
  absl::Status s =
      Codec<Connection>::Make(std::move(bells->first), *std::move(memory), 0,
                              true, duplex, &ends.first);
  if (s.ok()) {
    s = Codec<Connection>::Make(std::move(bells->second), *std::move(memory2),
                                1, duplex, true, &ends.second);
  }
  if (!s.ok()) return s;
  return ends;
}

}  // namespace

absl::Status Codec<Connection>::Make(platform::ScopedHandle doorbell,
                                     platform::ScopedHandle memory, int side,
                                     bool readable, bool writable,
                                     Connection* c) {
  const platform::NativeHandle bell = doorbell.get();
  absl::StatusOr<ipc_internal::SharedMemoryStream> stream =
      ipc_internal::SharedMemoryStream::Attach(std::move(memory), side, bell);
  if (!stream.ok()) return stream.status();
  *c = Connection(
      std::move(doorbell),
      std::make_unique<ipc_internal::SharedMemoryStream>(*std::move(stream)),
      readable, writable);
  return absl::OkStatus();
}

void Codec<Connection>::Encode(const Connection& c, Encoder& e) {
  if (c.closed()) {
    e.WriteNone();
    return;
  }
  if (c.bytes_received_ahead() > 0) {
    e.Fail(absl::FailedPreconditionError(absl::StrCat(
        "a Connection cannot be passed to another process: it has ",
        c.bytes_received_ahead(),
        " bytes received ahead (receive its pending messages first)")));
    return;
  }
  std::optional<std::pair<int64_t, int64_t>> memory;
  if (c.shm_) {
    if (e.kept_by_sender()) {
      e.Fail(c.MarkShared());  // refused, with the reason
      return;
    }
    memory.emplace(e.AddHandle(c.shm_->memory_handle()), c.shm_->side());
  } else if (e.kept_by_sender()) {
    c.MarkShared().IgnoreError();  // nothing ahead
  }
  e.EncodeTuple(e.AddHandle(c.fileno()), c.readable(), c.writable(), c.shared(),
                memory);
  // The child has this end now: the parent's copy going is not a close.
  if (c.shm_ && e.status().ok()) c.shm_->MarkHandedOver();
}

absl::Status Codec<Connection>::Decode(Decoder& d, Connection* c) {
  if (d.is_none()) {
    *c = Connection();
    return absl::OkStatus();
  }
  int64_t index = 0;
  bool readable = false;
  bool writable = false;
  bool shared = false;
  std::optional<std::pair<int64_t, int64_t>> memory;
  if (absl::Status s =
          d.DecodeTuple(&index, &readable, &writable, &shared, &memory);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<platform::ScopedHandle> owned = d.ClaimHandle(index);
  if (!owned.ok()) return owned.status();
  if (memory) {
    absl::StatusOr<platform::ScopedHandle> memory_handle =
        d.ClaimHandle(memory->first);
    if (!memory_handle.ok()) return memory_handle.status();
    if (memory->second != 0 && memory->second != 1) {
      return absl::InvalidArgumentError("codec: no such connection end");
    }
    return Make(*std::move(owned), *std::move(memory_handle),
                static_cast<int>(memory->second), readable, writable, c);
  }
  *c = Connection(*std::move(owned), readable, writable);
  if (shared) return c->MarkShared();  // new: nothing received ahead
  return absl::OkStatus();
}

absl::StatusOr<std::pair<Connection, Connection>> Pipe(bool duplex,
                                                       Transport transport) {
  if (transport == Transport::kSharedMemory) return SharedMemoryPipe(duplex);
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
