// Python's multiprocessing.sharedctypes: Value, Array, RawValue, RawArray
// of a trivially copyable T, in shared memory that children given them as
// Process arguments (fork or spawn) see.
//
//   auto counter = mp::Value<int64_t>::Create(0);   // with an RLock
//   { std::lock_guard<mp::RLock> g(*counter->get_lock());
//   ++*counter->get_obj(); }
//
// value()/set_value() (and Array's Get/Set) take the lock for that one
// access, as Python's synchronized wrappers do: `v.set_value(v.value() + 1)`
// is two accesses, not an atomic increment; hold get_lock() across both.
// They use lock() and so abort if the lock's holder died (see
// sync/synchronize.h); code that must survive that uses
// get_lock()->Acquire() and get_obj().
//
// Default-constructed (valid() false): no shared memory, but safe to use.
// value() is T(), set_value() does nothing, get()/get_obj()/data() are null
// (get_obj() of an Array: an empty span), size() is 0, get_lock() is null,
// lock()/unlock() do nothing, and Array's Get/Set are kFailedPrecondition.
// A RawArray's operator[] has no element to refer to (as for any index
// >= size()): use span() or Array's Get/Set, which check. Make one with
// Create().
#ifndef MULTIPROCESSING_SHARED_MEMORY_SHAREDCTYPES_H_
#define MULTIPROCESSING_SHARED_MEMORY_SHAREDCTYPES_H_

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "multiprocessing/ipc/codec.h"
#include "multiprocessing/sync/segment.h"
#include "multiprocessing/sync/synchronize.h"

namespace mp {

namespace sharedctypes_internal {

constexpr uint32_t kValueKind = 7;

// What a default-constructed one's Status-returning methods return.
[[nodiscard]] inline absl::Status NotCreatedError(const char* type) {
  return absl::FailedPreconditionError(
      std::string(type) +
      ": default-constructed, no shared memory; make one with " + type +
      "<T>::Create(...)");
}

// T's identity in an encoding, so that a child decoding a Value<int32_t>
// as a Value<double> is refused.
template <typename T>
constexpr uint64_t TypeTag() {
  return (uint64_t{sizeof(T)} << 8) | (std::is_floating_point_v<T> ? 1 : 0) |
         (std::is_signed_v<T> ? 2 : 0) | (std::is_integral_v<T> ? 4 : 0);
}

// count elements of T in a segment.
template <typename T>
class Storage {
 public:
  static_assert(std::is_trivially_copyable_v<T>,
                "Value/Array hold trivially copyable types only");
  static_assert(alignof(T) <= 64, "over-aligned types are not supported");

  [[nodiscard]] static absl::StatusOr<Storage> Create(std::size_t count) {
    auto s = sync_internal::Segment::Create(
        kValueKind, sizeof(T) * (count == 0 ? 1 : count));
    if (!s.ok()) return s.status();
    return Storage(*std::move(s), count);
  }
  Storage() = default;

  // Null when default-constructed.
  T* data() const {
    return segment_ ? static_cast<T*>(segment_->data()) : nullptr;
  }
  std::size_t count() const { return count_; }
  bool valid() const { return segment_ != nullptr; }

  void Encode(Encoder& e) const {
    e.EncodeTuple(TypeTag<T>(), static_cast<uint64_t>(count_),
                  sync_internal::SegmentRef{segment_, kValueKind});
  }
  [[nodiscard]] static absl::StatusOr<Storage> Decode(Decoder& d) {
    uint64_t tag = 0, count = 0;
    sync_internal::SegmentRef ref{nullptr, kValueKind};
    if (absl::Status s = d.DecodeTuple(&tag, &count, &ref); !s.ok()) return s;
    if (tag != TypeTag<T>() ||
        ref.segment->size() < sizeof(T) * (count == 0 ? 1 : count)) {
      return absl::InvalidArgumentError(
          "codec: a shared Value/Array of another type or size");
    }
    return Storage(std::move(ref.segment), static_cast<std::size_t>(count));
  }

 private:
  Storage(std::shared_ptr<sync_internal::Segment> s, std::size_t count)
      : segment_(std::move(s)), count_(count) {}
  std::shared_ptr<sync_internal::Segment> segment_;
  std::size_t count_ = 0;
};

// Holds the lock, if any, for one access.
class Guard {
 public:
  explicit Guard(RLock* l) : l_(l) {
    if (l_ != nullptr) l_->lock();
  }
  ~Guard() {
    if (l_ != nullptr) l_->unlock();
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

 private:
  RLock* l_;
};

}  // namespace sharedctypes_internal

// RawValue(typecode, value): no lock.
template <typename T>
class RawValue {
 public:
  [[nodiscard]] static absl::StatusOr<RawValue> Create(T value = T()) {
    auto s = sharedctypes_internal::Storage<T>::Create(1);
    if (!s.ok()) return s.status();
    std::memcpy(s->data(), &value, sizeof(T));
    return RawValue(*std::move(s));
  }
  // No value (see the top of this file): Create one.
  RawValue() = default;

  // Default-constructed: T(), and set_value() does nothing.
  T value() const {
    T v{};
    if (valid()) std::memcpy(&v, storage_.data(), sizeof(T));
    return v;
  }
  void set_value(const T& v) {
    if (valid()) std::memcpy(storage_.data(), &v, sizeof(T));
  }
  T* get() const { return storage_.data(); }
  bool valid() const { return storage_.valid(); }

 private:
  friend struct Codec<RawValue>;
  explicit RawValue(sharedctypes_internal::Storage<T> s)
      : storage_(std::move(s)) {}
  sharedctypes_internal::Storage<T> storage_;
};

// RawArray(typecode, size_or_initializer): no lock.
template <typename T>
class RawArray {
 public:
  [[nodiscard]] static absl::StatusOr<RawArray> Create(std::size_t size) {
    auto s = sharedctypes_internal::Storage<T>::Create(size);
    if (!s.ok()) return s.status();
    return RawArray(*std::move(s));
  }
  [[nodiscard]] static absl::StatusOr<RawArray> Create(
      absl::Span<const T> initializer) {
    absl::StatusOr<RawArray> a = Create(initializer.size());
    if (a.ok() && !initializer.empty()) {
      std::memcpy(a->data(), initializer.data(),
                  sizeof(T) * initializer.size());
    }
    return a;
  }
  // No array (see the top of this file): Create one.
  RawArray() = default;

  std::size_t size() const { return storage_.count(); }
  T* data() const { return storage_.data(); }
  // i < size() (so never on a default-constructed one): asserted.
  T& operator[](std::size_t i) const {
    assert(i < size() && "mp::RawArray: index out of range");
    return data()[i];
  }
  absl::Span<T> span() const { return {data(), size()}; }
  bool valid() const { return storage_.valid(); }

 private:
  friend struct Codec<RawArray>;
  explicit RawArray(sharedctypes_internal::Storage<T> s)
      : storage_(std::move(s)) {}
  sharedctypes_internal::Storage<T> storage_;
};

// Value(typecode, value, lock=True): with an RLock (a new one, or the one
// given), or none (lock=False: get_lock() is null, as a raw value).
template <typename T>
class Value {
 public:
  [[nodiscard]] static absl::StatusOr<Value> Create(T value = T(),
                                                    bool lock = true) {
    std::optional<RLock> l;
    if (lock) {
      absl::StatusOr<RLock> made = RLock::Create();
      if (!made.ok()) return made.status();
      l = *std::move(made);
    }
    return Make(value, std::move(l));
  }
  [[nodiscard]] static absl::StatusOr<Value> Create(T value, RLock lock) {
    return Make(value, std::move(lock));
  }
  // No value (see the top of this file): Create one.
  Value() = default;

  // .value (under the lock).
  T value() const {
    Guard g(lock_.get());
    return raw_.value();
  }
  void set_value(const T& v) {
    Guard g(lock_.get());
    raw_.set_value(v);
  }
  // get_lock(), get_obj(); and acquire/release (the lock's).
  RLock* get_lock() const { return lock_.get(); }
  T* get_obj() const { return raw_.get(); }
  // No lock (lock = false, or default-constructed): do nothing.
  void lock() {
    if (lock_ != nullptr) lock_->lock();
  }
  void unlock() {
    if (lock_ != nullptr) lock_->unlock();
  }
  bool valid() const { return raw_.valid(); }

 private:
  friend struct Codec<Value>;
  using Guard = sharedctypes_internal::Guard;
  [[nodiscard]] static absl::StatusOr<Value> Make(T value,
                                                  std::optional<RLock> lock) {
    absl::StatusOr<RawValue<T>> raw = RawValue<T>::Create(value);
    if (!raw.ok()) return raw.status();
    Value v;
    v.raw_ = *std::move(raw);
    if (lock) v.lock_ = std::make_shared<RLock>(*std::move(lock));
    return v;
  }
  RawValue<T> raw_;
  std::shared_ptr<RLock> lock_;
};

// Array(typecode, size_or_initializer, lock=True).
template <typename T>
class Array {
 public:
  [[nodiscard]] static absl::StatusOr<Array> Create(std::size_t size,
                                                    bool lock = true) {
    absl::StatusOr<RawArray<T>> raw = RawArray<T>::Create(size);
    if (!raw.ok()) return raw.status();
    return Make(*std::move(raw), lock);
  }
  [[nodiscard]] static absl::StatusOr<Array> Create(
      absl::Span<const T> initializer, bool lock = true) {
    absl::StatusOr<RawArray<T>> raw = RawArray<T>::Create(initializer);
    if (!raw.ok()) return raw.status();
    return Make(*std::move(raw), lock);
  }
  // No array (see the top of this file): Create one.
  Array() = default;

  std::size_t size() const { return raw_.size(); }
  // a[i] and a[i] = v, each under the lock. Out of range: kOutOfRange
  // (IndexError).
  [[nodiscard]] absl::StatusOr<T> Get(std::size_t i) const {
    if (!valid()) return NotCreated();
    if (i >= size()) return absl::OutOfRangeError("Array: index out of range");
    Guard g(lock_.get());
    return raw_[i];
  }
  [[nodiscard]] absl::Status Set(std::size_t i, const T& v) {
    if (!valid()) return NotCreated();
    if (i >= size()) return absl::OutOfRangeError("Array: index out of range");
    Guard g(lock_.get());
    raw_[i] = v;
    return absl::OkStatus();
  }
  RLock* get_lock() const { return lock_.get(); }
  // get_obj(): the elements, unsynchronised.
  absl::Span<T> get_obj() const { return raw_.span(); }
  // No lock (lock = false, or default-constructed): do nothing.
  void lock() {
    if (lock_ != nullptr) lock_->lock();
  }
  void unlock() {
    if (lock_ != nullptr) lock_->unlock();
  }
  bool valid() const { return raw_.valid(); }

 private:
  friend struct Codec<Array>;
  using Guard = sharedctypes_internal::Guard;
  [[nodiscard]] static absl::Status NotCreated() {
    return sharedctypes_internal::NotCreatedError("mp::Array");
  }
  [[nodiscard]] static absl::StatusOr<Array> Make(RawArray<T> raw, bool lock) {
    Array a;
    a.raw_ = std::move(raw);
    if (lock) {
      absl::StatusOr<RLock> l = RLock::Create();
      if (!l.ok()) return l.status();
      a.lock_ = std::make_shared<RLock>(*std::move(l));
    }
    return a;
  }
  RawArray<T> raw_;
  std::shared_ptr<RLock> lock_;
};

// As Process arguments.
template <typename T>
struct Codec<RawValue<T>> {
  static void Encode(const RawValue<T>& v, Encoder& e) {
    if (!v.valid()) return e.WriteNone();
    v.storage_.Encode(e);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, RawValue<T>* out) {
    if (d.is_none()) {
      *out = RawValue<T>();
      return absl::OkStatus();
    }
    auto s = sharedctypes_internal::Storage<T>::Decode(d);
    if (!s.ok()) return s.status();
    *out = RawValue<T>(*std::move(s));
    return absl::OkStatus();
  }
};

template <typename T>
struct Codec<RawArray<T>> {
  static void Encode(const RawArray<T>& v, Encoder& e) {
    if (!v.valid()) return e.WriteNone();
    v.storage_.Encode(e);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, RawArray<T>* out) {
    if (d.is_none()) {
      *out = RawArray<T>();
      return absl::OkStatus();
    }
    auto s = sharedctypes_internal::Storage<T>::Decode(d);
    if (!s.ok()) return s.status();
    *out = RawArray<T>(*std::move(s));
    return absl::OkStatus();
  }
};

namespace sharedctypes_internal {
// (raw, lock or None) for Value and Array.
template <typename Wrapper, typename Raw>
void EncodeSynchronized(const Raw& raw, const std::shared_ptr<RLock>& lock,
                        Encoder& e) {
  const RLock none;
  e.EncodeTuple(raw, lock != nullptr ? *lock : none);
}
template <typename Raw>
[[nodiscard]] absl::Status DecodeSynchronized(Decoder& d, Raw* raw,
                                              std::shared_ptr<RLock>* lock) {
  RLock l;
  if (absl::Status s = d.DecodeTuple(raw, &l); !s.ok()) return s;
  *lock = l.valid() ? std::make_shared<RLock>(std::move(l)) : nullptr;
  return absl::OkStatus();
}
}  // namespace sharedctypes_internal

template <typename T>
struct Codec<Value<T>> {
  static void Encode(const Value<T>& v, Encoder& e) {
    if (!v.valid()) return e.WriteNone();
    sharedctypes_internal::EncodeSynchronized<Value<T>>(v.raw_, v.lock_, e);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Value<T>* out) {
    *out = Value<T>();
    if (d.is_none()) return absl::OkStatus();
    return sharedctypes_internal::DecodeSynchronized(d, &out->raw_,
                                                     &out->lock_);
  }
};

template <typename T>
struct Codec<Array<T>> {
  static void Encode(const Array<T>& v, Encoder& e) {
    if (!v.valid()) return e.WriteNone();
    sharedctypes_internal::EncodeSynchronized<Array<T>>(v.raw_, v.lock_, e);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Array<T>* out) {
    *out = Array<T>();
    if (d.is_none()) return absl::OkStatus();
    return sharedctypes_internal::DecodeSynchronized(d, &out->raw_,
                                                     &out->lock_);
  }
};

}  // namespace mp

#endif  // MULTIPROCESSING_SHARED_MEMORY_SHAREDCTYPES_H_
