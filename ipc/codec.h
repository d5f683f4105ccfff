// The value codec behind Connection::Send<T>() / Recv<T>() and the queues:
// a C++ value as a pickle, the format CPython's Connection.send() and recv()
// use, so typed messages cross between C++ and Python.
//
//   std::string buf;
//   absl::Status s = mp::Encode(std::pair<int, std::string>(1, "x"), &buf);
//   absl::StatusOr<std::pair<int64_t, std::string>> v =
//       mp::Decode<std::pair<int64_t, std::string>>(buf);
//
// Python type    C++ types that encode to it / decode from it
// ------------   ---------------------------------------------------------
// None           std::nullopt (an empty std::optional), std::monostate
// bool           bool
// int            every integer type (the char types too), absl::int128
// float          float, double (decoding also takes an int that fits)
// str            std::string (valid UTF-8), std::string_view,
//                absl::string_view, const char*, char arrays (encode only)
// bytes          mp::Bytes, std::vector<char>, std::vector<unsigned char>,
//                std::vector<std::byte> (bytearray decodes as bytes)
// list           std::vector<T>, std::array<T, N>
// tuple          std::pair, std::tuple, user types (Codec<T> below)
// dict           std::map, std::unordered_map
// set            std::set, std::unordered_set
// frozenset      (decodes into std::set / std::unordered_set)
// (any)          mp::PyValue (ipc/py_value.h): whatever Python sent
// (handles)      mp::Connection, the queues: only as Process arguments
// protobuf       bytes: the serialised message (ipc/codec_protobuf.h)
//
// Decoding is lenient where Python programs are: a list and a tuple are
// interchangeable (std::vector, std::array, std::pair, std::tuple and user
// tuples accept either), a set and a frozenset too, str and bytes both
// decode into std::string and the byte types, and an int into a float type
// when it is exactly representable. Everything else must match: bool is not
// an int, an int that does not fit the requested type is an error, an array
// or tuple of the wrong length is an error. std::optional<T> is None or the
// T itself; std::variant takes its first alternative that decodes the value.
// Dict keys and set elements that are lists or sets are written as tuples
// and frozensets (Python cannot hash the others). Integers beyond 128 bits
// are kInvalidArgument, as are big ints into narrower types.
//
// Errors are statuses, never crashes or exceptions:
//   kInvalidArgument  a value of the wrong type ("codec: expected int, got
//                     str"), out of range, a pickle opcode we refuse (below),
//                     a handle outside a Process's arguments; on encode, a
//                     std::string that is not UTF-8 (send mp::Bytes).
//   kDataLoss         truncated or malformed pickle.
//   kResourceExhausted  decoding would allocate more than the budget, or
//                     nests deeper than kMaxDepth.
//
// Safe by construction: loading runs no code. The pickle opcodes that import
// or call in Python (GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ,
// NEWOBJ_EX, PERSID, BINPERSID, EXT1/2/4) are refused with kInvalidArgument
// naming the opcode, whatever type was asked for (ipc/pickle.h).
//
// Bounded by construction: the parse holds at most 24 bytes of nodes per
// byte received and never copies a str or bytes; building the C++ value is
// charged against a budget of kBudgetPerByte (64) bytes per byte received
// plus kBudgetBase (64 KiB): each container element costs at least its
// sizeof, strings their length, map and set entries their node. Shared
// references (the pickle memo) are followed but charged each time, so a
// small message cannot expand into a large value. std::unordered_* decoding
// refuses keys crafted to collide (a hash flood) instead of going quadratic.
//
// Extension point: specialise mp::Codec for your type. The built-in types
// use the same mechanism.
//
//   struct Point {
//     int x = 0;
//     int y = 0;
//     std::string label;
//   };
//
//   namespace mp {
//   template <>
//   struct Codec<Point> {
//     static void Encode(const Point& p, Encoder& e) {
//       e.EncodeTuple(p.x, p.y, p.label);  // Python sees (x, y, label)
//     }
//     static absl::Status Decode(Decoder& d, Point* p) {
//       return d.DecodeTuple(&p->x, &p->y, &p->label);
//     }
//   };
//   }  // namespace mp
//
// A family of types can be covered with the second parameter:
//   template <typename T>
//   struct Codec<T, std::enable_if_t<IsMyRecord<T>::value>> {...};
// (it must not also match a built-in specialisation).
//
// Rules for a Codec: Encode writes exactly one value through the Encoder
// (it cannot fail, but may call Encoder::Fail); Decode reads the one value
// the Decoder stands on and must overwrite all of *out. Decode<T>() needs T
// and decoded elements to be default constructible.
#ifndef MULTIPROCESSING_IPC_CODEC_H_
#define MULTIPROCESSING_IPC_CODEC_H_

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "multiprocessing/ipc/pickle.h"
#include "multiprocessing/platform/handle.h"

namespace mp {

// The extension point (see the top of this file). Deliberately undefined.
template <typename T, typename Enable = void>
struct Codec;

class PyValue;  // ipc/py_value.h

// Python's bytes: a std::string that the codec sends as bytes, not as str.
class Bytes : public std::string {
 public:
  using std::string::string;
  Bytes() = default;
  explicit Bytes(std::string s) : std::string(std::move(s)) {}
};

// The Python type of a pickled value.
using PyType = pickle::Kind;

using HandleList = std::vector<platform::NativeHandle>;

// The handles (Connections, queues) met while encoding a Process's
// arguments, and, in the child, the same handles to claim while decoding.
// A handle travels as its index in the table, never as a raw number.
class HandleTable {
 public:
  // Encoding side: an empty table that records.
  HandleTable() = default;
  // Decoding side: handles this process now owns, in the parent's order;
  // the ones nobody claims are closed with the table.
  static HandleTable Inherited(std::vector<platform::NativeHandle> handles);

  HandleTable(HandleTable&&) noexcept;
  HandleTable& operator=(HandleTable&&) noexcept;
  ~HandleTable();

  // The index under which `handle` travels (the same handle twice: one
  // index).
  int64_t Add(platform::NativeHandle handle);
  // Takes the handle at `index`. kInvalidArgument when it is not in the
  // table or was claimed already.
  [[nodiscard]] absl::StatusOr<platform::ScopedHandle> Claim(int64_t index);

  const std::vector<platform::NativeHandle>& handles() const {
    return handles_;
  }

 private:
  std::vector<platform::NativeHandle> handles_;
  std::vector<bool> claimed_;  // decoding side only
  bool owned_ = false;
};

// Writes one pickled value (without the PROTO header and STOP: mp::Encode
// adds those).
class Encoder {
 public:
  explicit Encoder(std::string* out, HandleTable* handles = nullptr)
      : out_(out), handles_(handles) {}

  template <typename T>
  void Encode(const T& value) {
    Codec<T>::Encode(value, *this);
  }

  // A tuple of the given fields: the usual shape for a user struct.
  template <typename... Ts>
  void EncodeTuple(const Ts&... fields) {
    constexpr std::size_t n = sizeof...(Ts);
    if constexpr (n == 0) {
      Put(pickle::op::kEmptyTuple);
    } else if constexpr (n <= 3) {
      (Encode(fields), ...);
      Put(static_cast<char>(pickle::op::kTuple1 + (n - 1)));
    } else {
      Put(pickle::op::kMark);
      (Encode(fields), ...);
      Put(pickle::op::kTuple);
    }
  }

  void WriteNone() { Put(pickle::op::kNone); }
  void WriteBool(bool v) {
    Put(v ? pickle::op::kNewTrue : pickle::op::kNewFalse);
  }
  void WriteInt(absl::int128 v) {
    if (v >= 0 && v < 0x100) {  // BININT1, the commonest
      const char b[2] = {pickle::op::kBinInt1,
                         static_cast<char>(static_cast<uint8_t>(v))};
      out_->append(b, 2);
    } else {
      pickle::AppendInt(v, out_);
    }
  }
  void WriteFloat(double v);
  // A str: `utf8` must be valid UTF-8, else the encoding fails.
  void WriteStr(absl::string_view utf8);
  void WriteBytes(absl::string_view bytes);

  // A list (a tuple inside a dict key or set element) of the range's
  // elements, each encoded as Element.
  template <typename Element, typename Range>
  void WriteList(const Range& range);
  // A set (a frozenset inside a key) of the range's elements.
  template <typename Element, typename Range>
  void WriteSet(const Range& range);
  // A dict of the range's key/value pairs.
  template <typename Key, typename Value, typename Range>
  void WriteDict(const Range& range);

  // A handle carried by the value (Connection, Queue): its index in the
  // table. Without a table (a message, not a Process's arguments) the
  // encoding fails and -1 is returned.
  int64_t AddHandle(platform::NativeHandle handle);

  // Makes the encoding fail with `status` (the first failure is kept).
  void Fail(absl::Status status) {
    if (status_.ok()) status_ = std::move(status);
  }
  const absl::Status& status() const { return status_; }

  // Whether the value being encoded stays with the sender as well: a
  // Process argument passed by std::ref (Codec<std::reference_wrapper<T>>)
  // or by pointer, which the parent keeps after Start(). A Codec whose value
  // must then behave differently (Connection: no read-ahead, as two
  // processes may read it) looks here.
  bool kept_by_sender() const { return kept_depth_ > 0; }
  // Within its lifetime, kept_by_sender() is true.
  class KeptBySender {
   public:
    explicit KeptBySender(Encoder& e) : e_(e) { ++e_.kept_depth_; }
    ~KeptBySender() { --e_.kept_depth_; }
    KeptBySender(const KeptBySender&) = delete;
    KeptBySender& operator=(const KeptBySender&) = delete;

   private:
    Encoder& e_;
  };

 private:
  friend struct Codec<PyValue>;
  void Put(char c) { out_->push_back(c); }
  // Inside a dict key or a set element: lists go as tuples, sets as
  // frozensets, so that Python can hash them.
  bool in_key() const { return key_depth_ > 0; }

  std::string* out_;
  HandleTable* handles_;
  int key_depth_ = 0;
  int kept_depth_ = 0;
  absl::Status status_;
};

// Reads one value of a parsed pickle. A Codec's Decode gets a Decoder
// standing on the value to decode; elements of containers get their own.
class Decoder {
 public:
  // Values nested deeper than this are kResourceExhausted (Python's limit is
  // about 1000 frames; this keeps C++ stacks small).
  static constexpr int kMaxDepth = 200;

  // Decodes this value into *out through Codec<T>.
  template <typename T>
  [[nodiscard]] absl::Status Decode(T* out) {
    return Codec<T>::Decode(*this, out);
  }

  // Reads a tuple (or list) of exactly sizeof...(Ts) values into the fields:
  // the counterpart of Encoder::EncodeTuple.
  template <typename... Ts>
  [[nodiscard]] absl::Status DecodeTuple(Ts*... fields);

  // The Python type of this value.
  PyType type() const { return node().kind; }
  bool is_none() const { return type() == PyType::kNone; }

  // Scalars. Each is kInvalidArgument for a value of another type.
  [[nodiscard]] absl::Status ReadBool(bool* out) const;
  // int (any size up to 128 bits).
  [[nodiscard]] absl::Status ReadInt(absl::int128* out) const;
  // float, or an int that a double holds exactly.
  [[nodiscard]] absl::Status ReadFloat(double* out) const;
  // str or bytes: a view into the message.
  [[nodiscard]] absl::Status ReadBytes(absl::string_view* out) const;

  // Containers: the number of elements (a dict's: of pairs), and a visit of
  // each. `types` lists what is accepted (list and tuple for a sequence).
  std::size_t size() const {
    return type() == PyType::kDict ? node().c.count / 2 : node().c.count;
  }
  [[nodiscard]] absl::Status ExpectType(std::initializer_list<PyType> types,
                                        absl::string_view expected) const;
  // f(Decoder& element) for a list, tuple, set or frozenset; f(Decoder& key,
  // Decoder& value) for a dict.
  template <typename F>
  [[nodiscard]] absl::Status ForEach(F&& f) const;
  template <typename F>
  [[nodiscard]] absl::Status ForEachPair(F&& f) const;

  // Charges `bytes` of what decoding is about to allocate against the budget
  // (see the top of the file): kResourceExhausted once it is spent.
  [[nodiscard]] absl::Status Charge(std::size_t bytes) const;
  absl::Status Charge(std::size_t count, std::size_t bytes_each) const;

  // "codec: expected <expected>, got <this value's type>" (kInvalidArgument).
  [[nodiscard]] absl::Status TypeError(absl::string_view expected) const;

  // The handle at `index` in the Process arguments' handle table.
  [[nodiscard]] absl::StatusOr<platform::ScopedHandle> ClaimHandle(
      int64_t index) const;

  // Internal: the state one decode shares.
  struct Context {
    const pickle::Tape* tape;
    std::size_t budget;
    HandleTable* handles;
  };
  Decoder(Context* context, uint32_t node, int depth)
      : context_(context), node_(context->tape->Resolve(node)), depth_(depth) {}
  std::size_t budget() const { return context_->budget; }
  void set_budget(std::size_t b) const { context_->budget = b; }

 private:
  const pickle::Node& node() const { return context_->tape->node(node_); }
  // kResourceExhausted when this value's elements would nest too deep.
  [[nodiscard]] absl::Status CheckDepth() const;
  Decoder Child(uint32_t node) const {
    return Decoder(context_, node, depth_ + 1);
  }

  Context* context_;
  uint32_t node_;
  int depth_;
};

inline constexpr std::size_t kBudgetPerByte = 64;
inline constexpr std::size_t kBudgetBase = std::size_t{64} << 10;

// IsEncodable<T>::value: whether T has a Codec, looking inside the standard
// containers (whose Codec exists whatever the element type).
template <typename T, typename = void>
struct IsEncodable : std::false_type {};
template <typename T>
struct IsEncodable<T, std::void_t<decltype(sizeof(Codec<T>))>>
    : std::true_type {};
template <typename T>
struct IsEncodable<T&> : IsEncodable<T> {};
template <typename T>
struct IsEncodable<const T> : IsEncodable<T> {};
template <typename A, typename B>
struct IsEncodable<std::pair<A, B>>
    : std::conjunction<IsEncodable<A>, IsEncodable<B>> {};
template <typename... Ts>
struct IsEncodable<std::tuple<Ts...>> : std::conjunction<IsEncodable<Ts>...> {};
template <typename... Ts>
struct IsEncodable<std::variant<Ts...>> : std::conjunction<IsEncodable<Ts>...> {
};
template <typename T>
struct IsEncodable<std::optional<T>> : IsEncodable<T> {};
template <typename T>
struct IsEncodable<std::reference_wrapper<T>> : IsEncodable<T> {};
template <typename T, std::size_t N>
struct IsEncodable<std::array<T, N>> : IsEncodable<T> {};
template <typename T, typename... Rest>
struct IsEncodable<std::vector<T, Rest...>> : IsEncodable<T> {};
template <typename T, typename... Rest>
struct IsEncodable<std::set<T, Rest...>> : IsEncodable<T> {};
template <typename T, typename... Rest>
struct IsEncodable<std::unordered_set<T, Rest...>> : IsEncodable<T> {};
template <typename K, typename V, typename... Rest>
struct IsEncodable<std::map<K, V, Rest...>>
    : std::conjunction<IsEncodable<K>, IsEncodable<V>> {};
template <typename K, typename V, typename... Rest>
struct IsEncodable<std::unordered_map<K, V, Rest...>>
    : std::conjunction<IsEncodable<K>, IsEncodable<V>> {};

namespace codec_internal {

// The whole pickle of `value`: PROTO 4, the value, STOP. Appends to *out;
// on failure *out is as it was.
template <typename T>
[[nodiscard]] absl::Status EncodeImpl(const T& value, std::string* out,
                                      HandleTable* handles) {
  const std::size_t old_size = out->size();
  const char header[2] = {pickle::op::kProto,
                          static_cast<char>(pickle::kProtocol)};
  out->append(header, 2);
  Encoder e(out, handles);
  e.Encode(value);
  out->push_back(pickle::op::kStop);
  if (!e.status().ok()) {
    out->resize(old_size);
    return e.status();
  }
  return absl::OkStatus();
}

// Parses `data` (a thread-local tape, reused) and hands the root value to
// `decode`. Catches std::bad_alloc: no exception leaves the codec.
[[nodiscard]] absl::Status DecodeRoot(absl::string_view data,
                                      HandleTable* handles,
                                      absl::Status (*decode)(Decoder&, void*),
                                      void* out);

template <typename T>
[[nodiscard]] absl::Status DecodeInto(Decoder& d, void* out) {
  return d.Decode(static_cast<T*>(out));
}

// Instantiated only for a type with no Codec, so the compiler's first error
// names the type: "In instantiation of 'struct
// mp::codec_internal::NoCodecFor<Config>'".
template <typename T>
struct NoCodecFor {
  static_assert(sizeof(T) == 0,
                "this type has no mp::Codec: specialise mp::Codec<T> for it "
                "(multiprocessing/ipc/codec.h), or include "
                "multiprocessing/ipc/codec_protobuf.h for a "
                "protobuf message");
};

// Whether T is encodable; for a type that is not, fails to compile with
// NoCodecFor<T>'s message (callers then instantiate nothing else of T, so
// that message is the only one).
template <typename T>
constexpr bool CheckEncodable() {
  if constexpr (IsEncodable<T>::value) {
    return true;
  } else {
    return sizeof(NoCodecFor<T>) == 0;
  }
}

}  // namespace codec_internal

// Appends the pickle of `value` to *out. kInvalidArgument for a value that
// cannot be sent (a std::string that is not UTF-8, a Connection in a
// message); *out is then unchanged.
template <typename T>
[[nodiscard]] absl::Status Encode(const T& value, std::string* out) {
  if constexpr (codec_internal::CheckEncodable<T>()) {
    return codec_internal::EncodeImpl(value, out, nullptr);
  } else {
    return absl::OkStatus();  // not reached: does not compile
  }
}
// The same for a Process's arguments: handles are recorded in *handles.
template <typename T>
[[nodiscard]] absl::Status Encode(const T& value, std::string* out,
                                  HandleTable* handles) {
  if constexpr (codec_internal::CheckEncodable<T>()) {
    return codec_internal::EncodeImpl(value, out, handles);
  } else {
    return absl::OkStatus();  // not reached: does not compile
  }
}

// Decodes the pickle that occupies all of `data` as a T.
template <typename T>
[[nodiscard]] absl::StatusOr<T> Decode(absl::string_view data,
                                       HandleTable* handles = nullptr) {
  if constexpr (codec_internal::CheckEncodable<T>()) {
    T value{};
    if (absl::Status s = codec_internal::DecodeRoot(
            data, handles, &codec_internal::DecodeInto<T>, &value);
        !s.ok()) {
      return s;
    }
    return value;
  } else {
    return absl::UnimplementedError("");  // not reached: does not compile
  }
}

// ---------------------------------------------------------------------------
// Encoder and Decoder templates.

template <typename Element, typename Range>
void Encoder::WriteList(const Range& range) {
  if (in_key()) {
    Put(pickle::op::kMark);
    for (const auto& x : range) Encode<Element>(x);
    Put(pickle::op::kTuple);
    return;
  }
  Put(pickle::op::kEmptyList);
  if (std::begin(range) == std::end(range)) return;
  Put(pickle::op::kMark);
  for (const auto& x : range) Encode<Element>(x);
  Put(pickle::op::kAppends);
}

template <typename Element, typename Range>
void Encoder::WriteSet(const Range& range) {
  const bool frozen = in_key();
  ++key_depth_;
  if (!frozen) Put(pickle::op::kEmptySet);
  if (frozen || std::begin(range) != std::end(range)) {
    Put(pickle::op::kMark);
    for (const auto& x : range) Encode<Element>(x);
    Put(frozen ? pickle::op::kFrozenSet : pickle::op::kAddItems);
  }
  --key_depth_;
}

template <typename Key, typename Value, typename Range>
void Encoder::WriteDict(const Range& range) {
  Put(pickle::op::kEmptyDict);
  if (std::begin(range) == std::end(range)) return;
  Put(pickle::op::kMark);
  for (const auto& [key, value] : range) {
    ++key_depth_;
    Encode<Key>(key);
    --key_depth_;
    const int saved = key_depth_;
    key_depth_ = 0;  // a value inside a key's dict is no key
    Encode<Value>(value);
    key_depth_ = saved;
  }
  Put(pickle::op::kSetItems);
}

template <typename F>
[[nodiscard]] absl::Status Decoder::ForEach(F&& f) const {
  const pickle::Tape& tape = *context_->tape;
  if (node().c.count == 0) return absl::OkStatus();
  if (absl::Status s = CheckDepth(); !s.ok()) return s;
  uint32_t c = node().c.first;
  for (uint32_t i = 0, n = node().c.count; i < n; ++i, c = tape.node(c).next) {
    Decoder element = Child(c);
    if (absl::Status s = f(element); !s.ok()) return s;
  }
  return absl::OkStatus();
}

template <typename F>
[[nodiscard]] absl::Status Decoder::ForEachPair(F&& f) const {
  const pickle::Tape& tape = *context_->tape;
  if (node().c.count == 0) return absl::OkStatus();
  if (absl::Status s = CheckDepth(); !s.ok()) return s;
  uint32_t c = node().c.first;
  for (uint32_t i = 0, n = node().c.count; i + 1 < n; i += 2) {
    const uint32_t v = tape.node(c).next;
    Decoder key = Child(c);
    Decoder value = Child(v);
    if (absl::Status s = f(key, value); !s.ok()) return s;
    c = tape.node(v).next;
  }
  return absl::OkStatus();
}

template <typename... Ts>
[[nodiscard]] absl::Status Decoder::DecodeTuple(Ts*... fields) {
  if (absl::Status s = ExpectType({PyType::kTuple, PyType::kList}, "tuple");
      !s.ok()) {
    return s;
  }
  if (size() != sizeof...(Ts)) {
    return absl::InvalidArgumentError(
        absl::StrCat("codec: expected a tuple of ", sizeof...(Ts),
                     " elements, got ", size()));
  }
  uint32_t c = node().c.first;
  absl::Status s;
  if constexpr (sizeof...(Ts) > 0) s = CheckDepth();
  [[maybe_unused]] auto one = [&](auto* field) {
    if (!s.ok()) return;
    Decoder element = Child(c);
    s = element.Decode(field);
    c = context_->tape->node(c).next;
  };
  (one(fields), ...);
  return s;
}

// ---------------------------------------------------------------------------
// Built-in codecs.

template <>
struct Codec<bool> {
  static void Encode(bool v, Encoder& e) { e.WriteBool(v); }
  [[nodiscard]] static absl::Status Decode(Decoder& d, bool* out) {
    return d.ReadBool(out);
  }
};

namespace codec_internal {
[[nodiscard]] absl::Status IntegerOutOfRange(absl::int128 v, std::size_t size,
                                             bool is_signed);

template <typename T>
[[nodiscard]] absl::Status DecodeInteger(Decoder& d, T* out) {
  absl::int128 v;
  if (absl::Status s = d.ReadInt(&v); !s.ok()) return s;
  if (v < static_cast<absl::int128>(std::numeric_limits<T>::min()) ||
      v > static_cast<absl::int128>(std::numeric_limits<T>::max())) {
    return IntegerOutOfRange(v, sizeof(T), std::is_signed_v<T>);
  }
  *out = static_cast<T>(v);
  return absl::OkStatus();
}
}  // namespace codec_internal

template <typename T>
struct Codec<T, std::enable_if_t<std::is_integral_v<T> &&
                                 !std::is_same_v<std::remove_cv_t<T>, bool>>> {
  static void Encode(const T& v, Encoder& e) {
    e.WriteInt(static_cast<absl::int128>(v));
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, T* out) {
    return codec_internal::DecodeInteger(d, out);
  }
};

template <>
struct Codec<absl::int128> {
  static void Encode(const absl::int128& v, Encoder& e) { e.WriteInt(v); }
  [[nodiscard]] static absl::Status Decode(Decoder& d, absl::int128* out) {
    return d.ReadInt(out);
  }
};

template <typename T>
struct Codec<T, std::enable_if_t<std::is_same_v<T, float> ||
                                 std::is_same_v<T, double>>> {
  static void Encode(const T& v, Encoder& e) { e.WriteFloat(v); }
  [[nodiscard]] static absl::Status Decode(Decoder& d, T* out) {
    double v;
    if (absl::Status s = d.ReadFloat(&v); !s.ok()) return s;
    if constexpr (std::is_same_v<T, float>) {
      if (std::isfinite(v) &&
          std::fabs(v) > std::numeric_limits<float>::max()) {
        return absl::InvalidArgumentError(
            absl::StrCat("codec: float ", v, " out of range for a float"));
      }
    }
    *out = static_cast<T>(v);
    return absl::OkStatus();
  }
};

namespace codec_internal {
// A str or bytes value copied into a byte container (charged).
template <typename C>
[[nodiscard]] absl::Status DecodeByteString(Decoder& d, C* out) {
  absl::string_view bytes;
  if (absl::Status s = d.ReadBytes(&bytes); !s.ok()) return s;
  if (absl::Status s = d.Charge(bytes.size()); !s.ok()) return s;
  using Char = typename C::value_type;
  const Char* p = reinterpret_cast<const Char*>(bytes.data());
  out->assign(p, p + bytes.size());
  return absl::OkStatus();
}
}  // namespace codec_internal

template <>
struct Codec<std::string> {
  static void Encode(const std::string& v, Encoder& e) { e.WriteStr(v); }
  [[nodiscard]] static absl::Status Decode(Decoder& d, std::string* out) {
    return codec_internal::DecodeByteString(d, out);
  }
};

template <>
struct Codec<Bytes> {
  static void Encode(const Bytes& v, Encoder& e) { e.WriteBytes(v); }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Bytes* out) {
    return codec_internal::DecodeByteString(d, out);
  }
};

// Views and C strings: encode only (a decoded view would dangle).
template <typename T>
struct Codec<T, std::enable_if_t<std::is_same_v<T, absl::string_view> ||
                                 std::is_same_v<T, std::string_view>>> {
  static void Encode(const T& v, Encoder& e) {
    e.WriteStr(absl::string_view(v.data(), v.size()));
  }
};

// A null pointer encodes as None.
template <typename T>
struct Codec<T, std::enable_if_t<std::is_same_v<T, const char*> ||
                                 std::is_same_v<T, char*>>> {
  static void Encode(const T& v, Encoder& e) {
    if (v == nullptr) {
      e.WriteNone();
    } else {
      e.WriteStr(absl::string_view(v));
    }
  }
};

// String literals and char buffers: up to the first NUL, or all N chars.
template <std::size_t N>
struct Codec<char[N]> {
  static void Encode(const char (&v)[N], Encoder& e) {
    std::size_t n = 0;
    while (n < N && v[n] != '\0') ++n;
    e.WriteStr(absl::string_view(v, n));
  }
};

template <>
struct Codec<std::monostate> {
  static void Encode(const std::monostate&, Encoder& e) { e.WriteNone(); }
  [[nodiscard]] static absl::Status Decode(Decoder& d, std::monostate*) {
    return d.is_none() ? absl::OkStatus() : d.TypeError("None");
  }
};

// vector<char>, vector<unsigned char>, vector<std::byte>: bytes.
template <typename T, typename A>
struct Codec<std::vector<T, A>,
             std::enable_if_t<std::is_same_v<T, char> ||
                              std::is_same_v<T, unsigned char> ||
                              std::is_same_v<T, std::byte>>> {
  static void Encode(const std::vector<T, A>& v, Encoder& e) {
    e.WriteBytes(
        absl::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, std::vector<T, A>* out) {
    return codec_internal::DecodeByteString(d, out);
  }
};

template <typename T, typename A>
struct Codec<std::vector<T, A>,
             std::enable_if_t<!std::is_same_v<T, char> &&
                              !std::is_same_v<T, unsigned char> &&
                              !std::is_same_v<T, std::byte>>> {
  static void Encode(const std::vector<T, A>& v, Encoder& e) {
    e.WriteList<T>(v);  // explicit T: vector<bool> iterates over proxies
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, std::vector<T, A>* out) {
    if (absl::Status s = d.ExpectType({PyType::kList, PyType::kTuple}, "list");
        !s.ok()) {
      return s;
    }
    if (absl::Status s = d.Charge(d.size(), sizeof(T)); !s.ok()) return s;
    out->clear();
    out->reserve(d.size());
    return d.ForEach([out](Decoder& element) {
      if constexpr (std::is_same_v<T, bool>) {
        bool b = false;
        absl::Status s = element.Decode(&b);
        out->push_back(b);
        return s;
      } else {
        out->emplace_back();
        return element.Decode(&out->back());
      }
    });
  }
};

template <typename T, std::size_t N>
struct Codec<std::array<T, N>> {
  static void Encode(const std::array<T, N>& v, Encoder& e) {
    e.WriteList<T>(v);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, std::array<T, N>* out) {
    if (absl::Status s = d.ExpectType({PyType::kList, PyType::kTuple}, "list");
        !s.ok()) {
      return s;
    }
    if (d.size() != N) {
      return absl::InvalidArgumentError(absl::StrCat(
          "codec: expected a list of ", N, " elements, got ", d.size()));
    }
    std::size_t i = 0;
    return d.ForEach(
        [&](Decoder& element) { return element.Decode(&(*out)[i++]); });
  }
};

namespace codec_internal {

// A decoded std::unordered_* whose keys pile up in one bucket is refused
// rather than decoded in quadratic time.
inline constexpr std::size_t kMaxBucketLength = 64;
[[nodiscard]] absl::Status HashFlood(std::size_t bucket_length);

template <typename C>
[[nodiscard]] absl::Status CheckBucket(const C& c,
                                       const typename C::key_type& key) {
  if (c.size() < kMaxBucketLength) return absl::OkStatus();
  const std::size_t b = c.bucket(key);
  std::size_t length = 0;
  for (auto it = c.begin(b); it != c.end(b); ++it) {
    if (++length > kMaxBucketLength) return HashFlood(length);
  }
  return absl::OkStatus();
}

template <typename C, typename = void>
struct IsHashed : std::false_type {};
template <typename C>
struct IsHashed<C,
                std::void_t<decltype(std::declval<const C&>().bucket_count())>>
    : std::true_type {};

template <typename Set>
struct SetCodec {
  using Key = typename Set::value_type;
  static void Encode(const Set& v, Encoder& e) { e.WriteSet<Key>(v); }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Set* out) {
    if (absl::Status s =
            d.ExpectType({PyType::kSet, PyType::kFrozenSet}, "set");
        !s.ok()) {
      return s;
    }
    // A tree node or hash node around each key.
    if (absl::Status s = d.Charge(d.size(), sizeof(Key) + 32); !s.ok()) {
      return s;
    }
    out->clear();
    if constexpr (IsHashed<Set>::value) out->reserve(d.size());
    return d.ForEach([out](Decoder& element) {
      Key k{};
      if (absl::Status s = element.Decode(&k); !s.ok()) return s;
      if constexpr (IsHashed<Set>::value) {
        if (absl::Status s = CheckBucket(*out, k); !s.ok()) return s;
      }
      out->insert(std::move(k));  // a repeated element merges, as in Python
      return absl::OkStatus();
    });
  }
};

template <typename Map>
struct MapCodec {
  using Key = typename Map::key_type;
  using Value = typename Map::mapped_type;
  static void Encode(const Map& v, Encoder& e) { e.WriteDict<Key, Value>(v); }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Map* out) {
    if (absl::Status s = d.ExpectType({PyType::kDict}, "dict"); !s.ok()) {
      return s;
    }
    if (absl::Status s =
            d.Charge(d.size(), sizeof(typename Map::value_type) + 32);
        !s.ok()) {
      return s;
    }
    out->clear();
    if constexpr (IsHashed<Map>::value) out->reserve(d.size());
    return d.ForEachPair([out](Decoder& key, Decoder& value) {
      Key k{};
      if (absl::Status s = key.Decode(&k); !s.ok()) return s;
      if constexpr (IsHashed<Map>::value) {
        if (absl::Status s = CheckBucket(*out, k); !s.ok()) return s;
      }
      // A repeated key: the last value wins, as in Python.
      auto it = out->try_emplace(std::move(k)).first;
      return value.Decode(&it->second);
    });
  }
};

template <typename Tuple, std::size_t... I>
void EncodeTupleElements([[maybe_unused]] const Tuple& t, Encoder& e,
                         std::index_sequence<I...>) {
  e.EncodeTuple(std::get<I>(t)...);
}

template <typename Tuple, std::size_t... I>
[[nodiscard]] absl::Status DecodeTupleElements(Decoder& d,
                                               [[maybe_unused]] Tuple* t,
                                               std::index_sequence<I...>) {
  return d.DecodeTuple(&std::get<I>(*t)...);
}

}  // namespace codec_internal

template <typename K, typename C, typename A>
struct Codec<std::set<K, C, A>> {
  using Set = std::set<K, C, A>;
  static void Encode(const Set& v, Encoder& e) {
    codec_internal::SetCodec<Set>::Encode(v, e);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Set* out) {
    return codec_internal::SetCodec<Set>::Decode(d, out);
  }
};
template <typename K, typename H, typename E, typename A>
struct Codec<std::unordered_set<K, H, E, A>> {
  using Set = std::unordered_set<K, H, E, A>;
  static void Encode(const Set& v, Encoder& e) {
    codec_internal::SetCodec<Set>::Encode(v, e);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Set* out) {
    return codec_internal::SetCodec<Set>::Decode(d, out);
  }
};
template <typename K, typename V, typename C, typename A>
struct Codec<std::map<K, V, C, A>> {
  using Map = std::map<K, V, C, A>;
  static void Encode(const Map& v, Encoder& e) {
    codec_internal::MapCodec<Map>::Encode(v, e);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Map* out) {
    return codec_internal::MapCodec<Map>::Decode(d, out);
  }
};
template <typename K, typename V, typename H, typename E, typename A>
struct Codec<std::unordered_map<K, V, H, E, A>> {
  using Map = std::unordered_map<K, V, H, E, A>;
  static void Encode(const Map& v, Encoder& e) {
    codec_internal::MapCodec<Map>::Encode(v, e);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Map* out) {
    return codec_internal::MapCodec<Map>::Decode(d, out);
  }
};

template <typename A, typename B>
struct Codec<std::pair<A, B>> {
  static void Encode(const std::pair<A, B>& v, Encoder& e) {
    e.EncodeTuple(v.first, v.second);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, std::pair<A, B>* out) {
    return d.DecodeTuple(&out->first, &out->second);
  }
};

template <typename... Ts>
struct Codec<std::tuple<Ts...>> {
  static void Encode(const std::tuple<Ts...>& v, Encoder& e) {
    codec_internal::EncodeTupleElements(v, e, std::index_sequence_for<Ts...>());
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, std::tuple<Ts...>* out) {
    return codec_internal::DecodeTupleElements(
        d, out, std::index_sequence_for<Ts...>());
  }
};

// std::ref(x): encoded as x, inside Encoder::KeptBySender (the sender keeps
// x: a Process argument passed by reference). Encoding only: a child
// decodes the referent's type.
template <typename T>
struct Codec<std::reference_wrapper<T>> {
  static void Encode(const std::reference_wrapper<T>& v, Encoder& e) {
    Encoder::KeptBySender kept(e);
    e.Encode(static_cast<const std::decay_t<T>&>(v.get()));
  }
};

// None, or the value itself.
template <typename T>
struct Codec<std::optional<T>> {
  static void Encode(const std::optional<T>& v, Encoder& e) {
    if (v.has_value()) {
      e.Encode(*v);
    } else {
      e.WriteNone();
    }
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, std::optional<T>* out) {
    if (d.is_none()) {
      out->reset();
      return absl::OkStatus();
    }
    if (!out->has_value()) out->emplace();
    return d.Decode(&**out);
  }
};

template <>
struct Codec<std::nullopt_t> {
  static void Encode(const std::nullopt_t&, Encoder& e) { e.WriteNone(); }
};

// The alternative itself; decoding takes the first alternative that accepts
// the value (so order alternatives from the most to the least specific).
template <typename... Ts>
struct Codec<std::variant<Ts...>> {
  using Variant = std::variant<Ts...>;
  static void Encode(const Variant& v, Encoder& e) {
    if (v.valueless_by_exception()) {
      e.WriteNone();
      return;
    }
    std::visit([&e](const auto& x) { e.Encode(x); }, v);
  }
  [[nodiscard]] static absl::Status Decode(Decoder& d, Variant* out) {
    absl::Status first_error;
    bool done = false;
    const std::size_t budget = d.budget();
    auto attempt = [&](auto index) {
      constexpr std::size_t I = decltype(index)::value;
      if (done) return;
      std::variant_alternative_t<I, Variant> value{};
      absl::Status s = d.Decode(&value);
      if (s.ok()) {
        out->template emplace<I>(std::move(value));
        done = true;
      } else {
        d.set_budget(budget);
        if (first_error.ok()) first_error = s;
      }
    };
    Try(attempt, std::index_sequence_for<Ts...>());
    if (done) return absl::OkStatus();
    if (first_error.code() == absl::StatusCode::kInvalidArgument) {
      return d.TypeError("one of the variant's alternatives");
    }
    return first_error;
  }

 private:
  template <typename F, std::size_t... I>
  static void Try(F& f, std::index_sequence<I...>) {
    (f(std::integral_constant<std::size_t, I>()), ...);
  }
};

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_CODEC_H_
