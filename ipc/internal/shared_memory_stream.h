// SharedMemoryStream: the byte stream under a Connection made by
// mp::Pipe(duplex, mp::Transport::kSharedMemory). Two single-producer
// single-consumer byte rings in one piece of shared memory, one per
// direction, carry the same framed bytes a socket would; Connection frames
// and parses them with the code it uses for sockets, so every promise it
// makes (framing, limits, kDataLoss on a message cut short) holds unchanged.
//
// Waking. Each end spins for a short while (adaptive, at most kMaxSpin;
// past its first microseconds it yields the CPU as it spins, as the peer
// may be waiting for it) on an empty ring or a full one, then sleeps by
// reading one byte from a "doorbell": the kernel channel (a socketpair, a
// Windows pipe) that the Connection owns as its handle. Before sleeping an end
// raises a flag in the shared memory; the other end, after changing the ring,
// takes the flag down (an atomic exchange) and, only if it was up, writes one
// byte. So a byte crosses the kernel only when someone sleeps, and each byte in
// the doorbell is matched by exactly one flag taken down: an end knows how many
// bytes it is owed and reads exactly those, so a stale byte never makes
// the handle look readable when nothing waits. The doorbell is also what
// mp::Wait() and Poll() wait on (ArmForWait()), and how a peer's death
// shows: the kernel closes its end, the doorbell reads end of stream.
//
// Ends. Closing an end (Close(), or destroying it) raises its "closed" flag
// and wakes the other; a receiver finds end of stream once the ring is
// drained and the flag is up (or the doorbell ended), a sender is refused
// at once. An end handed to a child (MarkHandedOver(): encoded as a
// Process argument) raises no flag when the parent's copy goes: the child
// has it now. A peer killed without closing is found by the doorbell's end
// of stream, when an end sleeps: a receiver then sees end of stream (after
// what the peer wrote), a sender sees the error once the ring is full.
//
// Trust: the memory is writable by the peer, so nothing read from it is
// trusted. The ring size is fixed here (kRingSize), positions are checked
// against it (kDataLoss when the peer's position is impossible), and the
// flags only ever cost a wake-up byte.
#ifndef MULTIPROCESSING_IPC_INTERNAL_SHARED_MEMORY_STREAM_H_
#define MULTIPROCESSING_IPC_INTERNAL_SHARED_MEMORY_STREAM_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "multiprocessing/platform/channel.h"
#include "multiprocessing/platform/handle.h"
#include "multiprocessing/platform/shared_memory.h"

namespace mp::ipc_internal {

class SharedMemoryStream {
 public:
  struct Layout;

  // Bytes of each direction's ring.
  static constexpr std::size_t kRingSize = std::size_t{256} << 10;
  // The longest an end spins before it sleeps.
  static constexpr absl::Duration kMaxSpin = absl::Microseconds(50);

  // The shared memory of a new pair of ends, laid out, and its size.
  [[nodiscard]] static absl::StatusOr<platform::ScopedHandle> CreateMemory();
  static std::size_t MemorySize();

  // End `side` (0 or 1) of the pair whose memory is `memory` (this end's
  // own handle to it; kept, so the end can be passed to a child), waking
  // and woken through `doorbell` (not owned: the Connection's handle, which
  // must outlive this object). Checks the layout.
  [[nodiscard]] static absl::StatusOr<SharedMemoryStream> Attach(
      platform::ScopedHandle memory, int side, platform::NativeHandle doorbell);

  SharedMemoryStream(SharedMemoryStream&& other) noexcept;
  SharedMemoryStream& operator=(SharedMemoryStream&&) = delete;
  SharedMemoryStream(const SharedMemoryStream&) = delete;
  // Close() unless handed over.
  ~SharedMemoryStream();

  // The stream operations a Connection needs, as platform/channel.h defines
  // them for kernel channels: ReadSome returns 0 only at end of stream.
  [[nodiscard]] absl::StatusOr<std::size_t> ReadSome(void* buffer,
                                                     std::size_t size);
  [[nodiscard]] absl::Status WriteAll(
      absl::Span<const platform::ConstBuffer> buffers);

  // Whether a receive would not block now: bytes in the ring, or the peer
  // closed or gone.
  bool Readable() const;
  // Readable(), or else arranges for the doorbell to become readable when
  // it is (so a wait on the doorbell handle is a wait for this stream).
  [[nodiscard]] absl::StatusOr<bool> ArmForWait();
  // Waits until Readable() or `timeout` passes (Connection::Poll's rules).
  [[nodiscard]] absl::StatusOr<bool> Poll(
      std::optional<absl::Duration> timeout);

  // This end now belongs to a child process: going away here is not a
  // close.
  void MarkHandedOver() { handed_over_ = true; }
  platform::NativeHandle memory_handle() const { return memory_.get(); }
  int side() const { return side_; }

  // Raises this end's closed flag and wakes the peer (once).
  void Close();

 private:
  SharedMemoryStream(platform::ScopedHandle memory,
                     platform::SharedMapping mapping, int side,
                     platform::NativeHandle doorbell);
  struct Ring;
  Ring& in() const;   // the ring this end reads
  Ring& out() const;  // the ring this end writes
  bool PeerClosed() const;
  // Takes down `flag` (the peer's) and rings the doorbell if it was up.
  void WakePeer(std::atomic<uint32_t>& flag);
  // Spins, then sleeps, until `ready()` holds or the peer is gone.
  template <typename Ready>
  [[nodiscard]] absl::Status Await(std::atomic<uint32_t>& my_flag, bool& armed,
                                   Ready ready);
  // Counts the bytes owed for flags the peer took down; reads them.
  void CollectOwed();
  [[nodiscard]] absl::Status ReadOwed();
  // Reads one doorbell byte (blocking); notes the peer gone at its end.
  [[nodiscard]] absl::Status ReadBell();
  // Lowers this end's room flag if raised (accounting for its byte).
  [[nodiscard]] absl::Status DisarmRoom();

  platform::ScopedHandle memory_;
  platform::SharedMapping mapping_;
  Layout* layout_;
  int side_;
  platform::NativeHandle doorbell_;
  // This end raised its flag for data (in the ring it reads) or for room
  // (in the ring it writes), and the peer has not been seen taking it down.
  bool armed_data_ = false;
  bool armed_room_ = false;
  int owed_ = 0;            // doorbell bytes owed for flags the peer took down
  bool peer_gone_ = false;  // the doorbell ended
  bool handed_over_ = false;
  bool closed_ = false;
  absl::Duration spin_ = kMaxSpin;
};

}  // namespace mp::ipc_internal

#endif  // MULTIPROCESSING_IPC_INTERNAL_SHARED_MEMORY_STREAM_H_
