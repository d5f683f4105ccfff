#include "multiprocessing/ipc/py_value.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mp {

PyValue PyValue::Bool(bool v) {
  PyValue p;
  p.type_ = PyType::kBool;
  p.b_ = v;
  return p;
}

PyValue PyValue::Int(absl::int128 v) {
  PyValue p;
  p.type_ = PyType::kInt;
  p.i_ = v;
  return p;
}

PyValue PyValue::Float(double v) {
  PyValue p;
  p.type_ = PyType::kFloat;
  p.f_ = v;
  return p;
}

PyValue PyValue::Str(std::string utf8) {
  PyValue p;
  p.type_ = PyType::kStr;
  p.s_ = std::move(utf8);
  return p;
}

PyValue PyValue::Bytes(std::string bytes) {
  PyValue p;
  p.type_ = PyType::kBytes;
  p.s_ = std::move(bytes);
  return p;
}

PyValue PyValue::Container(PyType type, std::vector<PyValue> items) {
  PyValue p;
  p.type_ = type;
  p.items_ = std::move(items);
  p.Deduplicate();
  return p;
}

PyValue PyValue::Tuple(std::vector<PyValue> items) {
  return Container(PyType::kTuple, std::move(items));
}
PyValue PyValue::List(std::vector<PyValue> items) {
  return Container(PyType::kList, std::move(items));
}
PyValue PyValue::Set(std::vector<PyValue> items) {
  return Container(PyType::kSet, std::move(items));
}
PyValue PyValue::FrozenSet(std::vector<PyValue> items) {
  return Container(PyType::kFrozenSet, std::move(items));
}
PyValue PyValue::Dict(std::vector<std::pair<PyValue, PyValue>> items) {
  std::vector<PyValue> flat;
  flat.reserve(2 * items.size());
  for (auto& [k, v] : items) {
    flat.push_back(std::move(k));
    flat.push_back(std::move(v));
  }
  return Container(PyType::kDict, std::move(flat));
}

std::optional<bool> PyValue::bool_value() const {
  if (type_ != PyType::kBool) return std::nullopt;
  return b_;
}
std::optional<absl::int128> PyValue::int_value() const {
  if (type_ != PyType::kInt) return std::nullopt;
  return i_;
}
std::optional<double> PyValue::float_value() const {
  if (type_ != PyType::kFloat) return std::nullopt;
  return f_;
}
const std::string* PyValue::str_value() const {
  return type_ == PyType::kStr ? &s_ : nullptr;
}
const std::string* PyValue::bytes_value() const {
  return type_ == PyType::kBytes ? &s_ : nullptr;
}

std::size_t PyValue::size() const {
  return type_ == PyType::kDict ? items_.size() / 2 : items_.size();
}

const PyValue* PyValue::Find(const PyValue& k) const {
  if (type_ != PyType::kDict) return nullptr;
  for (std::size_t i = 0; i < size(); ++i) {
    if (key(i) == k) return &value(i);
  }
  return nullptr;
}

void PyValue::Deduplicate() {
  const bool dict = type_ == PyType::kDict;
  if (!dict && type_ != PyType::kSet && type_ != PyType::kFrozenSet) return;
  const std::size_t step = dict ? 2 : 1;
  if (items_.size() <= step) return;
  struct Hash {
    std::size_t operator()(const PyValue* v) const {
      return absl::Hash<PyValue>()(*v);
    }
  };
  struct Eq {
    bool operator()(const PyValue* a, const PyValue* b) const {
      return *a == *b;
    }
  };
  absl::flat_hash_map<const PyValue*, std::size_t, Hash, Eq> seen;
  seen.reserve(items_.size() / step);
  std::vector<PyValue> kept;
  kept.reserve(items_.size());
  // `seen` points into `kept`, which never reallocates (reserved above).
  for (std::size_t i = 0; i < items_.size(); i += step) {
    // NaN is not equal to itself: two NaN elements stay two, as in Python.
    const bool nan = items_[i].type_ == PyType::kFloat &&
                     std::isnan(items_[i].f_);
    auto it = nan ? seen.end() : seen.find(&items_[i]);
    if (it == seen.end()) {
      kept.push_back(std::move(items_[i]));
      seen.emplace(&kept.back(), kept.size() - 1);
      if (dict) kept.push_back(std::move(items_[i + 1]));
    } else if (dict) {
      kept[it->second + 1] = std::move(items_[i + 1]);
    }
  }
  items_ = std::move(kept);
}

bool operator==(const PyValue& a, const PyValue& b) {
  if (a.type_ != b.type_) return false;
  switch (a.type_) {
    case PyType::kNone:
      return true;
    case PyType::kBool:
      return a.b_ == b.b_;
    case PyType::kInt:
      return a.i_ == b.i_;
    case PyType::kFloat:
      return a.f_ == b.f_ || (std::isnan(a.f_) && std::isnan(b.f_));
    case PyType::kStr:
    case PyType::kBytes:
      return a.s_ == b.s_;
    case PyType::kTuple:
    case PyType::kList:
      return a.items_ == b.items_;
    case PyType::kSet:
    case PyType::kFrozenSet:
      if (a.items_.size() != b.items_.size()) return false;
      for (const PyValue& x : a.items_) {
        bool found = false;
        for (const PyValue& y : b.items_) found = found || x == y;
        if (!found) return false;
      }
      return true;
    case PyType::kDict:
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        const PyValue* v = b.Find(a.key(i));
        if (v == nullptr || !(*v == a.value(i))) return false;
      }
      return true;
    default:
      return false;
  }
}

std::size_t PyValue::UnorderedHash() const {
  std::size_t sum = 0;
  for (const PyValue& v : items_) sum += absl::Hash<PyValue>()(v);
  return sum;
}

namespace {

// Code points Python's repr() escapes beyond ASCII: the C1 controls, the
// separators and format characters that str.isprintable() rejects (the
// common ones; not the whole Unicode table), surrogates and private use.
bool Unprintable(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0xa0) || cp == 0xad || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
         (cp >= 0x205f && cp <= 0x2064) || cp == 0x3000 || cp == 0xfeff ||
         (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0xe000 && cp <= 0xf8ff);
}

void AppendQuoted(absl::string_view s, bool bytes, std::string* out) {
  const char quote =
      (s.find('\'') != absl::string_view::npos &&
       s.find('"') == absl::string_view::npos)
          ? '"'
          : '\'';
  if (bytes) out->push_back('b');
  out->push_back(quote);
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80 && !bytes) {
      // One UTF-8 sequence (the codec only makes valid ones).
      const int n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      uint32_t cp = c & (0x3f >> (n - 1));
      for (int k = 1; k < n && i + k < s.size(); ++k) {
        cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
      }
      if (!Unprintable(cp)) {
        out->append(s.data() + i, std::min<std::size_t>(n, s.size() - i));
      } else if (cp <= 0xff) {
        absl::StrAppendFormat(out, "\\x%02x", cp);
      } else if (cp <= 0xffff) {
        absl::StrAppendFormat(out, "\\u%04x", cp);
      } else {
        absl::StrAppendFormat(out, "\\U%08x", cp);
      }
      i += n;
      continue;
    }
    ++i;
    if (c == '\\' || c == static_cast<unsigned char>(quote)) {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\r') {
      out->append("\\r");
    } else if (c == '\t') {
      out->append("\\t");
    } else if (c < 0x20 || c >= 0x7f) {
      absl::StrAppendFormat(out, "\\x%02x", c);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
  out->push_back(quote);
}

std::string FloatRepr(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, f);
    if (std::strtod(buf, nullptr) == f) break;
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

}  // namespace

void PyValue::AppendRepr(std::string* out) const {
  auto items = [&](absl::string_view open, absl::string_view close,
                   std::size_t step) {
    out->append(open.data(), open.size());
    for (std::size_t i = 0; i < items_.size(); i += step) {
      if (i > 0) out->append(", ");
      items_[i].AppendRepr(out);
      if (step == 2) {
        out->append(": ");
        items_[i + 1].AppendRepr(out);
      }
    }
    if (type_ == PyType::kTuple && items_.size() == 1) out->push_back(',');
    out->append(close.data(), close.size());
  };
  switch (type_) {
    case PyType::kNone:
      out->append("None");
      return;
    case PyType::kBool:
      out->append(b_ ? "True" : "False");
      return;
    case PyType::kInt:
      out->append(pickle::Decimal(i_));
      return;
    case PyType::kFloat:
      out->append(FloatRepr(f_));
      return;
    case PyType::kStr:
      AppendQuoted(s_, false, out);
      return;
    case PyType::kBytes:
      AppendQuoted(s_, true, out);
      return;
    case PyType::kTuple:
      return items("(", ")", 1);
    case PyType::kList:
      return items("[", "]", 1);
    case PyType::kDict:
      return items("{", "}", 2);
    case PyType::kSet:
      if (items_.empty()) {
        out->append("set()");
        return;
      }
      return items("{", "}", 1);
    case PyType::kFrozenSet:
      if (items_.empty()) {
        out->append("frozenset()");
        return;
      }
      return items("frozenset({", "})", 1);
    default:
      return;
  }
}

std::string PyValue::Repr() const {
  std::string out;
  AppendRepr(&out);
  return out;
}

void Codec<PyValue>::Encode(const PyValue& v, Encoder& e) {
  switch (v.type_) {
    case PyType::kNone:
      return e.WriteNone();
    case PyType::kBool:
      return e.WriteBool(v.b_);
    case PyType::kInt:
      return e.WriteInt(v.i_);
    case PyType::kFloat:
      return e.WriteFloat(v.f_);
    case PyType::kStr:
      return e.WriteStr(v.s_);
    case PyType::kBytes:
      return e.WriteBytes(v.s_);
    case PyType::kList:
    case PyType::kTuple:
      if (v.type_ == PyType::kList && !e.in_key()) {
        return e.WriteList<PyValue>(v.items_);
      }
      e.Put(pickle::op::kMark);
      for (const PyValue& x : v.items_) e.Encode(x);
      return e.Put(pickle::op::kTuple);
    case PyType::kSet:
      return e.WriteSet<PyValue>(v.items_);
    case PyType::kFrozenSet:
      ++e.key_depth_;  // a frozenset whatever the context
      e.WriteSet<PyValue>(v.items_);
      --e.key_depth_;
      return;
    case PyType::kDict: {
      e.Put(pickle::op::kEmptyDict);
      if (v.items_.empty()) return;
      e.Put(pickle::op::kMark);
      const int saved = e.key_depth_;
      for (std::size_t i = 0; i < v.items_.size(); i += 2) {
        e.key_depth_ = saved + 1;
        e.Encode(v.items_[i]);
        e.key_depth_ = 0;
        e.Encode(v.items_[i + 1]);
      }
      e.key_depth_ = saved;
      return e.Put(pickle::op::kSetItems);
    }
    default:
      return e.WriteNone();
  }
}

absl::Status Codec<PyValue>::Decode(Decoder& d, PyValue* out) {
  PyValue v;
  v.type_ = d.type();
  absl::Status s;
  switch (d.type()) {
    case PyType::kNone:
      break;
    case PyType::kBool:
      s = d.ReadBool(&v.b_);
      break;
    case PyType::kInt:
    case PyType::kBigInt:
      v.type_ = PyType::kInt;
      s = d.ReadInt(&v.i_);
      break;
    case PyType::kFloat:
      s = d.ReadFloat(&v.f_);
      break;
    case PyType::kStr:
    case PyType::kBytes: {
      absl::string_view bytes;
      s = d.ReadBytes(&bytes);
      if (s.ok()) s = d.Charge(bytes.size());
      if (s.ok()) v.s_.assign(bytes.data(), bytes.size());
      break;
    }
    case PyType::kDict:
      s = d.Charge(2 * d.size(), sizeof(PyValue));
      if (s.ok()) {
        v.items_.reserve(2 * d.size());
        s = d.ForEachPair([&v](Decoder& key, Decoder& value) {
          v.items_.emplace_back();
          if (absl::Status s = key.Decode(&v.items_.back()); !s.ok()) return s;
          v.items_.emplace_back();
          return value.Decode(&v.items_.back());
        });
      }
      break;
    default:  // the sequences and sets
      s = d.Charge(d.size(), sizeof(PyValue));
      if (s.ok()) {
        v.items_.reserve(d.size());
        s = d.ForEach([&v](Decoder& element) {
          v.items_.emplace_back();
          return element.Decode(&v.items_.back());
        });
      }
      break;
  }
  if (!s.ok()) return s;
  v.Deduplicate();
  *out = std::move(v);
  return absl::OkStatus();
}

}  // namespace mp
