// Connection workloads, each run on this library (impl "mp") and on the
// fastest plain POSIX code a systems programmer would write for it, with no
// library (impl "raw"), in one run so their ratio is honest on a noisy
// machine. benchmarks/connection_cpython.py runs the same workloads on
// CPython.
//
// Every Connection workload runs a third time as impl "shm": the same mp
// code over Pipe(duplex, Transport::kSharedMemory).
//
// raw uses CPython's framing (a 4-byte big-endian length before each
// message) over a socketpair: the sender makes one write() per message
// (header and payload copied into one buffer; writev() above 4 KiB, where
// the copy would cost more than it saves), the receiver read()s into a
// 64 KiB buffer and parses every whole frame in it; a frame larger than the
// buffer is read straight into its destination after the part already
// buffered. "raw_unbuffered" (stream_64B only) is the previous baseline:
// writev() per message, and a read() for the header and another for the
// payload, i.e. a design shaped like the library's: the gap between it and
// raw is what receive buffering is worth.
//
//   pingpong_<N>B   round trip of an N-byte message to an echoing child:
//                   median and p99 in microseconds (raw: one write and one
//                   read each way)
//   stream_64B      64-byte messages to a child that reads them: msgs/s
//   typed_small     Send<pair<int64, string>>(i, "x") to a child that
//                   decodes them: msgs/s. raw encodes the pair by hand as a
//                   frame of 9 bytes (the int64's 8 bytes in host order,
//                   then the string's bytes; its length is what is left of
//                   the frame) and decodes it into a pair<int64, string>
//   stream_1MiB     1 MiB messages into a reused receive buffer: MB/s
//   message_64MiB   one 64 MiB message at a time: MB/s (1 MB = 1e6 bytes)
//   wait_100        Wait() over 100 idle one-way pipes until a child writes
//                   to one (named over a control pipe as a 4-byte message),
//                   then reading it: the whole round, median and p99 in
//                   microseconds; raw is a bare poll() on a prebuilt pollfd
//                   array, with the same frames on the wire
//   wait_100_ready  one Wait() call over 100 pipes, one of which holds an
//                   unread message (no other process involved): raw is one
//                   poll() over the prebuilt pollfd array and a scan of it
//
// A stream is sent in batches; after each batch the sender asks the reader
// for an acknowledgement (an empty message), so the time covers delivery,
// not just filling the socket buffer.
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "benchmark/benchmark.h"
#include "multiprocessing/benchmarks/bench_util.h"
#include "multiprocessing/ipc/connection.h"
#include "multiprocessing/ipc/wait.h"
#include "multiprocessing/process/process.h"

namespace mp::bench {
namespace {

using Clock = Latencies::Clock;
using Pair = std::pair<std::int64_t, std::string>;

// What the child does with what it receives.
enum class Role {
  kEcho,       // sends every message back
  kSink,       // reads messages; answers an empty one with an empty one
  kTypedSink,  // decodes Pair values; answers first == -1 with an empty one
};

// ---------------------------------------------------------------------------
// raw: the hand-written baselines. No project library here.

bool WriteAllRaw(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Writes header and payload with one writev() (more only when the kernel
// takes part of it).
bool SendFrameWritev(int fd, const char* data, std::size_t n) {
  const std::uint32_t header = htonl(static_cast<std::uint32_t>(n));
  struct iovec iov[2] = {
      {const_cast<std::uint32_t*>(&header), 4},
      {const_cast<char*>(data), n},
  };
  std::size_t left = 4 + n;
  struct iovec* v = iov;
  int count = 2;
  while (left > 0) {
    const ssize_t w = ::writev(fd, v, count);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    left -= static_cast<std::size_t>(w);
    std::size_t done = static_cast<std::size_t>(w);
    while (count > 0 && done >= v->iov_len) {
      done -= v->iov_len;
      ++v;
      --count;
    }
    if (count > 0) {
      v->iov_base = static_cast<char*>(v->iov_base) + done;
      v->iov_len -= done;
    }
  }
  return true;
}

bool ReadAllRaw(int fd, char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// The unbuffered receiver (raw_unbuffered): a read() for the header, one
// for the payload into `buffer` (grown as needed); the size, or -1.
std::int64_t RecvFrameUnbuffered(int fd, std::string* buffer) {
  std::uint32_t n;
  if (!ReadAllRaw(fd, reinterpret_cast<char*>(&n), 4)) return -1;
  n = ntohl(n);
  if (buffer->size() < n) buffer->resize(n);
  if (!ReadAllRaw(fd, buffer->data(), n)) return -1;
  return n;
}

// The sender: one write() per message, header and payload in one buffer
// (writev() above kCopyLimit).
class FrameWriter {
 public:
  static constexpr std::size_t kCopyLimit = 4096;

  explicit FrameWriter(int fd) : fd_(fd), frame_(4 + kCopyLimit, '\0') {}

  bool Send(const char* data, std::size_t n) {
    if (n > kCopyLimit) return SendFrameWritev(fd_, data, n);
    const std::uint32_t header = htonl(static_cast<std::uint32_t>(n));
    std::memcpy(frame_.data(), &header, 4);
    std::memcpy(frame_.data() + 4, data, n);
    return WriteAllRaw(fd_, frame_.data(), 4 + n);
  }
  // (int64 in host order, string bytes) in one frame, one write().
  bool SendPair(std::int64_t first, const std::string& second) {
    const std::size_t n = 8 + second.size();
    if (n > kCopyLimit) return false;
    const std::uint32_t header = htonl(static_cast<std::uint32_t>(n));
    std::memcpy(frame_.data(), &header, 4);
    std::memcpy(frame_.data() + 4, &first, 8);
    std::memcpy(frame_.data() + 12, second.data(), second.size());
    return WriteAllRaw(fd_, frame_.data(), 4 + n);
  }

 private:
  int fd_;
  std::string frame_;
};

// The buffered receiver: read()s up to 64 KiB at a time and hands out every
// whole frame in the buffer without another system call. A frame that does
// not fit is assembled in `large` (the part already buffered, then the rest
// read straight into it).
class FrameReader {
 public:
  static constexpr std::size_t kBufferSize = 64 * 1024;

  explicit FrameReader(int fd) : fd_(fd), buffer_(new char[kBufferSize]) {}

  // The next frame's size (its bytes at *data, valid until the next call),
  // or -1 on EOF or an error.
  std::int64_t Next(const char** data, std::string* large) {
    if (!Fill(4)) return -1;
    std::uint32_t n;
    std::memcpy(&n, buffer_.get() + begin_, 4);
    n = ntohl(n);
    if (4 + std::size_t{n} <= kBufferSize) {
      if (!Fill(4 + n)) return -1;
      *data = buffer_.get() + begin_ + 4;
      begin_ += 4 + n;
      return n;
    }
    if (large->size() < n) large->resize(n);
    const std::size_t have = end_ - begin_ - 4;
    std::memcpy(large->data(), buffer_.get() + begin_ + 4, have);
    begin_ = end_ = 0;
    if (!ReadAllRaw(fd_, large->data() + have, n - have)) return -1;
    *data = large->data();
    return n;
  }

 private:
  // Makes at least `want` (<= kBufferSize) bytes available from begin_.
  bool Fill(std::size_t want) {
    if (end_ - begin_ >= want) return true;
    if (begin_ + want > kBufferSize) {
      std::memmove(buffer_.get(), buffer_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    while (end_ - begin_ < want) {
      const ssize_t r = ::read(fd_, buffer_.get() + end_, kBufferSize - end_);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return false;
      end_ += static_cast<std::size_t>(r);
    }
    return true;
  }

  int fd_;
  std::unique_ptr<char[]> buffer_;
  std::size_t begin_ = 0, end_ = 0;
};

// The fastest plain code (buffered), or with `buffered` false the previous
// baseline (writev() per message, header and payload read separately).
class RawPeer {
 public:
  explicit RawPeer(Role role, bool buffered = true)
      : buffered_(buffered), writer_(-1), reader_(-1) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(sv[0]);
      ChildLoop(sv[1], role);
      ::_exit(0);
    }
    ::close(sv[1]);
    fd_ = sv[0];
    writer_ = FrameWriter(fd_);
    reader_ = FrameReader(fd_);
    ready_ = RecvSize() == 0;  // start-up stays outside the timing
  }
  ~RawPeer() {
    if (fd_ >= 0) ::close(fd_);
    int status;
    if (pid_ > 0) ::waitpid(pid_, &status, 0);
  }
  bool ok() const { return ready_; }

  bool Send(const std::string& payload) {
    return buffered_ ? writer_.Send(payload.data(), payload.size())
                     : SendFrameWritev(fd_, payload.data(), payload.size());
  }
  bool SendValue(const Pair& value) {
    return writer_.SendPair(value.first, value.second);
  }
  // Receives one message, looked at in place; its size, or -1.
  std::int64_t RecvSize() {
    if (!buffered_) return RecvFrameUnbuffered(fd_, &large_);
    const char* data;
    return reader_.Next(&data, &large_);
  }

 private:
  void ChildLoop(int fd, Role role) {
    PinToCpu(1);
    std::string large(role == Role::kSink ? std::size_t{64} << 20 : 0, '\0');
    FrameWriter writer(fd);
    if (!writer.Send("", 0)) return;  // ready
    if (!buffered_) {
      for (;;) {
        const std::int64_t n = RecvFrameUnbuffered(fd, &large);
        if (n < 0) return;
        if ((role == Role::kEcho || n == 0) &&
            !SendFrameWritev(fd, large.data(), static_cast<std::size_t>(n))) {
          return;
        }
      }
    }
    FrameReader reader(fd);
    Pair value;
    for (;;) {
      const char* data;
      const std::int64_t n = reader.Next(&data, &large);
      if (n < 0) return;
      if (role == Role::kTypedSink) {
        if (n < 8) return;
        std::memcpy(&value.first, data, 8);
        value.second.assign(data + 8, static_cast<std::size_t>(n - 8));
        benchmark::DoNotOptimize(value);
        if (value.first == -1 && !writer.Send("", 0)) return;
        continue;
      }
      if (role == Role::kEcho || n == 0) {
        if (!writer.Send(data, static_cast<std::size_t>(n))) return;
      }
    }
  }

  bool buffered_;
  int fd_ = -1;
  pid_t pid_ = -1;
  bool ready_ = false;
  FrameWriter writer_;
  FrameReader reader_;
  std::string large_;
};

class RawUnbufferedPeer : public RawPeer {
 public:
  explicit RawUnbufferedPeer(Role role) : RawPeer(role, /*buffered=*/false) {}
};

// ---------------------------------------------------------------------------
// mp: this library, used the way its README says.

int MpChild(Connection& conn, Role role) {
  PinToCpu(1);
  std::string buffer(role == Role::kSink ? std::size_t{64} << 20 : 0, '\0');
  if (!conn.SendBytes("").ok()) return 1;  // ready
  for (;;) {
    if (role == Role::kTypedSink) {
      absl::StatusOr<Pair> v = conn.Recv<Pair>();
      if (!v.ok()) return IsEof(v.status()) ? 0 : 1;
      if (v->first == -1 && !conn.SendBytes("").ok()) return 1;
      continue;
    }
    if (role == Role::kEcho) {
      absl::StatusOr<std::string> m = conn.RecvBytes();
      if (!m.ok()) return IsEof(m.status()) ? 0 : 1;
      if (!conn.SendBytes(*m).ok()) return 1;
      continue;
    }
    // A reader of bulk data receives into a buffer it reuses.
    absl::StatusOr<std::size_t> n = conn.RecvBytesInto(absl::MakeSpan(buffer));
    if (!n.ok()) return IsEof(n.status()) ? 0 : 1;
    if (*n == 0 && !conn.SendBytes("").ok()) return 1;
  }
}

// This library's Connection to the child, over `transport`: impl "mp"
// (Python's Pipe) and "shm" (Transport::kSharedMemory).
template <Transport transport>
class MpPeerOver {
 public:
  explicit MpPeerOver(Role role) {
    auto pipe = Pipe(/*duplex=*/true, transport);
    if (!pipe.ok()) return;
    conn_ = std::move(pipe->first);
    process_.emplace(MpChild, std::move(pipe->second), role);
    started_ = process_->Start().ok();
    // start-up stays outside the timing
    if (started_ && RecvSize() != 0) conn_.Close().IgnoreError();
  }
  ~MpPeerOver() {
    conn_.Close().IgnoreError();
    if (started_) process_->Join().IgnoreError();
  }
  bool ok() const { return started_ && !conn_.closed(); }
  bool Send(const std::string& payload) {
    return conn_.SendBytes(payload).ok();
  }
  template <typename T>
  bool SendValue(const T& value) {
    return conn_.Send(value).ok();
  }
  // Receives one message; its size, or -1.
  std::int64_t RecvSize() {
    absl::StatusOr<std::string> m = conn_.RecvBytes();
    if (!m.ok()) return -1;
    received_ = *std::move(m);
    return static_cast<std::int64_t>(received_.size());
  }

 private:
  std::string received_;
  Connection conn_;
  std::optional<Process> process_;
  bool started_ = false;
};
using MpPeer = MpPeerOver<Transport::kKernel>;
using ShmPeer = MpPeerOver<Transport::kSharedMemory>;

// ---------------------------------------------------------------------------
// The workloads, written once for both implementations.

template <typename Peer>
void PingPong(benchmark::State& state, std::size_t size) {
  Peer peer(Role::kEcho);
  if (!peer.ok()) return state.SkipWithError("cannot start the echo child");
  const std::string payload(size, 'p');
  Latencies latencies;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    if (!peer.Send(payload) || peer.RecvSize() != std::int64_t(size)) {
      return state.SkipWithError("echo failed");
    }
    const Clock::duration took = Clock::now() - start;
    latencies.Add(took);
    state.SetIterationTime(std::chrono::duration<double>(took).count());
  }
  latencies.Report(state);
}

// Sends `batch` messages made by `send_one(i)`, then waits for the reader's
// acknowledgement; reports messages/s and MB/s of payload.
template <typename Peer, typename SendOne>
void Stream(benchmark::State& state, Peer& peer, int batch,
            std::size_t bytes_per_message, SendOne send_one,
            bool (*ask_ack)(Peer&)) {
  double seconds = 0;
  std::int64_t messages = 0;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < batch; ++i) {
      if (!send_one(i)) return state.SkipWithError("send failed");
    }
    if (!ask_ack(peer) || peer.RecvSize() != 0) {
      return state.SkipWithError("no acknowledgement");
    }
    const double took =
        std::chrono::duration<double>(Clock::now() - start).count();
    seconds += took;
    messages += batch;
    state.SetIterationTime(took);
  }
  if (seconds > 0) {
    state.counters["msgs|msgs/s"] = messages / seconds;
    if (bytes_per_message > 0) {
      state.counters["bytes|MB/s"] =
          messages * static_cast<double>(bytes_per_message) / seconds / 1e6;
    }
  }
}

template <typename Peer>
bool AskAckBytes(Peer& peer) {
  return peer.Send(std::string());
}

template <typename Peer>
void BytesStream(benchmark::State& state, std::size_t size, int batch) {
  Peer peer(Role::kSink);
  if (!peer.ok()) return state.SkipWithError("cannot start the reader");
  const std::string payload(size, 's');
  Stream(
      state, peer, batch, size, [&](int) { return peer.Send(payload); },
      &AskAckBytes<Peer>);
}

template <typename Peer>
void TypedStream(benchmark::State& state) {
  Peer peer(Role::kTypedSink);
  if (!peer.ok()) return state.SkipWithError("cannot start the reader");
  Stream(
      state, peer, 1000, 0, [&](int i) { return peer.SendValue(Pair(i, "x")); },
      +[](Peer& p) { return p.SendValue(Pair(-1, "")); });
}

// Wait() over 100 idle one-way pipes: a child writes a 1-byte message to
// the pipe the parent names over a control pipe; the time is from naming it
// to having read it after Wait() (poll() for raw) said which one is ready.
constexpr int kWaitPipes = 100;

void WaitLatencyMp(benchmark::State& state) {
  std::vector<Connection> readers, writers;
  for (int i = 0; i < kWaitPipes; ++i) {
    auto [r, w] = Pipe(/*duplex=*/false).value();
    readers.push_back(std::move(r));
    writers.push_back(std::move(w));
  }
  auto [control_r, control_w] = Pipe(/*duplex=*/false).value();
  Process writer(
      [](Connection& control, std::vector<Connection>& out) {
        PinToCpu(1);
        for (;;) {
          int k;
          absl::StatusOr<std::size_t> n = control.RecvBytesInto(
              absl::MakeSpan(reinterpret_cast<char*>(&k), sizeof k));
          if (!n.ok()) return IsEof(n.status()) ? 0 : 1;
          if (*n != sizeof k || !out[k].SendBytes("x").ok()) return 1;
        }
      },
      std::move(control_r), std::move(writers));
  if (!writer.Start().ok()) return state.SkipWithError("cannot start");
  std::vector<Waitable> objects(readers.begin(), readers.end());
  Latencies latencies;
  int k = 0;
  for (auto _ : state) {
    k = (k + 37) % kWaitPipes;
    const Clock::time_point start = Clock::now();
    if (!control_w
             .SendBytes(
                 absl::string_view(reinterpret_cast<const char*>(&k), sizeof k))
             .ok()) {
      return state.SkipWithError("send failed");
    }
    absl::StatusOr<std::vector<std::size_t>> ready = Wait(objects);
    if (!ready.ok() || ready->size() != 1 || (*ready)[0] != std::size_t(k) ||
        !readers[k].RecvBytes().ok()) {
      return state.SkipWithError("wrong pipe ready");
    }
    const Clock::duration took = Clock::now() - start;
    latencies.Add(took);
    state.SetIterationTime(std::chrono::duration<double>(took).count());
  }
  latencies.Report(state);
  control_w.Close().IgnoreError();
  writer.Join().IgnoreError();
}

void WaitLatencyRaw(benchmark::State& state) {
  int fds[kWaitPipes][2], control[2];
  for (auto& p : fds) {
    if (::pipe2(p, O_CLOEXEC) != 0) return state.SkipWithError("pipe2");
  }
  if (::pipe2(control, O_CLOEXEC) != 0) return state.SkipWithError("pipe2");
  const pid_t pid = ::fork();
  if (pid == 0) {
    PinToCpu(1);
    ::close(control[1]);  // or the end of the control stream never comes
    for (auto& p : fds) ::close(p[0]);
    const char frame[5] = {0, 0, 0, 1, 'x'};  // one write() per message
    char control_frame[8];                    // 4-byte length 4, then the int
    while (ReadAllRaw(control[0], control_frame, sizeof control_frame)) {
      int k;
      std::memcpy(&k, control_frame + 4, sizeof k);
      if (!WriteAllRaw(fds[k][1], frame, sizeof frame)) break;
    }
    ::_exit(0);
  }
  ::close(control[0]);
  std::vector<pollfd> polls;  // built once, as a plain event loop does
  for (auto& p : fds) {
    ::close(p[1]);
    polls.push_back({p[0], POLLIN, 0});
  }
  Latencies latencies;
  char buffer[64];
  int k = 0;
  for (auto _ : state) {
    k = (k + 37) % kWaitPipes;
    const Clock::time_point start = Clock::now();
    // The same frames as mp's: the index as a 4-byte message.
    char control_frame[8] = {0, 0, 0, sizeof k};
    std::memcpy(control_frame + 4, &k, sizeof k);
    if (::write(control[1], control_frame, sizeof control_frame) !=
        sizeof control_frame) {
      return state.SkipWithError("write failed");
    }
    int ready = -1;
    while (ready < 0) {
      if (::poll(polls.data(), polls.size(), -1) < 0 && errno != EINTR) break;
      for (const pollfd& p : polls) {
        if (p.revents & POLLIN) ready = static_cast<int>(&p - polls.data());
      }
    }
    // The whole 5-byte frame in one read().
    if (ready != k || ::read(fds[k][0], buffer, sizeof buffer) != 5) {
      return state.SkipWithError("wrong pipe ready");
    }
    const Clock::duration took = Clock::now() - start;
    latencies.Add(took);
    state.SetIterationTime(std::chrono::duration<double>(took).count());
  }
  latencies.Report(state);
  ::close(control[1]);
  for (auto& p : fds) ::close(p[0]);
  int status;
  ::waitpid(pid, &status, 0);
}

// One Wait() call over 100 pipes of which one (kReadyPipe) holds a message
// nobody reads: the cost of the call itself, no other process involved.
constexpr int kReadyPipe = 37;

void WaitReadyMp(benchmark::State& state) {
  std::vector<Connection> readers, writers;
  for (int i = 0; i < kWaitPipes; ++i) {
    auto [r, w] = Pipe(/*duplex=*/false).value();
    readers.push_back(std::move(r));
    writers.push_back(std::move(w));
  }
  if (!writers[kReadyPipe].SendBytes("x").ok()) {
    return state.SkipWithError("send failed");
  }
  std::vector<Waitable> objects(readers.begin(), readers.end());
  Latencies latencies;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    absl::StatusOr<std::vector<std::size_t>> ready = Wait(objects);
    const Clock::duration took = Clock::now() - start;
    if (!ready.ok() || ready->size() != 1 || (*ready)[0] != kReadyPipe) {
      return state.SkipWithError("wrong pipe ready");
    }
    latencies.Add(took);
    state.SetIterationTime(std::chrono::duration<double>(took).count());
  }
  latencies.Report(state);
}

void WaitReadyRaw(benchmark::State& state) {
  int fds[kWaitPipes][2];
  for (auto& p : fds) {
    if (::pipe2(p, O_CLOEXEC) != 0) return state.SkipWithError("pipe2");
  }
  const char frame[5] = {0, 0, 0, 1, 'x'};
  if (::write(fds[kReadyPipe][1], frame, sizeof frame) != sizeof frame) {
    return state.SkipWithError("write failed");
  }
  std::vector<pollfd> polls;
  for (auto& p : fds) polls.push_back({p[0], POLLIN, 0});
  Latencies latencies;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    int ready = -1;
    while (ready < 0) {
      if (::poll(polls.data(), polls.size(), -1) < 0 && errno != EINTR) break;
      for (const pollfd& p : polls) {
        if (p.revents & POLLIN) ready = static_cast<int>(&p - polls.data());
      }
    }
    const Clock::duration took = Clock::now() - start;
    if (ready != kReadyPipe) return state.SkipWithError("wrong pipe ready");
    latencies.Add(took);
    state.SetIterationTime(std::chrono::duration<double>(took).count());
  }
  latencies.Report(state);
  for (auto& p : fds) {
    ::close(p[0]);
    ::close(p[1]);
  }
}

// Registers `workload` for raw, mp and shm, so they run back to back (and
// for raw_unbuffered before them when `unbuffered`).
template <typename F>
void RegisterBoth(const std::string& workload, F run, bool unbuffered = false) {
  if (unbuffered) {
    benchmark::RegisterBenchmark(
        (workload + "/raw_unbuffered").c_str(),
        [run](benchmark::State& s) {
          run(s, static_cast<RawUnbufferedPeer*>(nullptr));
        })
        ->UseManualTime();
  }
  benchmark::RegisterBenchmark(
      (workload + "/raw").c_str(),
      [run](benchmark::State& s) { run(s, static_cast<RawPeer*>(nullptr)); })
      ->UseManualTime();
  benchmark::RegisterBenchmark(
      (workload + "/mp").c_str(),
      [run](benchmark::State& s) { run(s, static_cast<MpPeer*>(nullptr)); })
      ->UseManualTime();
  benchmark::RegisterBenchmark(
      (workload + "/shm").c_str(),
      [run](benchmark::State& s) { run(s, static_cast<ShmPeer*>(nullptr)); })
      ->UseManualTime();
}

template <typename T>
using PeerOf = std::remove_pointer_t<T>;

void RegisterAll() {
  for (std::size_t size : {0, 64, 1024, 16384}) {
    RegisterBoth("pingpong_" + std::to_string(size) + "B",
                 [size](benchmark::State& s, auto* peer) {
                   PingPong<PeerOf<decltype(peer)>>(s, size);
                 });
  }
  RegisterBoth(
      "stream_64B",
      [](benchmark::State& s, auto* peer) {
        BytesStream<PeerOf<decltype(peer)>>(s, 64, 1000);
      },
      /*unbuffered=*/true);
  RegisterBoth("typed_small", [](benchmark::State& s, auto* peer) {
    TypedStream<PeerOf<decltype(peer)>>(s);
  });
  RegisterBoth("stream_1MiB", [](benchmark::State& s, auto* peer) {
    BytesStream<PeerOf<decltype(peer)>>(s, 1 << 20, 16);
  });
  RegisterBoth("message_64MiB", [](benchmark::State& s, auto* peer) {
    BytesStream<PeerOf<decltype(peer)>>(s, 64 << 20, 1);
  });
  benchmark::RegisterBenchmark("wait_100/raw", WaitLatencyRaw)->UseManualTime();
  benchmark::RegisterBenchmark("wait_100/mp", WaitLatencyMp)->UseManualTime();
  benchmark::RegisterBenchmark("wait_100_ready/raw", WaitReadyRaw)
      ->UseManualTime();
  benchmark::RegisterBenchmark("wait_100_ready/mp", WaitReadyMp)
      ->UseManualTime();
}

}  // namespace
}  // namespace mp::bench

int main(int argc, char** argv) {
  mp::bench::PinToCpu(0);  // children pin themselves to CPU 1
  mp::bench::RegisterAll();
  return mp::bench::RunAll(argc, argv);
}
