#include "multiprocessing/ipc/pickle.h"

#include <cstring>
#include <limits>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mp::pickle {
namespace {

// Node::flags bits.
constexpr uint8_t kHashChecked = 1;

// A node can hold one of at most this many per parse (the indices are 32-bit).
constexpr std::size_t kMaxNodes = 0xfffffff0;

// Set elements and dict keys are checked for hashability this deep at most.
constexpr int kMaxKeyDepth = 200;

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("codec: malformed pickle: ", what));
}

absl::Status Truncated() {
  return absl::DataLossError("codec: truncated pickle (no STOP opcode)");
}

const char* OpcodeName(char opcode) {
  switch (opcode) {
    case 'c':
      return "GLOBAL";
    case '\x93':
      return "STACK_GLOBAL";
    case 'R':
      return "REDUCE";
    case 'b':
      return "BUILD";
    case 'i':
      return "INST";
    case 'o':
      return "OBJ";
    case '\x81':
      return "NEWOBJ";
    case '\x92':
      return "NEWOBJ_EX";
    case 'P':
      return "PERSID";
    case 'Q':
      return "BINPERSID";
    case '\x82':
      return "EXT1";
    case '\x83':
      return "EXT2";
    case '\x84':
      return "EXT4";
    case '\x97':
      return "NEXT_BUFFER";
    case '\x98':
      return "READONLY_BUFFER";
    case 'S':
      return "STRING";
    case 'T':
      return "BINSTRING";
    case 'U':
      return "SHORT_BINSTRING";
    case 'V':
      return "UNICODE";
    default:
      return nullptr;
  }
}

uint64_t LoadLittleEndian(const char* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  }
  return v;
}

// Protocol 0's text numbers, as plain as Python's repr() writes them: an
// optional '-', then digits without a leading zero (or "0"); a float adds a
// fraction and an exponent, or is inf / -inf / nan. Anything else (octal,
// hex, spaces, "-0") is refused rather than guessed at, as readers differ.
bool IsPlainInteger(absl::string_view s) {
  if (absl::ConsumePrefix(&s, "-") && s == "0") return false;
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool IsPlainFloat(absl::string_view s) {
  absl::ConsumePrefix(&s, "-");
  if (s == "inf" || s == "nan") return true;
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (!digits()) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    digits();
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// The text up to the next '\n' (protocol 0 arguments), consuming the '\n'.
bool ReadLine(const char*& p, const char* end, absl::string_view* line) {
  const void* nl = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
  if (nl == nullptr) return false;
  const char* e = static_cast<const char*>(nl);
  *line = absl::string_view(p, static_cast<std::size_t>(e - p));
  p = e + 1;
  return true;
}

}  // namespace

absl::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kNone:
      return "None";
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
    case Kind::kBigInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kStr:
      return "str";
    case Kind::kBytes:
      return "bytes";
    case Kind::kTuple:
      return "tuple";
    case Kind::kList:
      return "list";
    case Kind::kDict:
      return "dict";
    case Kind::kSet:
      return "set";
    case Kind::kFrozenSet:
      return "frozenset";
    case Kind::kRef:
      return "reference";
  }
  return "unknown";
}

bool IsPickleUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const uint8_t* end = p + s.size();
  while (p < end) {
    // Eight ASCII bytes at a time.
    if (end - p >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        p += 8;
        continue;
      }
    }
    const uint8_t b = *p;
    if (b < 0x80) {
      ++p;
      continue;
    }
    int n;
    uint32_t min;
    uint32_t cp;
    if ((b & 0xe0) == 0xc0) {
      n = 1, min = 0x80, cp = b & 0x1f;
    } else if ((b & 0xf0) == 0xe0) {
      n = 2, min = 0x800, cp = b & 0x0f;
    } else if ((b & 0xf8) == 0xf0) {
      n = 3, min = 0x10000, cp = b & 0x07;
    } else {
      return false;
    }
    if (end - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff) return false;
    p += n + 1;
  }
  return true;
}

bool BigIntToInt128(absl::string_view bytes, absl::int128* out) {
  const std::size_t n = bytes.size();
  if (n == 0) {
    *out = 0;
    return true;
  }
  const bool negative = static_cast<uint8_t>(bytes[n - 1]) & 0x80;
  // Bytes beyond the 16th must be pure sign extension.
  for (std::size_t i = 16; i < n; ++i) {
    if (static_cast<uint8_t>(bytes[i]) != (negative ? 0xff : 0x00)) {
      return false;
    }
  }
  const std::size_t used = n < 16 ? n : 16;
  absl::uint128 u = 0;
  for (std::size_t i = used; i-- > 0;) {
    u = (u << 8) | static_cast<uint8_t>(bytes[i]);
  }
  if (used < 16 && negative) u |= ~absl::uint128(0) << (8 * used);
  // With 16 or more bytes, bit 127 must agree with the sign.
  if (n >= 16 && (static_cast<bool>(u >> 127) != negative)) return false;
  *out = static_cast<absl::int128>(u);
  return true;
}

std::string Decimal(absl::int128 v) {
  const bool negative = v < 0;
  absl::uint128 u = negative ? -static_cast<absl::uint128>(v)
                             : static_cast<absl::uint128>(v);
  char buf[48];
  char* p = buf + sizeof buf;
  do {
    *--p = static_cast<char>('0' + static_cast<int>(u % 10));
    u /= 10;
  } while (u != 0);
  if (negative) *--p = '-';
  return std::string(p, static_cast<std::size_t>(buf + sizeof buf - p));
}

void AppendInt(absl::int128 v, std::string* out) {
  if (v >= 0 && v < 0x100) {
    const char b[2] = {op::kBinInt1, static_cast<char>(static_cast<int>(v))};
    out->append(b, 2);
    return;
  }
  if (v >= 0 && v < 0x10000) {
    const uint32_t u = static_cast<uint32_t>(v);
    const char b[3] = {op::kBinInt2, static_cast<char>(u),
                       static_cast<char>(u >> 8)};
    out->append(b, 3);
    return;
  }
  if (v >= std::numeric_limits<int32_t>::min() &&
      v <= std::numeric_limits<int32_t>::max()) {
    const uint32_t u = static_cast<uint32_t>(static_cast<int32_t>(v));
    const char b[5] = {op::kBinInt, static_cast<char>(u),
                       static_cast<char>(u >> 8), static_cast<char>(u >> 16),
                       static_cast<char>(u >> 24)};
    out->append(b, 5);
    return;
  }
  // LONG1: the fewest little-endian two's complement bytes that hold v.
  char b[2 + 16];
  const absl::uint128 u = static_cast<absl::uint128>(v);
  int n = 16;
  while (n > 1) {
    const uint8_t top = static_cast<uint8_t>(u >> (8 * (n - 1)));
    const uint8_t below = static_cast<uint8_t>(u >> (8 * (n - 2)));
    if ((top == 0x00 && !(below & 0x80)) || (top == 0xff && (below & 0x80))) {
      --n;
    } else {
      break;
    }
  }
  b[0] = op::kLong1;
  b[1] = static_cast<char>(n);
  for (int i = 0; i < n; ++i) b[2 + i] = static_cast<char>(u >> (8 * i));
  out->append(b, 2 + n);
}

uint32_t Tape::NewNode(Kind kind) {
  nodes_.emplace_back();
  Node& n = nodes_.back();
  n.kind = kind;
  n.s.offset = 0;
  n.s.size = 0;
  return static_cast<uint32_t>(nodes_.size() - 1);
}

absl::Status Tape::Push(uint32_t node) {
  stack_.push_back(node);
  return absl::OkStatus();
}

absl::Status Tape::Pop(uint32_t* node) {
  if (stack_.size() <= fence()) return Malformed("stack underflow");
  *node = stack_.back();
  stack_.pop_back();
  return absl::OkStatus();
}

absl::Status Tape::PopMark(std::size_t* begin) {
  if (marks_.empty()) return Malformed("no MARK to pop");
  *begin = marks_.back();
  marks_.pop_back();
  return absl::OkStatus();
}

void Tape::Link(uint32_t parent, uint32_t child) {
  Node& p = nodes_[parent];
  if (p.c.count == 0) {
    p.c.first = child;
  } else {
    nodes_[p.c.last].next = child;
  }
  p.c.last = child;
  ++p.c.count;
}

absl::Status Tape::CheckHashable(uint32_t node, int depth) {
  node = Resolve(node);
  Node& n = nodes_[node];
  if (n.flags & kHashChecked) return absl::OkStatus();
  switch (n.kind) {
    case Kind::kList:
    case Kind::kDict:
    case Kind::kSet:
      return absl::InvalidArgumentError(absl::StrCat(
          "codec: unhashable type '", KindName(n.kind),
          "' as a dict key or set element (Python refuses it too)"));
    case Kind::kTuple: {
      if (depth >= kMaxKeyDepth) {
        return absl::ResourceExhaustedError(
            absl::StrCat("codec: a key nested deeper than ", kMaxKeyDepth));
      }
      for (uint32_t c = n.c.first, i = 0; i < nodes_[node].c.count;
           ++i, c = nodes_[c].next) {
        if (absl::Status s = CheckHashable(c, depth + 1); !s.ok()) return s;
      }
      break;
    }
    default:
      break;
  }
  nodes_[node].flags |= kHashChecked;
  return absl::OkStatus();
}

absl::Status Tape::Collect(Kind kind, std::size_t begin) {
  const uint32_t parent = NewNode(kind);
  Node& p = nodes_[parent];
  p.c.first = p.c.last = kNoNode;
  p.c.count = 0;
  for (std::size_t i = begin; i < stack_.size(); ++i) {
    if (kind == Kind::kFrozenSet) {
      if (absl::Status s = CheckHashable(stack_[i], 0); !s.ok()) return s;
    } else if (kind == Kind::kDict && (i - begin) % 2 == 0) {
      if (absl::Status s = CheckHashable(stack_[i], 0); !s.ok()) return s;
    }
    Link(parent, stack_[i]);
  }
  stack_.resize(begin);
  return Push(parent);
}

absl::Status Tape::AddToTop(Kind expected, std::size_t begin, char opcode) {
  if (begin <= fence() || begin > stack_.size()) {
    return Malformed("stack underflow");
  }
  const uint32_t top = Resolve(stack_[begin - 1]);
  if (nodes_[top].kind != expected) {
    return Malformed(absl::StrFormat("opcode 0x%02x applied to a %s",
                                     static_cast<uint8_t>(opcode),
                                     KindName(nodes_[top].kind)));
  }
  const bool keys = expected == Kind::kSet || expected == Kind::kDict;
  for (std::size_t i = begin; i < stack_.size(); ++i) {
    if (keys && (expected == Kind::kSet || (i - begin) % 2 == 0)) {
      if (absl::Status s = CheckHashable(stack_[i], 0); !s.ok()) return s;
    }
    Link(top, stack_[i]);
  }
  stack_.resize(begin);
  return absl::OkStatus();
}

void Tape::Release() {
  constexpr std::size_t kKeep = 1 << 16;  // 1.5 MiB of nodes
  if (nodes_.capacity() > kKeep) std::vector<Node>().swap(nodes_);
  if (stack_.capacity() > kKeep) std::vector<uint32_t>().swap(stack_);
  if (marks_.capacity() > kKeep) std::vector<std::size_t>().swap(marks_);
  if (memo_.capacity() > kKeep) memo_ = {};
}

absl::Status Tape::Parse(absl::string_view data) {
  data_ = data;
  nodes_.clear();
  stack_.clear();
  marks_.clear();
  memo_.clear();
  root_ = kNoNode;
  const char* p = data.data();
  const char* const end = p + data.size();
  while (p != end) {
    const char opcode = *p++;
    if (opcode == op::kStop) {
      if (!marks_.empty() || stack_.size() != 1) {
        return Malformed(absl::StrCat("STOP with ", stack_.size(),
                                      " values and ", marks_.size(),
                                      " marks on the stack"));
      }
      if (p != end) {
        return absl::DataLossError(
            absl::StrCat("codec: ", end - p, " bytes after the pickle's STOP"));
      }
      root_ = stack_[0];
      return absl::OkStatus();
    }
    if (nodes_.size() >= kMaxNodes) {
      return absl::ResourceExhaustedError("codec: pickle has too many values");
    }
    if (absl::Status s = Step(opcode, p, end); !s.ok()) return s;
  }
  return Truncated();
}

absl::Status Tape::Step(char opcode, const char*& p, const char* end) {
  const std::size_t left = static_cast<std::size_t>(end - p);
  // A fixed-size argument: n bytes, little-endian.
  auto fixed = [&](int n, uint64_t* v) {
    if (left < static_cast<std::size_t>(n)) return false;
    *v = LoadLittleEndian(p, n);
    p += n;
    return true;
  };
  // A length of n bytes, then that many bytes: a str, bytes or int node.
  auto counted = [&](int n, Kind kind) -> absl::Status {
    uint64_t size = 0;
    if (!fixed(n, &size)) return Truncated();
    if (size > static_cast<uint64_t>(end - p)) {
      return absl::DataLossError(absl::StrCat("codec: pickle claims ", size,
                                              " bytes where ", end - p,
                                              " are left"));
    }
    const absl::string_view bytes(p, static_cast<std::size_t>(size));
    p += size;
    if (kind == Kind::kStr && !IsPickleUtf8(bytes)) {
      return absl::DataLossError("codec: a pickled str is not valid UTF-8");
    }
    if (kind == Kind::kBigInt) {
      absl::int128 v;
      if (BigIntToInt128(bytes, &v) &&
          v >= std::numeric_limits<int64_t>::min() &&
          v <= std::numeric_limits<int64_t>::max()) {
        const uint32_t node = NewNode(Kind::kInt);
        nodes_[node].i = static_cast<int64_t>(v);
        return Push(node);
      }
    }
    const uint32_t node = NewNode(kind);
    nodes_[node].s.offset = static_cast<uint64_t>(bytes.data() - data_.data());
    nodes_[node].s.size = size;
    return Push(node);
  };
  auto integer = [&](int64_t v) {
    const uint32_t node = NewNode(Kind::kInt);
    nodes_[node].i = v;
    return Push(node);
  };
  auto boolean = [&](bool v) {
    const uint32_t node = NewNode(Kind::kBool);
    nodes_[node].b = v;
    return Push(node);
  };
  auto put = [&](uint64_t key) -> absl::Status {
    if (stack_.size() <= fence()) return Malformed("memo PUT of nothing");
    memo_[key] = Resolve(stack_.back());
    return absl::OkStatus();
  };
  auto get = [&](uint64_t key) -> absl::Status {
    auto it = memo_.find(key);
    if (it == memo_.end()) {
      return Malformed(absl::StrCat("memo key ", key, " was never PUT"));
    }
    const uint32_t node = NewNode(Kind::kRef);
    nodes_[node].target = it->second;
    return Push(node);
  };
  auto decimal = [&](uint64_t* v) {
    absl::string_view line;
    return ReadLine(p, end, &line) && absl::SimpleAtoi(line, v);
  };

  uint64_t v = 0;
  std::size_t begin = 0;
  switch (opcode) {
    case op::kProto:
      if (!fixed(1, &v)) return Truncated();
      if (v > kHighestProtocol) {
        return absl::InvalidArgumentError(
            absl::StrCat("codec: unsupported pickle protocol ", v,
                         " (mp reads protocols up to ", kHighestProtocol, ")"));
      }
      return absl::OkStatus();
    case op::kFrame:
      if (!fixed(8, &v)) return Truncated();
      if (v > static_cast<uint64_t>(end - p)) return Truncated();
      return absl::OkStatus();  // frames only group opcodes
    case op::kNone:
      return Push(NewNode(Kind::kNone));
    case op::kNewTrue:
      return boolean(true);
    case op::kNewFalse:
      return boolean(false);
    case op::kBinInt1:
      if (!fixed(1, &v)) return Truncated();
      return integer(static_cast<int64_t>(v));
    case op::kBinInt2:
      if (!fixed(2, &v)) return Truncated();
      return integer(static_cast<int64_t>(v));
    case op::kBinInt:
      if (!fixed(4, &v)) return Truncated();
      return integer(static_cast<int32_t>(static_cast<uint32_t>(v)));
    case op::kLong1:
      return counted(1, Kind::kBigInt);
    case op::kLong4: {
      if (left < 4) return Truncated();
      if (static_cast<uint8_t>(p[3]) & 0x80) return Malformed("LONG4 < 0");
      return counted(4, Kind::kBigInt);
    }
    case op::kInt:
    case op::kLong: {
      absl::string_view line;
      if (!ReadLine(p, end, &line)) return Truncated();
      if (opcode == op::kInt && (line == "00" || line == "01")) {
        return boolean(line == "01");
      }
      if (opcode == op::kLong && absl::EndsWith(line, "L")) {
        line.remove_suffix(1);
      }
      int64_t i = 0;
      if (!IsPlainInteger(line) || !absl::SimpleAtoi(line, &i)) {
        return absl::InvalidArgumentError(
            "codec: a protocol 0 integer that is not a 64-bit decimal");
      }
      return integer(i);
    }
    case op::kBinFloat: {
      if (left < 8) return Truncated();
      uint64_t bits = 0;
      for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(p[i]);
      p += 8;
      const uint32_t node = NewNode(Kind::kFloat);
      std::memcpy(&nodes_[node].f, &bits, 8);
      return Push(node);
    }
    case op::kFloat: {
      absl::string_view line;
      double d = 0;
      if (!ReadLine(p, end, &line)) return Truncated();
      if (!IsPlainFloat(line) || !absl::SimpleAtod(line, &d)) {
        return absl::InvalidArgumentError(
            "codec: a protocol 0 float that is not plain decimal text");
      }
      const uint32_t node = NewNode(Kind::kFloat);
      nodes_[node].f = d;
      return Push(node);
    }
    case op::kShortBinUnicode:
      return counted(1, Kind::kStr);
    case op::kBinUnicode:
      return counted(4, Kind::kStr);
    case op::kBinUnicode8:
      return counted(8, Kind::kStr);
    case op::kShortBinBytes:
      return counted(1, Kind::kBytes);
    case op::kBinBytes:
      return counted(4, Kind::kBytes);
    case op::kBinBytes8:
    case op::kByteArray8:
      return counted(8, Kind::kBytes);
    case op::kEmptyTuple:
      return Collect(Kind::kTuple, stack_.size());
    case op::kTuple1:
    case op::kTuple2:
    case op::kTuple3: {
      const std::size_t n = static_cast<std::size_t>(opcode - op::kTuple1) + 1;
      if (stack_.size() < fence() + n) return Malformed("stack underflow");
      return Collect(Kind::kTuple, stack_.size() - n);
    }
    case op::kTuple:
      if (absl::Status s = PopMark(&begin); !s.ok()) return s;
      return Collect(Kind::kTuple, begin);
    case op::kEmptyList:
      return Collect(Kind::kList, stack_.size());
    case op::kList:
      if (absl::Status s = PopMark(&begin); !s.ok()) return s;
      return Collect(Kind::kList, begin);
    case op::kEmptyDict:
      return Collect(Kind::kDict, stack_.size());
    case op::kDict:
      if (absl::Status s = PopMark(&begin); !s.ok()) return s;
      if ((stack_.size() - begin) % 2 != 0) return Malformed("odd DICT");
      return Collect(Kind::kDict, begin);
    case op::kEmptySet:
      return Collect(Kind::kSet, stack_.size());
    case op::kFrozenSet:
      if (absl::Status s = PopMark(&begin); !s.ok()) return s;
      return Collect(Kind::kFrozenSet, begin);
    case op::kAppend:
      return AddToTop(Kind::kList, stack_.size() - 1, opcode);
    case op::kAppends:
      if (absl::Status s = PopMark(&begin); !s.ok()) return s;
      return AddToTop(Kind::kList, begin, opcode);
    case op::kSetItem:
      if (stack_.size() < 2) return Malformed("stack underflow");
      return AddToTop(Kind::kDict, stack_.size() - 2, opcode);
    case op::kSetItems:
      if (absl::Status s = PopMark(&begin); !s.ok()) return s;
      if ((stack_.size() - begin) % 2 != 0) return Malformed("odd SETITEMS");
      return AddToTop(Kind::kDict, begin, opcode);
    case op::kAddItems:
      if (absl::Status s = PopMark(&begin); !s.ok()) return s;
      return AddToTop(Kind::kSet, begin, opcode);
    case op::kMark:
      marks_.push_back(stack_.size());
      return absl::OkStatus();
    case op::kPop:
      // As CPython: POP right after a MARK pops the mark.
      if (!marks_.empty() && marks_.back() == stack_.size()) {
        marks_.pop_back();
        return absl::OkStatus();
      }
      {
        uint32_t popped = 0;
        return Pop(&popped);
      }
    case op::kPopMark:
      if (absl::Status s = PopMark(&begin); !s.ok()) return s;
      stack_.resize(begin);
      return absl::OkStatus();
    case op::kDup: {
      if (stack_.size() <= fence()) return Malformed("DUP of nothing");
      const uint32_t node = NewNode(Kind::kRef);
      nodes_[node].target = Resolve(stack_.back());
      return Push(node);
    }
    case op::kMemoize:
      return put(memo_.size());
    case op::kBinPut:
      if (!fixed(1, &v)) return Truncated();
      return put(v);
    case op::kLongBinPut:
      if (!fixed(4, &v)) return Truncated();
      return put(v);
    case op::kPut:
      if (!decimal(&v)) return Malformed("PUT index");
      return put(v);
    case op::kBinGet:
      if (!fixed(1, &v)) return Truncated();
      return get(v);
    case op::kLongBinGet:
      if (!fixed(4, &v)) return Truncated();
      return get(v);
    case op::kGet:
      if (!decimal(&v)) return Malformed("GET index");
      return get(v);
    default:
      break;
  }
  if (const char* name = OpcodeName(opcode)) {
    const bool runs_code = std::strchr("cRbioPQ\x81\x82\x83\x84\x92\x93",
                                       opcode) != nullptr;
    return absl::InvalidArgumentError(absl::StrFormat(
        "codec: pickle opcode %s (0x%02x) refused: %s", name,
        static_cast<uint8_t>(opcode),
        runs_code ? "it would import or call code in Python, and mp never "
                    "runs code from a message"
                  : "not supported (mp reads protocol 2 to 5 data opcodes)"));
  }
  return absl::DataLossError(absl::StrFormat(
      "codec: unknown pickle opcode 0x%02x", static_cast<uint8_t>(opcode)));
}

}  // namespace mp::pickle
