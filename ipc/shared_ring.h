// SharedRing: a first-in first-out ring of byte records in shared memory,
// for any number of producer and consumer processes. mp::Queue's transport.
//
// Records are copied in and out under one platform::SharedLock, which
// survives its holder's death, so a process killed anywhere cannot wedge the
// others. A record becomes visible by one store of the tail and leaves by one
// store of the head, both made last, so a holder that dies mid-push leaves no
// record and one that dies mid-pop leaves the record in place.
//
// Waiting: nobody waits holding the lock, and waiting does not take it. A
// consumer that finds the ring empty sleeps on a futex word that every push
// batch bumps; a producer that finds it full sleeps on one that pops bump.
// Wake-ups are system calls only when someone sleeps. Sleepers also look again
// every 100 ms, so a process killed after changing the ring and before waking
// them delays them by at most that.
//
//   SharedRing ring = SharedRing::Create(memory, size).value();
//   {
//     SharedRing::Locked locked(ring);
//     locked.TryPush(7, {"hello"});
//   }
//   SharedRing::Locked locked(ring);
//   if (!locked.empty()) { std::string s; locked.PopFront(&s); }
#ifndef MULTIPROCESSING_IPC_SHARED_RING_H_
#define MULTIPROCESSING_IPC_SHARED_RING_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mp::ipc_internal {

class SharedRing {
 public:
  struct Header;

  // Bytes each record costs beyond its payload.
  static constexpr std::size_t kRecordOverhead = 8;
  // Bytes of the lock and positions before the records.
  static constexpr std::size_t kHeaderSize = 128;

  // The shared memory a ring holding `capacity` bytes of records needs.
  static constexpr std::size_t MemorySize(std::size_t capacity) {
    return kHeaderSize + capacity;
  }

  // Lays out an empty ring in `memory`: `size` zeroed bytes that no other
  // process uses yet.
  [[nodiscard]] static absl::StatusOr<SharedRing> Create(void* memory,
                                                         std::size_t size);

  // The ring that Create() laid out in `memory` (mapped by another process,
  // or by this one before a fork). Checks the layout.
  //
  // Shared memory is writable by every process that maps it, so nothing
  // read from it is trusted: the capacity is fixed here (from `size`, not
  // from the memory) and kept privately, positions and record sizes are
  // checked against it, and a lock whose bytes were overwritten is
  // kDataLoss (Locked::status()), never an abort or a write out of bounds.
  [[nodiscard]] static absl::StatusOr<SharedRing> Attach(void* memory,
                                                         std::size_t size);

  // The largest payload one record can carry.
  std::size_t max_payload() const;

  // Holds the ring's lock; wakes sleepers when released. Not re-entrant.
  class Locked {
   public:
    explicit Locked(const SharedRing& ring);
    // Gives up at `deadline` (nullopt: never), when held() is false and
    // nothing else may be called.
    Locked(const SharedRing& ring, std::optional<absl::Time> deadline);
    ~Locked();
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;

    bool held() const { return held_; }
    // kDataLoss when the lock's bytes are not a working lock (held() is
    // false then): every other call reports nothing there or no room.
    const absl::Status& status() const { return status_; }

    // The previous holder died holding the lock (the ring is intact).
    bool owner_died() const { return owner_died_; }

    // Appends one record made of `parts` with `tag`, if there is room now.
    bool TryPush(uint32_t tag, std::initializer_list<absl::string_view> parts);

    bool empty() const;

    // Whether a record with a `payload_size`-byte payload fits now.
    bool Fits(std::size_t payload_size) const;

    // The tag and payload size of the oldest record, nullopt when empty;
    // kDataLoss if the ring's bytes are not a valid ring.
    struct Front {
      uint32_t tag;
      std::size_t size;
    };
    [[nodiscard]] absl::StatusOr<std::optional<Front>> PeekFront() const;

    // Removes the oldest record (after PeekFront() found it), copying its
    // payload into `*payload` unless null. Nothing when the ring is corrupt.
    void PopFront(std::string* payload);

   private:
    // The positions, when the record space can hold what they say.
    bool PositionsValid() const;
    // The positions (relaxed loads: the lock orders them).
    uint64_t Head() const;
    uint64_t Tail() const;

    Header* header_;
    char* data_;
    uint64_t capacity_;
    absl::Status status_;
    bool held_ = true;
    bool owner_died_ = false;
    int pushed_ = 0;  // records pushed under this hold
    bool popped_ = false;
  };

  // Whether the ring held no record a moment ago, read without the lock: a
  // hint (for skipping the lock when there is nothing to take), which may
  // be stale by the time it returns.
  bool LooksEmpty() const;

  // Blocks without the lock until the ring holds a record (true; another
  // consumer may take it first) or `deadline` passes (false). Does not take
  // the lock: a stopped holder does not delay it.
  bool WaitForRecord(std::optional<absl::Time> deadline) const;

  // Blocks without the lock until a record with a `payload_size`-byte
  // payload would fit (true; another producer may fill it first) or
  // `deadline` passes (false). A full ring wakes its waiting producers when
  // it is half empty (or empty, for payloads over half its size). Does not
  // take the lock either.
  bool WaitForRoom(std::size_t payload_size,
                   std::optional<absl::Time> deadline) const;

 private:
  SharedRing(Header* header, char* data, uint64_t capacity)
      : header_(header), data_(data), capacity_(capacity) {}
  Header* header_;
  char* data_;
  uint64_t capacity_;  // from the size of the mapping, not from the memory
};

}  // namespace mp::ipc_internal

#endif  // MULTIPROCESSING_IPC_SHARED_RING_H_
