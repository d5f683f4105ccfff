// The pickle machinery under ipc/codec.h: opcodes, and a parser that turns a
// pickle into a flat tree of nodes without running anything. Internal to
// //ipc (the codec and PyValue are the public faces).
//
// The parser is a pickle virtual machine restricted to data opcodes: it
// builds None, bool, int, float, str, bytes, tuple, list, dict, set and
// frozenset values and follows the memo, and it refuses every opcode that
// would import a name or call something in Python (GLOBAL, STACK_GLOBAL,
// REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX, PERSID, BINPERSID, EXT1/2/4)
// with kInvalidArgument naming the opcode. Loading a pickle here can never
// execute code.
//
// Memory: nodes live in one vector reused from parse to parse; a str or bytes
// node points into the input (nothing is copied); at most one node is made
// per input byte, so a parse holds at most sizeof(Node) (24) bytes per input
// byte, plus the stack and the memo, each bounded by the input size too.
// Shared references (the memo) are kept as reference nodes, never expanded:
// whoever turns the tree into values charges what it builds (codec.h's
// budget). Time is linear in the input.
#ifndef MULTIPROCESSING_IPC_PICKLE_H_
#define MULTIPROCESSING_IPC_PICKLE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/numeric/int128.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace mp::pickle {

// The protocol we write: 4, the default of CPython 3.8 to 3.13, which every
// Python 3.4+ reads. (Frames are optional in protocol 4; we write none.)
inline constexpr int kProtocol = 4;
// The highest protocol we read.
inline constexpr int kHighestProtocol = 5;

// The opcodes we read or write (CPython's Lib/pickletools.py documents all).
namespace op {
inline constexpr char kMark = '(';
inline constexpr char kStop = '.';
inline constexpr char kPop = '0';
inline constexpr char kPopMark = '1';
inline constexpr char kDup = '2';
inline constexpr char kFloat = 'F';
inline constexpr char kInt = 'I';
inline constexpr char kBinInt = 'J';
inline constexpr char kBinInt1 = 'K';
inline constexpr char kLong = 'L';
inline constexpr char kBinInt2 = 'M';
inline constexpr char kNone = 'N';
inline constexpr char kBinUnicode = 'X';
inline constexpr char kAppend = 'a';
inline constexpr char kDict = 'd';
inline constexpr char kEmptyDict = '}';
inline constexpr char kAppends = 'e';
inline constexpr char kGet = 'g';
inline constexpr char kBinGet = 'h';
inline constexpr char kLongBinGet = 'j';
inline constexpr char kList = 'l';
inline constexpr char kEmptyList = ']';
inline constexpr char kPut = 'p';
inline constexpr char kBinPut = 'q';
inline constexpr char kLongBinPut = 'r';
inline constexpr char kSetItem = 's';
inline constexpr char kTuple = 't';
inline constexpr char kEmptyTuple = ')';
inline constexpr char kSetItems = 'u';
inline constexpr char kBinFloat = 'G';
inline constexpr char kProto = '\x80';
inline constexpr char kTuple1 = '\x85';
inline constexpr char kTuple2 = '\x86';
inline constexpr char kTuple3 = '\x87';
inline constexpr char kNewTrue = '\x88';
inline constexpr char kNewFalse = '\x89';
inline constexpr char kLong1 = '\x8a';
inline constexpr char kLong4 = '\x8b';
inline constexpr char kBinBytes = 'B';
inline constexpr char kShortBinBytes = 'C';
inline constexpr char kShortBinUnicode = '\x8c';
inline constexpr char kBinUnicode8 = '\x8d';
inline constexpr char kBinBytes8 = '\x8e';
inline constexpr char kEmptySet = '\x8f';
inline constexpr char kAddItems = '\x90';
inline constexpr char kFrozenSet = '\x91';
inline constexpr char kMemoize = '\x94';
inline constexpr char kFrame = '\x95';
inline constexpr char kByteArray8 = '\x96';
}  // namespace op

// What a node holds. kRef is a shared reference (memo GET, DUP) to another
// node; every other kind is a Python type.
enum class Kind : uint8_t {
  kNone,
  kBool,
  kInt,     // fits int64_t
  kBigInt,  // does not: little-endian two's complement bytes in the input
  kFloat,
  kStr,
  kBytes,  // bytes or bytearray
  kTuple,
  kList,
  kDict,  // children: key, value, key, value, ...
  kSet,
  kFrozenSet,
  kRef,
};

// Python's name of the type ("int", "str", "tuple", ...).
absl::string_view KindName(Kind kind);

inline constexpr uint32_t kNoNode = 0xffffffff;

struct Node {
  Kind kind;
  uint8_t flags = 0;        // parser-private
  uint32_t next = kNoNode;  // the next child of the same parent
  union {
    bool b;
    int64_t i;
    double f;
    struct {
      uint32_t first;
      uint32_t last;
      uint32_t count;
    } c;  // tuple, list, dict (count counts keys and values), sets
    struct {
      uint64_t offset;
      uint64_t size;
    } s;              // str, bytes, big int: where the bytes are in the input
    uint32_t target;  // ref: never another ref
  };
};
static_assert(sizeof(Node) == 24, "one node per input byte at most");

// One parsed pickle. Reusable: each Parse() starts afresh and keeps the
// vectors' capacity (Release() gives large ones back).
class Tape {
 public:
  // Parses the pickle that occupies all of `data`, which must outlive the
  // nodes' use. kInvalidArgument: a refused or unsupported opcode, an
  // unhashable dict key or set element. kDataLoss: truncated or malformed.
  [[nodiscard]] absl::Status Parse(absl::string_view data);

  uint32_t root() const { return root_; }
  const Node& node(uint32_t i) const { return nodes_[i]; }
  // A node with its reference followed.
  uint32_t Resolve(uint32_t i) const {
    return nodes_[i].kind == Kind::kRef ? nodes_[i].target : i;
  }
  // The bytes of a str, bytes or big int node.
  absl::string_view bytes(const Node& n) const {
    return data_.substr(static_cast<std::size_t>(n.s.offset),
                        static_cast<std::size_t>(n.s.size));
  }
  // Frees memory kept from a large parse.
  void Release();

 private:
  [[nodiscard]] absl::Status Step(char opcode, const char*& p, const char* end);
  uint32_t NewNode(Kind kind);
  [[nodiscard]] absl::Status Push(uint32_t node);
  absl::Status Pop(uint32_t* node);
  [[nodiscard]] absl::Status PopMark(std::size_t* begin);
  // Makes a container of the given kind from stack[begin, end).
  [[nodiscard]] absl::Status Collect(Kind kind, std::size_t begin);
  // Appends stack[begin, end) to the container under them, then pops them.
  [[nodiscard]] absl::Status AddToTop(Kind expected, std::size_t begin,
                                      char opcode);
  void Link(uint32_t parent, uint32_t child);
  [[nodiscard]] absl::Status CheckHashable(uint32_t node, int depth);
  std::size_t fence() const { return marks_.empty() ? 0 : marks_.back(); }

  absl::string_view data_;
  std::vector<Node> nodes_;
  std::vector<uint32_t> stack_;
  std::vector<std::size_t> marks_;
  absl::flat_hash_map<uint64_t, uint32_t> memo_;
  uint32_t root_ = kNoNode;
};

// Whether `s` is UTF-8 as Python's pickle writes it: well formed, except
// that encoded surrogates (U+D800..U+DFFF) are allowed ("surrogatepass").
bool IsPickleUtf8(absl::string_view s);

// The integer in little-endian two's complement `bytes`, if it fits.
bool BigIntToInt128(absl::string_view bytes, absl::int128* out);

// The integer in decimal (Abseil's StrCat takes no int128 in this version).
std::string Decimal(absl::int128 v);

// Appends the pickle encoding of an integer: the shortest opcode CPython
// would use (BININT1, BININT2, BININT or LONG1).
void AppendInt(absl::int128 v, std::string* out);

}  // namespace mp::pickle

#endif  // MULTIPROCESSING_IPC_PICKLE_H_
