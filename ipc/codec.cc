#include "multiprocessing/ipc/codec.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>

#include "absl/strings/str_format.h"

namespace mp {

HandleTable HandleTable::Inherited(std::vector<platform::NativeHandle> handles) {
  HandleTable t;
  t.claimed_.assign(handles.size(), false);
  t.handles_ = std::move(handles);
  t.owned_ = true;
  return t;
}

HandleTable::HandleTable(HandleTable&& o) noexcept
    : handles_(std::move(o.handles_)),
      claimed_(std::move(o.claimed_)),
      owned_(o.owned_) {
  o.handles_.clear();
  o.claimed_.clear();
}

HandleTable& HandleTable::operator=(HandleTable&& o) noexcept {
  if (this != &o) {
    HandleTable old(std::move(*this));
    handles_ = std::move(o.handles_);
    claimed_ = std::move(o.claimed_);
    owned_ = o.owned_;
    o.handles_.clear();
    o.claimed_.clear();
  }
  return *this;
}

HandleTable::~HandleTable() {
  if (!owned_) return;
  for (std::size_t i = 0; i < handles_.size(); ++i) {
    if (!claimed_[i]) platform::ScopedHandle close(handles_[i]);
  }
}

int64_t HandleTable::Add(platform::NativeHandle handle) {
  auto it = std::find(handles_.begin(), handles_.end(), handle);
  if (it != handles_.end()) return it - handles_.begin();
  handles_.push_back(handle);
  return static_cast<int64_t>(handles_.size() - 1);
}

absl::StatusOr<platform::ScopedHandle> HandleTable::Claim(int64_t index) {
  if (!owned_ || index < 0 ||
      static_cast<uint64_t>(index) >= handles_.size() || claimed_[index]) {
    return absl::InvalidArgumentError(absl::StrCat(
        "codec: handle #", index,
        " is not among the handles this process inherited, or was claimed "
        "already (a Connection or Queue travels only as an argument of a "
        "Process)"));
  }
  claimed_[index] = true;
  return platform::ScopedHandle(handles_[index]);
}

void Encoder::WriteFloat(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  char b[9];
  b[0] = pickle::op::kBinFloat;
  for (int i = 0; i < 8; ++i) b[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
  out_->append(b, 9);
}

namespace {

// An opcode and a little-endian length of `width` bytes.
void PutCounted(std::string* out, char opcode, uint64_t n, int width,
                absl::string_view bytes) {
  char b[9];
  b[0] = opcode;
  for (int i = 0; i < width; ++i) b[1 + i] = static_cast<char>(n >> (8 * i));
  out->append(b, 1 + width);
  out->append(bytes.data(), bytes.size());
}

void PutSized(std::string* out, absl::string_view bytes, char op1, char op4,
              char op8) {
  const uint64_t n = bytes.size();
  if (n < 0x100) {
    PutCounted(out, op1, n, 1, bytes);
  } else if (n <= 0xffffffffu) {
    PutCounted(out, op4, n, 4, bytes);
  } else {
    PutCounted(out, op8, n, 8, bytes);
  }
}

}  // namespace

void Encoder::WriteStr(absl::string_view utf8) {
  if (!pickle::IsPickleUtf8(utf8)) {
    Fail(absl::InvalidArgumentError(
        "codec: a std::string that is not valid UTF-8 cannot be a Python "
        "str; send binary data as mp::Bytes or std::vector<char>"));
    return;
  }
  PutSized(out_, utf8, pickle::op::kShortBinUnicode, pickle::op::kBinUnicode,
           pickle::op::kBinUnicode8);
}

void Encoder::WriteBytes(absl::string_view bytes) {
  PutSized(out_, bytes, pickle::op::kShortBinBytes, pickle::op::kBinBytes,
           pickle::op::kBinBytes8);
}

int64_t Encoder::AddHandle(platform::NativeHandle handle) {
  if (handles_ == nullptr) {
    Fail(absl::InvalidArgumentError(
        "codec: a Connection or Queue cannot travel in a message, only as an "
        "argument of a Process"));
    return -1;
  }
  return handles_->Add(handle);
}

absl::Status Decoder::CheckDepth() const {
  if (depth_ + 1 > kMaxDepth) {
    return absl::ResourceExhaustedError(
        absl::StrCat("codec: values nested deeper than ", kMaxDepth));
  }
  return absl::OkStatus();
}

absl::Status Decoder::TypeError(absl::string_view expected) const {
  return absl::InvalidArgumentError(absl::StrCat(
      "codec: expected ", expected, ", got ", pickle::KindName(type())));
}

absl::Status Decoder::ExpectType(std::initializer_list<PyType> types,
                                 absl::string_view expected) const {
  for (PyType t : types) {
    if (t == type()) return absl::OkStatus();
  }
  return TypeError(expected);
}

absl::Status Decoder::ReadBool(bool* out) const {
  if (type() != PyType::kBool) return TypeError("bool");
  *out = node().b;
  return absl::OkStatus();
}

absl::Status Decoder::ReadInt(absl::int128* out) const {
  if (type() == PyType::kInt) {
    *out = node().i;
    return absl::OkStatus();
  }
  if (type() == PyType::kBigInt) {
    const absl::string_view bytes = context_->tape->bytes(node());
    if (!pickle::BigIntToInt128(bytes, out)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "codec: an int of ", bytes.size(),
          " bytes is beyond 128 bits (mp's widest integer is absl::int128)"));
    }
    return absl::OkStatus();
  }
  return TypeError("int");
}

absl::Status Decoder::ReadFloat(double* out) const {
  if (type() == PyType::kFloat) {
    *out = node().f;
    return absl::OkStatus();
  }
  if (type() == PyType::kInt || type() == PyType::kBigInt) {
    absl::int128 i;
    if (absl::Status s = ReadInt(&i); !s.ok()) return s;
    const double d = static_cast<double>(i);
    if (d >= 0x1p127 || d < -0x1p127 || static_cast<absl::int128>(d) != i) {
      return absl::InvalidArgumentError(absl::StrCat(
          "codec: int ", pickle::Decimal(i), " has no exact float value"));
    }
    *out = d;
    return absl::OkStatus();
  }
  return TypeError("float");
}

absl::Status Decoder::ReadBytes(absl::string_view* out) const {
  if (type() != PyType::kStr && type() != PyType::kBytes) {
    return TypeError("str or bytes");
  }
  *out = context_->tape->bytes(node());
  return absl::OkStatus();
}

absl::Status Decoder::Charge(std::size_t bytes) const {
  if (bytes > context_->budget) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "codec: decoding this message would allocate more than its budget (",
        kBudgetPerByte, " bytes per byte received + ", kBudgetBase,
        "); it is refused"));
  }
  context_->budget -= bytes;
  return absl::OkStatus();
}

absl::Status Decoder::Charge(std::size_t count, std::size_t bytes_each) const {
  if (bytes_each != 0 &&
      count > std::numeric_limits<std::size_t>::max() / bytes_each) {
    return Charge(std::numeric_limits<std::size_t>::max());
  }
  return Charge(count * bytes_each);
}

absl::StatusOr<platform::ScopedHandle> Decoder::ClaimHandle(
    int64_t index) const {
  if (context_->handles == nullptr) {
    return absl::InvalidArgumentError(
        "codec: a Connection or Queue can only be received as an argument of "
        "a Process, not in a message");
  }
  return context_->handles->Claim(index);
}

namespace codec_internal {

absl::Status IntegerOutOfRange(absl::int128 v, std::size_t size,
                               bool is_signed) {
  return absl::InvalidArgumentError(
      absl::StrCat("codec: integer ", pickle::Decimal(v), " out of range for a ", size,
                   "-byte ", is_signed ? "signed" : "unsigned", " integer"));
}

absl::Status HashFlood(std::size_t bucket_length) {
  return absl::InvalidArgumentError(absl::StrCat(
      "codec: more than ", kMaxBucketLength,
      " keys fall into one bucket of a std::unordered_* (crafted to collide?); "
      "refused rather than decoded in quadratic time. Decode into std::map or "
      "std::set, or a hash table with a seeded hash, instead"));
}

namespace {
thread_local std::unique_ptr<pickle::Tape> tls_tape;
thread_local bool tls_tape_busy = false;
// Not with mingw-w64: there a thread_local's destructor (run by libstdc++'s
// __cxa_thread_atexit list) and emutls's release of the thread's storage
// are both pthread key destructors, run in no fixed order, and the tape was
// freed through storage already released: a heap corruption at the exit of
// a thread that had decoded (the pool's thread, under Wine about one run in
// four). There each decode has a tape of its own.
#if defined(__MINGW32__)
constexpr bool kReuseTape = false;
#else
constexpr bool kReuseTape = true;
#endif
}  // namespace

absl::Status DecodeRoot(absl::string_view data, HandleTable* handles,
                        absl::Status (*decode)(Decoder&, void*), void* out) {
  // One tape per thread, reused; a nested decode (a Codec that decodes
  // another message) gets its own.
  pickle::Tape local;
  pickle::Tape* tape = &local;
  const bool reuse = kReuseTape && !tls_tape_busy;
  if (reuse) {
    if (tls_tape == nullptr) tls_tape = std::make_unique<pickle::Tape>();
    tape = tls_tape.get();
    tls_tape_busy = true;
  }
  absl::Status status;
#if defined(__cpp_exceptions) || defined(_CPPUNWIND)
  try {
#endif
    status = tape->Parse(data);
    if (status.ok()) {
      const std::size_t budget =
          data.size() >
                  (std::numeric_limits<std::size_t>::max() - kBudgetBase) /
                      kBudgetPerByte
              ? std::numeric_limits<std::size_t>::max()
              : data.size() * kBudgetPerByte + kBudgetBase;
      Decoder::Context context{tape, budget, handles};
      Decoder d(&context, tape->root(), 0);
      status = decode(d, out);
    }
#if defined(__cpp_exceptions) || defined(_CPPUNWIND)
  } catch (const std::bad_alloc&) {
    status = absl::ResourceExhaustedError(
        "codec: out of memory while decoding a message");
  }
#endif
  if (reuse) {
    tape->Release();
    tls_tape_busy = false;
  }
  return status;
}

}  // namespace codec_internal
}  // namespace mp
