// mp::PyValue: a value of any of the Python types the codec carries, for
// messages whose shape is not known at compile time (what an unknown Python
// peer sends). Like a JSON value type: build one, inspect it, print it as
// Python's repr() would, compare it, turn it into a typed C++ value.
//
//   absl::StatusOr<mp::PyValue> v = conn.Recv<mp::PyValue>();
//   if (v.ok() && v->type() == mp::PyType::kTuple && v->size() == 2) {
//     absl::StatusOr<std::pair<int64_t, std::string>> typed =
//         v->As<std::pair<int64_t, std::string>>();
//   }
//   std::cout << *v;  // (3, 'x')
//
// Equality is structural: same type, equal contents (a dict's order does not
// matter, a list's does). Unlike Python, 1, 1.0 and True are three different
// values, so a pickled dict with both 1 and 1.0 as keys keeps both. Integers
// hold up to 128 bits. Dict lookups (Find) are linear.
#ifndef MULTIPROCESSING_IPC_PY_VALUE_H_
#define MULTIPROCESSING_IPC_PY_VALUE_H_

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "multiprocessing/ipc/codec.h"

namespace mp {

class PyValue {
 public:
  // None.
  PyValue() = default;

  static PyValue None() { return PyValue(); }
  static PyValue Bool(bool v);
  static PyValue Int(absl::int128 v);
  static PyValue Float(double v);
  static PyValue Str(std::string utf8);
  static PyValue Bytes(std::string bytes);
  static PyValue Tuple(std::vector<PyValue> items);
  static PyValue List(std::vector<PyValue> items);
  // Later duplicates of a key replace earlier ones, as in Python.
  static PyValue Dict(std::vector<std::pair<PyValue, PyValue>> items);
  static PyValue Set(std::vector<PyValue> items);
  static PyValue FrozenSet(std::vector<PyValue> items);

  PyType type() const { return type_; }
  bool is_none() const { return type_ == PyType::kNone; }

  // The scalar, or nullopt / nullptr for another type.
  std::optional<bool> bool_value() const;
  std::optional<absl::int128> int_value() const;
  std::optional<double> float_value() const;
  // A str's UTF-8 or a bytes' contents.
  const std::string* str_value() const;
  const std::string* bytes_value() const;

  // Tuples, lists, sets, frozensets: the elements; dicts: the number of
  // pairs and each key and value. Empty for scalars.
  std::size_t size() const;
  const std::vector<PyValue>& items() const { return items_; }
  const PyValue& key(std::size_t i) const { return items_[2 * i]; }
  const PyValue& value(std::size_t i) const { return items_[2 * i + 1]; }
  // A dict's value for `key`, or nullptr.
  const PyValue* Find(const PyValue& key) const;

  // This value as a T (through the codec): kInvalidArgument if it does not
  // have T's shape.
  template <typename T>
  [[nodiscard]] absl::StatusOr<T> As() const {
    std::string pickle;
    if (absl::Status s = Encode(*this, &pickle); !s.ok()) return s;
    return Decode<T>(pickle);
  }
  // A typed value as a PyValue.
  template <typename T>
  [[nodiscard]] static absl::StatusOr<PyValue> From(const T& value) {
    std::string pickle;
    if (absl::Status s = Encode(value, &pickle); !s.ok()) return s;
    return Decode<PyValue>(pickle);
  }

  // Python's repr(): None, True, 3, 1.5, 'text', b'\x00', (1,), [1, 2],
  // {'a': 1}, {1, 2}, set(), frozenset({1}). Non-ASCII text prints as
  // itself, except the unprintable characters Python escapes (controls,
  // separators, format characters, surrogates: the common ones, not
  // Unicode's whole table).
  std::string Repr() const;

  friend bool operator==(const PyValue& a, const PyValue& b);
  friend bool operator!=(const PyValue& a, const PyValue& b) {
    return !(a == b);
  }
  template <typename H>
  friend H AbslHashValue(H h, const PyValue& v) {
    h = H::combine(std::move(h), v.type_);
    switch (v.type_) {
      case PyType::kBool:
        return H::combine(std::move(h), v.b_);
      case PyType::kInt:
        return H::combine(std::move(h), v.i_);
      case PyType::kFloat:
        return H::combine(std::move(h), v.f_ == 0 ? 0.0 : v.f_);
      case PyType::kStr:
      case PyType::kBytes:
        return H::combine(std::move(h), v.s_);
      case PyType::kTuple:
      case PyType::kList:
        return H::combine(std::move(h), v.items_);
      case PyType::kDict:
      case PyType::kSet:
      case PyType::kFrozenSet:
        // Order does not count: combine an order-independent sum.
        return H::combine(std::move(h), v.UnorderedHash());
      default:
        return h;
    }
  }
  friend std::ostream& operator<<(std::ostream& os, const PyValue& v) {
    return os << v.Repr();
  }

 private:
  friend struct Codec<PyValue>;
  static PyValue Container(PyType type, std::vector<PyValue> items);
  std::size_t UnorderedHash() const;
  // Drops repeated elements (set) or keys (dict: the last value wins).
  void Deduplicate();
  void AppendRepr(std::string* out) const;

  PyType type_ = PyType::kNone;
  bool b_ = false;
  absl::int128 i_ = 0;
  double f_ = 0;
  std::string s_;  // str, bytes
  std::vector<PyValue>
      items_;  // containers; a dict's keys and values alternate
};

template <>
struct Codec<PyValue> {
  static void Encode(const PyValue& v, Encoder& e);
  [[nodiscard]] static absl::Status Decode(Decoder& d, PyValue* out);
};

}  // namespace mp

#endif  // MULTIPROCESSING_IPC_PY_VALUE_H_
