// The value codec behind Connection::Send<T>() / Recv<T>(): maps a C++ value
// to one message payload and back.
//
//   std::string buf;
//   mp::Encode(std::pair<int, std::string>(1, "x"), &buf);  // appends
//   absl::StatusOr<std::pair<int64_t, std::string>> v =
//       mp::Decode<std::pair<int64_t, std::string>>(buf);
//
// Decode<T>() reads exactly one T occupying all of `data`. Errors are
// statuses, never crashes or exceptions:
//   kInvalidArgument  a well-formed value of the wrong type ("codec: expected
//                     integer, got string"), an integer or float that does not
//                     fit the requested type, a tuple/array of the wrong
//                     length, a variant index the receiver does not have, a
//                     protobuf message of another type.
//   kDataLoss         truncated or corrupt input: unknown type tag, bad
//                     varint, a length or count larger than the bytes left,
//                     trailing bytes, duplicate map keys or set elements,
//                     an unparsable protobuf payload, nesting deeper than
//                     Decoder::kMaxDepth.
// The decoder never trusts a length or count: a claim is checked against the
// bytes actually left before anything is reserved, so memory use is bounded
// by a small multiple of the input size.
//
// Supported types:
//   bool; every integer type (including the char types, as integers);
//   float, double; std::string; absl::string_view, std::string_view,
//   const char* and char arrays (encode only); std::vector<T> (vector<char>
//   and vector<unsigned char> as bytes), std::array<T, N>, std::set,
//   std::unordered_set, std::map, std::unordered_map, std::pair, std::tuple,
//   std::optional, std::variant, std::monostate; protobuf messages (anything
//   derived from google::protobuf::MessageLite); and your own types through
//   Codec<T> below.
//
// Wire format. Every value starts with a one-byte WireType tag:
//   0x01 none     nothing follows (std::nullopt, std::monostate, a null
//                 const char*)
//   0x02 bool     one byte, 0 or 1
//   0x03 int      zigzag varint (signed integer types)
//   0x04 uint     varint (unsigned integer types)
//   0x05 float    8-byte IEEE 754 double, little-endian
//   0x06 string   varint length, bytes
//   0x07 bytes    varint length, bytes (vector<char>, vector<unsigned char>)
//   0x08 list     varint count, values (vector, array)
//   0x09 tuple    varint count, values (pair, tuple, user structs)
//   0x0a dict     varint count, key value key value ... (map, unordered_map)
//   0x0b set      varint count, values (set, unordered_set)
//   0x0c variant  varint alternative index, value
//   0x0d protobuf varint length, full type name, varint length, serialized
//                 message
// Varints are unsigned LEB128 (protobuf's), at most 10 bytes, canonical (no
// redundant trailing zero groups). Both integer tags mean "an integer"
// (Python's int): any integer decodes into any integer type whose range holds
// the value, so int32_t sent / int64_t received works, while 300 into uint8_t
// or -1 into uint32_t is kInvalidArgument. Bool is not an integer and float
// is not an integer. "string" and "bytes" are both byte sequences: std::string
// and vector<char>/vector<unsigned char> each decode from either (no UTF-8
// check). A float decodes into float when finite values fit (NaN and
// infinities always do). std::optional<T> is None or the T itself (as in
// Python), so optional<optional<T>> holding an empty inner optional comes back
// as an empty outer one. std::array<T, N> is a list that must have N
// elements.
//
// Encoding is deterministic: the same value of the same type gives the same
// bytes (std::map and std::set in key order). unordered_map and unordered_set
// are written in iteration order, so two equal unordered containers may
// encode differently; any order decodes. A map or set whose encoding repeats
// a key is rejected (kDataLoss), never silently merged. Protobuf messages are
// written with SerializePartial and read with ParsePartial: missing proto2
// required fields are not an error on either side.
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
//       e.EncodeTuple(p.x, p.y, p.label);  // a 3-tuple on the wire
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
// (it must not also match a built-in specialisation, or the compiler reports
// an ambiguity).
//
// Rules for a Codec:
//   - Encode appends through the Encoder; it cannot fail.
//   - Decode must overwrite all of *out (it may hold an earlier value) and
//     return OkStatus only if it consumed exactly what Encode wrote. On error
//     *out may be left partially decoded.
//   - The encoding must be at least one byte, and should start with a
//     WireType tag, which is what you get by building it from other values
//     (Encode/EncodeTuple) or from WriteType. Containers bound untrusted
//     counts by assuming every element takes at least one byte.
//   - Decode<T>() needs T (and the element types of decoded containers,
//     variant alternatives) to be default constructible.
// A type with no Codec fails to compile; the view and pointer codecs have no
// Decode, so decoding into a view also fails to compile.
#ifndef MULTIPROCESSING_IPC_CODEC_H_
#define MULTIPROCESSING_IPC_CODEC_H_

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
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

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"

namespace mp {

// The one-byte tag in front of every encoded value (see the table above).
enum class WireType : uint8_t {
  kNone = 0x01,
  kBool = 0x02,
  kInt = 0x03,
  kUint = 0x04,
  kFloat = 0x05,
  kString = 0x06,
  kBytes = 0x07,
  kList = 0x08,
  kTuple = 0x09,
  kDict = 0x0a,
  kSet = 0x0b,
  kVariant = 0x0c,
  kProtobuf = 0x0d,
};

// "integer", "string", ...: the name used in error messages.
inline absl::string_view WireTypeName(WireType t) {
  switch (t) {
    case WireType::kNone:
      return "none";
    case WireType::kBool:
      return "bool";
    case WireType::kInt:
    case WireType::kUint:
      return "integer";
    case WireType::kFloat:
      return "float";
    case WireType::kString:
      return "string";
    case WireType::kBytes:
      return "bytes";
    case WireType::kList:
      return "list";
    case WireType::kTuple:
      return "tuple";
    case WireType::kDict:
      return "dict";
    case WireType::kSet:
      return "set";
    case WireType::kVariant:
      return "variant";
    case WireType::kProtobuf:
      return "protobuf message";
  }
  return "unknown";
}

// The extension point (see the top of this file). Deliberately undefined:
// encoding a type without a Codec is a compile error.
template <typename T, typename Enable = void>
struct Codec;

// Appends encoded values to a std::string.
class Encoder {
 public:
  explicit Encoder(std::string* out) : out_(out) {}

  // Appends `value` through Codec<T>.
  template <typename T>
  void Encode(const T& value) {
    Codec<T>::Encode(value, *this);
  }

  // A tuple of the given fields: the usual wire shape for a user struct.
  template <typename... Ts>
  void EncodeTuple(const Ts&... fields) {
    WriteTypeAndVarint(WireType::kTuple, sizeof...(Ts));
    (Encode(fields), ...);
  }

  // Low-level pieces for Codec implementations.
  void WriteType(WireType t) { out_->push_back(static_cast<char>(t)); }
  void WriteVarint(uint64_t v) {
    char buf[kMaxVarintBytes];
    out_->append(buf, PutVarint(v, buf));
  }
  // A tag followed by a varint (a length, count or integer), in one append.
  void WriteTypeAndVarint(WireType t, uint64_t v) {
    char buf[1 + kMaxVarintBytes];
    buf[0] = static_cast<char>(t);
    out_->append(buf, 1 + PutVarint(v, buf + 1));
  }
  // 8 bytes, little-endian whatever the host order.
  void WriteFixed64(uint64_t v) {
    char buf[8];
    for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(v >> (8 * i));
    out_->append(buf, 8);
  }
  void WriteRaw(absl::string_view bytes) {
    out_->append(bytes.data(), bytes.size());
  }
  // Varint length, then the bytes.
  void WriteLengthPrefixed(absl::string_view bytes) {
    WriteVarint(bytes.size());
    WriteRaw(bytes);
  }
  // A tag, the length and the bytes (string, bytes).
  void WriteTypedBytes(WireType t, absl::string_view bytes) {
    WriteTypeAndVarint(t, bytes.size());
    WriteRaw(bytes);
  }

  std::string* output() { return out_; }

  static constexpr int kMaxVarintBytes = 10;

 private:
  static std::size_t PutVarint(uint64_t v, char* buf) {
    std::size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    return n;
  }

  std::string* out_;
};

// Reads encoded values from a byte range, checking every bound. The data must
// outlive the Decoder.
class Decoder {
 public:
  // Values nested deeper than this (only possible with recursive user
  // Codecs; built-in types nest as deep as their C++ type) are kDataLoss
  // rather than a stack overflow.
  static constexpr int kMaxDepth = 200;

  explicit Decoder(absl::string_view data)
      : pos_(data.data()), end_(data.data() + data.size()) {}

  // Decodes one value into *out through Codec<T>.
  template <typename T>
  absl::Status Decode(T* out) {
    if (depth_ >= kMaxDepth) {
      return absl::DataLossError(
          absl::StrCat("codec: values nested deeper than ", kMaxDepth));
    }
    ++depth_;
    absl::Status s = Codec<T>::Decode(*this, out);
    --depth_;
    return s;
  }

  // Reads a tuple of exactly sizeof...(Ts) values into the fields (the
  // counterpart of Encoder::EncodeTuple).
  template <typename... Ts>
  absl::Status DecodeTuple(Ts*... fields) {
    if (absl::Status s = ExpectCount(WireType::kTuple, sizeof...(Ts));
        !s.ok()) {
      return s;
    }
    absl::Status s;
    ((s.ok() ? (void)(s = Decode(fields)) : (void)0), ...);
    return s;
  }

  std::size_t remaining() const {
    return static_cast<std::size_t>(end_ - pos_);
  }
  bool empty() const { return pos_ == end_; }

  // The next tag, without consuming it. kDataLoss at the end of the input or
  // for an unknown tag.
  absl::Status PeekType(WireType* t) const {
    if (pos_ == end_) return Truncated("a type tag");
    uint8_t b = static_cast<uint8_t>(*pos_);
    if (b < static_cast<uint8_t>(WireType::kNone) ||
        b > static_cast<uint8_t>(WireType::kProtobuf)) {
      return absl::DataLossError(
          absl::StrCat("codec: unknown type tag ", static_cast<int>(b)));
    }
    *t = static_cast<WireType>(b);
    return absl::OkStatus();
  }
  // Consumes the next tag.
  absl::Status ReadType(WireType* t) {
    absl::Status s = PeekType(t);
    if (s.ok()) ++pos_;
    return s;
  }
  // Consumes the next tag; anything but `expected` is kInvalidArgument.
  absl::Status ExpectType(WireType expected) {
    WireType t = WireType::kNone;
    if (absl::Status s = ReadType(&t); !s.ok()) return s;
    if (t != expected) return TypeMismatch(WireTypeName(expected), t);
    return absl::OkStatus();
  }
  // "codec: expected <expected>, got <actual>" (kInvalidArgument).
  static absl::Status TypeMismatch(absl::string_view expected, WireType got) {
    return absl::InvalidArgumentError(absl::StrCat(
        "codec: expected ", expected, ", got ", WireTypeName(got)));
  }

  // A canonical varint of at most 10 bytes that fits in 64 bits.
  absl::Status ReadVarint(uint64_t* v) {
    uint64_t result = 0;
    for (int i = 0; i < Encoder::kMaxVarintBytes; ++i) {
      if (pos_ == end_) return Truncated("a varint");
      uint8_t b = static_cast<uint8_t>(*pos_++);
      if (i == Encoder::kMaxVarintBytes - 1 && b > 1) {
        return absl::DataLossError("codec: varint overflows 64 bits");
      }
      result |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) {
        if (b == 0 && i > 0) {
          return absl::DataLossError("codec: non-canonical varint");
        }
        *v = result;
        return absl::OkStatus();
      }
    }
    return absl::DataLossError("codec: varint overflows 64 bits");  // unreached
  }
  // 8 bytes, little-endian.
  absl::Status ReadFixed64(uint64_t* v) {
    if (remaining() < 8) return Truncated("8 bytes");
    uint64_t result = 0;
    for (int i = 0; i < 8; ++i) {
      result |= static_cast<uint64_t>(static_cast<uint8_t>(pos_[i])) << (8 * i);
    }
    pos_ += 8;
    *v = result;
    return absl::OkStatus();
  }
  // The next n bytes (a view into the input).
  absl::Status ReadRaw(uint64_t n, absl::string_view* out) {
    if (n > remaining()) {
      return absl::DataLossError(absl::StrCat(
          "codec: length ", n, " exceeds the ", remaining(), " bytes left"));
    }
    *out = absl::string_view(pos_, static_cast<std::size_t>(n));
    pos_ += n;
    return absl::OkStatus();
  }
  // A varint length, then that many bytes.
  absl::Status ReadLengthPrefixed(absl::string_view* out) {
    uint64_t n = 0;
    if (absl::Status s = ReadVarint(&n); !s.ok()) return s;
    return ReadRaw(n, out);
  }
  // An element count for a container whose elements take at least
  // `min_bytes_each` bytes: a count the remaining input cannot hold is
  // kDataLoss, so *count <= remaining() afterwards and is safe to reserve.
  absl::Status ReadCount(std::size_t min_bytes_each, std::size_t* count) {
    uint64_t n = 0;
    if (absl::Status s = ReadVarint(&n); !s.ok()) return s;
    if (min_bytes_each == 0) min_bytes_each = 1;
    if (n > remaining() / min_bytes_each) {
      return absl::DataLossError(absl::StrCat(
          "codec: count ", n, " exceeds the ", remaining(), " bytes left"));
    }
    *count = static_cast<std::size_t>(n);
    return absl::OkStatus();
  }
  // Tag `t`, then a count that must equal `expected` (tuples, arrays).
  absl::Status ExpectCount(WireType t, std::size_t expected) {
    if (absl::Status s = ExpectType(t); !s.ok()) return s;
    uint64_t n = 0;
    if (absl::Status s = ReadVarint(&n); !s.ok()) return s;
    if (n != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat("codec: expected ", WireTypeName(t), " of ", expected,
                       " elements, got ", n));
    }
    return absl::OkStatus();
  }

 private:
  static absl::Status Truncated(absl::string_view what) {
    return absl::DataLossError(
        absl::StrCat("codec: input ends where ", what, " was expected"));
  }

  const char* pos_;
  const char* end_;
  int depth_ = 0;
};

// Appends the encoding of `value` to *out.
template <typename T>
void Encode(const T& value, std::string* out) {
  Encoder e(out);
  e.Encode(value);
}

// Decodes exactly one T occupying all of `data`; trailing bytes are an error.
template <typename T>
absl::StatusOr<T> Decode(absl::string_view data) {
  Decoder d(data);
  T value{};
  if (absl::Status s = d.Decode(&value); !s.ok()) return s;
  if (!d.empty()) {
    return absl::DataLossError(absl::StrCat("codec: ", d.remaining(),
                                            " trailing bytes after the value"));
  }
  return value;
}

// ---------------------------------------------------------------------------
// Built-in codecs.

template <>
struct Codec<bool> {
  static void Encode(const bool& v, Encoder& e) {
    e.WriteType(WireType::kBool);
    e.output()->push_back(v ? '\1' : '\0');
  }
  static absl::Status Decode(Decoder& d, bool* out) {
    if (absl::Status s = d.ExpectType(WireType::kBool); !s.ok()) return s;
    absl::string_view b;
    if (absl::Status s = d.ReadRaw(1, &b); !s.ok()) return s;
    if (b[0] != '\0' && b[0] != '\1') {
      return absl::DataLossError("codec: bool byte is neither 0 nor 1");
    }
    *out = b[0] == '\1';
    return absl::OkStatus();
  }
};

template <typename T>
struct Codec<T, std::enable_if_t<std::is_integral_v<T> &&
                                 !std::is_same_v<std::remove_cv_t<T>, bool>>> {
  static void Encode(const T& v, Encoder& e) {
    if constexpr (std::is_signed_v<T>) {
      const uint64_t u = static_cast<uint64_t>(static_cast<int64_t>(v));
      e.WriteTypeAndVarint(WireType::kInt, (u << 1) ^ (0 - (u >> 63)));
    } else {
      e.WriteTypeAndVarint(WireType::kUint, static_cast<uint64_t>(v));
    }
  }
  static absl::Status Decode(Decoder& d, T* out) {
    WireType t = WireType::kNone;
    if (absl::Status s = d.ReadType(&t); !s.ok()) return s;
    if (t != WireType::kInt && t != WireType::kUint) {
      return Decoder::TypeMismatch("integer", t);
    }
    uint64_t u = 0;
    if (absl::Status s = d.ReadVarint(&u); !s.ok()) return s;
    constexpr uint64_t kMax =
        static_cast<uint64_t>(std::numeric_limits<T>::max());
    if (t == WireType::kUint) {
      if (u > kMax) return OutOfRange(absl::StrCat(u));
      *out = static_cast<T>(u);
      return absl::OkStatus();
    }
    // Zigzag: 0, -1, 1, -2, ... as 0, 1, 2, 3, ...
    const uint64_t bits = (u >> 1) ^ (0 - (u & 1));
    int64_t v;
    std::memcpy(&v, &bits, sizeof v);
    if constexpr (std::is_signed_v<T>) {
      if (v < static_cast<int64_t>(std::numeric_limits<T>::min()) ||
          v > static_cast<int64_t>(std::numeric_limits<T>::max())) {
        return OutOfRange(absl::StrCat(v));
      }
    } else {
      if (v < 0 || static_cast<uint64_t>(v) > kMax) {
        return OutOfRange(absl::StrCat(v));
      }
    }
    *out = static_cast<T>(v);
    return absl::OkStatus();
  }

 private:
  static absl::Status OutOfRange(const std::string& value) {
    return absl::InvalidArgumentError(absl::StrCat(
        "codec: integer ", value, " out of range for a ", sizeof(T), "-byte ",
        std::is_signed_v<T> ? "signed" : "unsigned", " integer"));
  }
};

template <typename T>
struct Codec<T, std::enable_if_t<std::is_same_v<T, float> ||
                                 std::is_same_v<T, double>>> {
  static void Encode(const T& v, Encoder& e) {
    const double wide = v;
    uint64_t bits = 0;
    std::memcpy(&bits, &wide, sizeof bits);
    e.WriteType(WireType::kFloat);
    e.WriteFixed64(bits);
  }
  static absl::Status Decode(Decoder& d, T* out) {
    if (absl::Status s = d.ExpectType(WireType::kFloat); !s.ok()) return s;
    uint64_t bits = 0;
    if (absl::Status s = d.ReadFixed64(&bits); !s.ok()) return s;
    double v;
    std::memcpy(&v, &bits, sizeof v);
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

template <>
struct Codec<std::string> {
  static void Encode(const std::string& v, Encoder& e) {
    e.WriteTypedBytes(WireType::kString, v);
  }
  static absl::Status Decode(Decoder& d, std::string* out) {
    absl::string_view bytes;
    if (absl::Status s = ReadStringOrBytes(d, &bytes); !s.ok()) return s;
    out->assign(bytes.data(), bytes.size());
    return absl::OkStatus();
  }
  // A string or bytes value, as a view into the input.
  static absl::Status ReadStringOrBytes(Decoder& d, absl::string_view* out) {
    WireType t = WireType::kNone;
    if (absl::Status s = d.ReadType(&t); !s.ok()) return s;
    if (t != WireType::kString && t != WireType::kBytes) {
      return Decoder::TypeMismatch("string", t);
    }
    return d.ReadLengthPrefixed(out);
  }
};

// Views and C strings: encode only (a decoded view would dangle).
template <typename T>
struct Codec<T, std::enable_if_t<std::is_same_v<T, absl::string_view> ||
                                 std::is_same_v<T, std::string_view>>> {
  static void Encode(const T& v, Encoder& e) {
    e.WriteTypedBytes(WireType::kString, absl::string_view(v.data(), v.size()));
  }
};

// A null pointer encodes as none.
template <typename T>
struct Codec<T, std::enable_if_t<std::is_same_v<T, const char*> ||
                                 std::is_same_v<T, char*>>> {
  static void Encode(const T& v, Encoder& e) {
    if (v == nullptr) {
      e.WriteType(WireType::kNone);
    } else {
      e.WriteTypedBytes(WireType::kString, absl::string_view(v));
    }
  }
};

// String literals and char buffers: up to the first NUL, or all N chars.
template <std::size_t N>
struct Codec<char[N]> {
  static void Encode(const char (&v)[N], Encoder& e) {
    const char* end = std::find(v, v + N, '\0');
    e.WriteTypedBytes(WireType::kString,
                      absl::string_view(v, static_cast<std::size_t>(end - v)));
  }
};

template <>
struct Codec<std::monostate> {
  static void Encode(const std::monostate&, Encoder& e) {
    e.WriteType(WireType::kNone);
  }
  static absl::Status Decode(Decoder& d, std::monostate*) {
    return d.ExpectType(WireType::kNone);
  }
};

// vector<char> and vector<unsigned char>: bytes.
template <typename T, typename A>
struct Codec<std::vector<T, A>,
             std::enable_if_t<std::is_same_v<T, char> ||
                              std::is_same_v<T, unsigned char>>> {
  static void Encode(const std::vector<T, A>& v, Encoder& e) {
    e.WriteTypedBytes(
        WireType::kBytes,
        absl::string_view(reinterpret_cast<const char*>(v.data()), v.size()));
  }
  static absl::Status Decode(Decoder& d, std::vector<T, A>* out) {
    absl::string_view bytes;
    if (absl::Status s = Codec<std::string>::ReadStringOrBytes(d, &bytes);
        !s.ok()) {
      return s;
    }
    const T* p = reinterpret_cast<const T*>(bytes.data());
    out->assign(p, p + bytes.size());
    return absl::OkStatus();
  }
};

template <typename T, typename A>
struct Codec<std::vector<T, A>,
             std::enable_if_t<!std::is_same_v<T, char> &&
                              !std::is_same_v<T, unsigned char>>> {
  static void Encode(const std::vector<T, A>& v, Encoder& e) {
    e.WriteTypeAndVarint(WireType::kList, v.size());
    // Explicit T: vector<bool> iterates over proxies.
    for (const auto& x : v) e.Encode<T>(x);
  }
  static absl::Status Decode(Decoder& d, std::vector<T, A>* out) {
    if (absl::Status s = d.ExpectType(WireType::kList); !s.ok()) return s;
    std::size_t n = 0;
    if (absl::Status s = d.ReadCount(1, &n); !s.ok()) return s;
    out->clear();
    // n <= bytes left; also keep the reservation within the input's size
    // so large elements cannot amplify a lying count.
    out->reserve(
        std::min(n, std::max<std::size_t>(1, d.remaining() / sizeof(T))));
    for (std::size_t i = 0; i < n; ++i) {
      if constexpr (std::is_same_v<T, bool>) {
        bool b = false;
        if (absl::Status s = d.Decode(&b); !s.ok()) return s;
        out->push_back(b);
      } else {
        out->emplace_back();
        if (absl::Status s = d.Decode(&out->back()); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }
};

template <typename T, std::size_t N>
struct Codec<std::array<T, N>> {
  static void Encode(const std::array<T, N>& v, Encoder& e) {
    e.WriteTypeAndVarint(WireType::kList, N);
    for (const T& x : v) e.Encode(x);
  }
  static absl::Status Decode(Decoder& d, std::array<T, N>* out) {
    if (absl::Status s = d.ExpectCount(WireType::kList, N); !s.ok()) return s;
    for (T& x : *out) {
      if (absl::Status s = d.Decode(&x); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
};

namespace codec_internal {

template <typename C, typename = void>
struct HasReserve : std::false_type {};
template <typename C>
struct HasReserve<C, std::void_t<decltype(std::declval<C&>().reserve(1))>>
    : std::true_type {};

template <typename Set>
struct SetCodec {
  using Key = typename Set::value_type;
  static void Encode(const Set& v, Encoder& e) {
    e.WriteTypeAndVarint(WireType::kSet, v.size());
    for (const Key& x : v) e.Encode(x);
  }
  static absl::Status Decode(Decoder& d, Set* out) {
    if (absl::Status s = d.ExpectType(WireType::kSet); !s.ok()) return s;
    std::size_t n = 0;
    if (absl::Status s = d.ReadCount(1, &n); !s.ok()) return s;
    out->clear();
    if constexpr (HasReserve<Set>::value) out->reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      Key k{};
      if (absl::Status s = d.Decode(&k); !s.ok()) return s;
      if (!out->insert(std::move(k)).second) {
        return absl::DataLossError("codec: duplicate element in a set");
      }
    }
    return absl::OkStatus();
  }
};

template <typename Map>
struct MapCodec {
  using Key = typename Map::key_type;
  static void Encode(const Map& v, Encoder& e) {
    e.WriteTypeAndVarint(WireType::kDict, v.size());
    for (const auto& [key, value] : v) {
      e.Encode(key);
      e.Encode(value);
    }
  }
  static absl::Status Decode(Decoder& d, Map* out) {
    if (absl::Status s = d.ExpectType(WireType::kDict); !s.ok()) return s;
    std::size_t n = 0;
    if (absl::Status s = d.ReadCount(2, &n); !s.ok()) return s;
    out->clear();
    if constexpr (HasReserve<Map>::value) out->reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      Key k{};
      if (absl::Status s = d.Decode(&k); !s.ok()) return s;
      auto [it, inserted] = out->try_emplace(std::move(k));
      if (!inserted) {
        return absl::DataLossError("codec: duplicate key in a dict");
      }
      if (absl::Status s = d.Decode(&it->second); !s.ok()) return s;
    }
    return absl::OkStatus();
  }
};

template <typename Tuple, std::size_t... I>
void EncodeTupleElements([[maybe_unused]] const Tuple& t, Encoder& e,
                         std::index_sequence<I...>) {
  e.EncodeTuple(std::get<I>(t)...);
}

template <typename Tuple, std::size_t... I>
absl::Status DecodeTupleElements(Decoder& d, [[maybe_unused]] Tuple* t,
                                 std::index_sequence<I...>) {
  return d.DecodeTuple(&std::get<I>(*t)...);
}

}  // namespace codec_internal

template <typename K, typename C, typename A>
struct Codec<std::set<K, C, A>> : codec_internal::SetCodec<std::set<K, C, A>> {
};
template <typename K, typename H, typename E, typename A>
struct Codec<std::unordered_set<K, H, E, A>>
    : codec_internal::SetCodec<std::unordered_set<K, H, E, A>> {};
template <typename K, typename V, typename C, typename A>
struct Codec<std::map<K, V, C, A>>
    : codec_internal::MapCodec<std::map<K, V, C, A>> {};
template <typename K, typename V, typename H, typename E, typename A>
struct Codec<std::unordered_map<K, V, H, E, A>>
    : codec_internal::MapCodec<std::unordered_map<K, V, H, E, A>> {};

template <typename A, typename B>
struct Codec<std::pair<A, B>> {
  static void Encode(const std::pair<A, B>& v, Encoder& e) {
    e.EncodeTuple(v.first, v.second);
  }
  static absl::Status Decode(Decoder& d, std::pair<A, B>* out) {
    return d.DecodeTuple(&out->first, &out->second);
  }
};

template <typename... Ts>
struct Codec<std::tuple<Ts...>> {
  static void Encode(const std::tuple<Ts...>& v, Encoder& e) {
    codec_internal::EncodeTupleElements(v, e, std::index_sequence_for<Ts...>());
  }
  static absl::Status Decode(Decoder& d, std::tuple<Ts...>* out) {
    return codec_internal::DecodeTupleElements(
        d, out, std::index_sequence_for<Ts...>());
  }
};

// None, or the value itself.
template <typename T>
struct Codec<std::optional<T>> {
  static void Encode(const std::optional<T>& v, Encoder& e) {
    if (v.has_value()) {
      e.Encode(*v);
    } else {
      e.WriteType(WireType::kNone);
    }
  }
  static absl::Status Decode(Decoder& d, std::optional<T>* out) {
    WireType t = WireType::kNone;
    if (absl::Status s = d.PeekType(&t); !s.ok()) return s;
    if (t == WireType::kNone) {
      out->reset();
      return d.ReadType(&t);
    }
    if (!out->has_value()) out->emplace();
    return d.Decode(&**out);
  }
};

template <typename... Ts>
struct Codec<std::variant<Ts...>> {
  using Variant = std::variant<Ts...>;
  static void Encode(const Variant& v, Encoder& e) {
    if (v.valueless_by_exception()) {
      e.WriteType(WireType::kNone);
      return;
    }
    e.WriteTypeAndVarint(WireType::kVariant, v.index());
    std::visit([&e](const auto& x) { e.Encode(x); }, v);
  }
  static absl::Status Decode(Decoder& d, Variant* out) {
    if (absl::Status s = d.ExpectType(WireType::kVariant); !s.ok()) return s;
    uint64_t index = 0;
    if (absl::Status s = d.ReadVarint(&index); !s.ok()) return s;
    if (index >= sizeof...(Ts)) {
      return absl::InvalidArgumentError(
          absl::StrCat("codec: variant index ", index, " out of range for ",
                       sizeof...(Ts), " alternatives"));
    }
    return kDecoders[index](d, out);
  }

 private:
  using DecodeFn = absl::Status (*)(Decoder&, Variant*);
  template <std::size_t I>
  static absl::Status DecodeAlternative(Decoder& d, Variant* out) {
    if (out->index() != I) out->template emplace<I>();
    return d.Decode(&std::get<I>(*out));
  }
  template <std::size_t... I>
  static constexpr std::array<DecodeFn, sizeof...(Ts)> MakeDecoders(
      std::index_sequence<I...>) {
    return {&DecodeAlternative<I>...};
  }
  static constexpr std::array<DecodeFn, sizeof...(Ts)> kDecoders =
      MakeDecoders(std::index_sequence_for<Ts...>());
};

// Protobuf messages: full type name, then the serialized message. (Like
// protobuf itself, this assumes messages under 2 GiB.)
template <typename T>
struct Codec<
    T, std::enable_if_t<std::is_base_of_v<google::protobuf::MessageLite, T>>> {
  static void Encode(const T& v, Encoder& e) {
    e.WriteTypedBytes(WireType::kProtobuf, v.GetTypeName());
    const std::size_t size = v.ByteSizeLong();  // caches sizes for below
    e.WriteVarint(size);
    std::string* out = e.output();
    const std::size_t old_size = out->size();
    out->resize(old_size + size);
    v.SerializeWithCachedSizesToArray(
        reinterpret_cast<uint8_t*>(&(*out)[0] + old_size));
  }
  static absl::Status Decode(Decoder& d, T* out) {
    if (absl::Status s = d.ExpectType(WireType::kProtobuf); !s.ok()) return s;
    absl::string_view name;
    if (absl::Status s = d.ReadLengthPrefixed(&name); !s.ok()) return s;
    const std::string expected = out->GetTypeName();
    if (name != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "codec: expected protobuf message ", expected, ", got ", name));
    }
    absl::string_view payload;
    if (absl::Status s = d.ReadLengthPrefixed(&payload); !s.ok()) return s;
    if (payload.size() > static_cast<std::size_t>(INT_MAX) ||
        !out->ParsePartialFromArray(payload.data(),
                                    static_cast<int>(payload.size()))) {
      return absl::DataLossError(
          absl::StrCat("codec: malformed protobuf message ", expected));
    }
    return absl::OkStatus();
  }
};

// IsEncodable<T>::value: whether Encode(T) compiles, looking inside the
// standard containers (whose Codec exists whatever the element type). Lets
// generic code (the spawn start method) report a value it cannot encode as
// an error instead of failing to compile.
template <typename T, typename = void>
struct IsEncodable : std::false_type {};
template <typename T>
struct IsEncodable<T, std::void_t<decltype(sizeof(Codec<T>))>>
    : std::true_type {};
template <typename A, typename B>
struct IsEncodable<std::pair<A, B>>
    : std::conjunction<IsEncodable<A>, IsEncodable<B>> {};
template <typename... Ts>
struct IsEncodable<std::tuple<Ts...>> : std::conjunction<IsEncodable<Ts>...> {
};
template <typename... Ts>
struct IsEncodable<std::variant<Ts...>>
    : std::conjunction<IsEncodable<Ts>...> {};
template <typename T>
struct IsEncodable<std::optional<T>> : IsEncodable<T> {};
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

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_CODEC_H_
