// CUDA C from the kernel IR (include/ember/codegen/cuda.h says what the kernels look like).
#include <bit>
#include <cmath>
#include <cstdio>
#include <functional>
#include <sstream>

#include "ember/codegen/cuda.h"
#include "ember/codegen/legalize.h"
#include "ember/runtime/error.h"

namespace ember::codegen::cuda {
namespace {

using Expr = KernelIR::Expr;
using ExprKind = KernelIR::ExprKind;
using ir::Op;

bool is_16bit(DType d) { return d == DType::Float16 || d == DType::BFloat16; }
bool is_unsigned(DType d) { return d == DType::Bool || d == DType::UInt8; }

// How each dtype is stored in a buffer, and the C type of its values inside a kernel.
const char* storage_type(DType d) {
  switch (d) {
    case DType::Bool:
    case DType::UInt8:
      return "u8";
    case DType::Int8:
      return "i8";
    case DType::Int32:
      return "i32";
    case DType::Int64:
      return "i64";
    case DType::Float16:
    case DType::BFloat16:
      return "u16";
    case DType::Float32:
      return "float";
    case DType::Float64:
      return "double";
  }
  throw InternalError("cuda storage_type: unknown dtype");
}
const char* value_type(DType d) {
  if (d == DType::Bool) return "bool";
  if (is_16bit(d)) return "float";
  return storage_type(d);
}
// The unsigned type integer arithmetic wraps in.
const char* wrap_type(DType d) { return d == DType::Int64 ? "u64" : "unsigned"; }

// The helpers every kernel may call, and the argument block (cuda.h's KernelArgs).
// Guarded: several kernels' sources may be compiled as one program.
constexpr const char* kPrelude = R"(#ifndef EMBER_CUDA_PRELUDE
#define EMBER_CUDA_PRELUDE
typedef signed char i8;
typedef unsigned char u8;
typedef unsigned short u16;
typedef int i32;
typedef long long i64;
typedef unsigned long long u64;
struct ember_args {
  char* buf[32];
  i64 stride[32][9];
  i64 size[8];
  i64 n;
  i64 cols;
  int rank;
  int flags;
};
#ifdef EMBER_CUDA_EMULATION  // the test suite's host emulation provides these
#define ember_h2f ember_emulated_h2f
#define ember_f2h ember_emulated_f2h
#else
static __device__ __forceinline__ float ember_h2f(u16 h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}
static __device__ __forceinline__ u16 ember_f2h(float f) {
  u16 h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}
#endif
static __device__ __forceinline__ float ember_bf2f(u16 b) { return __uint_as_float((unsigned)b << 16); }
static __device__ __forceinline__ u16 ember_f2bf(float f) {
  const unsigned u = __float_as_uint(f);
  if (f != f) return (u16)((u >> 16) | 0x40u);
  return (u16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
template <class T> static __device__ __forceinline__ T ember_max(T a, T b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a == b) return signbit(a) ? b : a;
  return a > b ? a : b;
}
template <class T> static __device__ __forceinline__ T ember_min(T a, T b) {
  if (a != a) return a;
  if (b != b) return b;
  if (a == b) return signbit(a) ? a : b;
  return a < b ? a : b;
}
static __device__ __forceinline__ i64 ember_f2i64(double x) {
  if (x != x) return 0;
  if (x >= 9223372036854775808.0) return 9223372036854775807LL;
  if (x <= -9223372036854775808.0) return -9223372036854775807LL - 1;
  return (i64)x;
}
static __device__ __forceinline__ double ember_clamp(double x, double lo, double hi) {
  return x != x ? 0.0 : x < lo ? lo : x > hi ? hi : x;
}
// A row's values combined across its blockDim.x threads: a shuffle tree within the warp, then
// shared memory across the row's warps. Every thread of the block calls it (no early return).
template <class T, class F>
static __device__ __forceinline__ T ember_row_reduce(T v, F f) {
  __shared__ u64 shared[32];
  const int width = blockDim.x < 32 ? blockDim.x : 32;
  for (int o = width / 2; o > 0; o /= 2) v = f(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (blockDim.x <= 32) return v;
  const int warps = blockDim.x / 32;
  T* s = reinterpret_cast<T*>(shared) + threadIdx.y * warps;
  __syncthreads();
  if (threadIdx.x % 32 == 0) s[threadIdx.x / 32] = v;
  __syncthreads();
  T r = s[0];
  for (int k = 1; k < warps; ++k) r = f(r, s[k]);
  return r;
}
#endif
)";

std::string float_literal(double v, DType d) {
  char buf[64];
  if (d == DType::Float64) {
    std::snprintf(buf, sizeof buf, "__longlong_as_double(0x%016llxLL)",
                  static_cast<unsigned long long>(std::bit_cast<uint64_t>(v)));
    return buf;
  }
  float f = float(v);
  if (d == DType::Float16) f = float(Half(f));
  if (d == DType::BFloat16) f = float(BFloat16(f));
  std::snprintf(buf, sizeof buf, "__uint_as_float(0x%08xu)", std::bit_cast<uint32_t>(f));
  return buf;
}
std::string int_literal(int64_t v, DType d) {
  if (d == DType::Bool) return v ? "true" : "false";
  if (v == INT64_MIN) return "(-9223372036854775807LL - 1)";
  return std::string("((") + value_type(d) + ")" + std::to_string(v) + "LL)";
}

// Prints one kernel: expressions become `const T name = ...;` lines.
class Printer {
 public:
  explicit Printer(const KernelIR& k) : k_(k) {}

  Source run() {
    if (auto why = unsupported(k_)) throw BackendError("cuda", k_.name, *why);
    Source s;
    s.name = k_.name;
    s.rows = k_.rows;
    out_ << kPrelude;
    if (k_.rows)
      rows();
    else
      elementwise(s.vector_width);
    s.code = out_.str();
    return s;
  }

 private:
  DType dtype_of(int e) const { return k_.exprs[size_t(e)].dtype; }

  std::string from_storage(const std::string& x, DType d) {
    if (d == DType::Bool) return "(" + x + " != 0)";
    if (d == DType::Float16) return "ember_h2f(" + x + ")";
    if (d == DType::BFloat16) return "ember_bf2f(" + x + ")";
    return x;
  }
  std::string to_storage(const std::string& x, DType d) {
    if (d == DType::Bool) return "(u8)(" + x + ")";
    if (d == DType::Float16) return "ember_f2h(" + x + ")";
    if (d == DType::BFloat16) return "ember_f2bf(" + x + ")";
    return x;
  }
  std::string truth(const std::string& x, DType d) {
    return d == DType::Bool ? x : "(" + x + " != 0)";
  }
  // A value of dtype `from` as dtype `to`, as the eager casts do.
  std::string convert(const std::string& x, DType from, DType to) {
    if (from == to) return x;
    if (to == DType::Bool) return truth(x, from);
    const std::string t = value_type(to);
    if (from == DType::Bool) return "((" + t + ")(" + x + " ? 1 : 0))";
    if (is_floating(to)) {
      std::string y = "((" + t + ")(" + x + "))";
      if (to == DType::Float16) y = "ember_h2f(ember_f2h((float)" + y + "))";
      if (to == DType::BFloat16) y = "ember_bf2f(ember_f2bf((float)" + y + "))";
      return y;
    }
    if (!is_floating(from)) return "((" + t + ")(" + x + "))";  // integers wrap
    switch (to) {  // float to integer: truncates and saturates, NaN gives 0
      case DType::Int64:
        return "ember_f2i64((double)(" + x + "))";
      case DType::Int32:
        return "((i32)ember_clamp((double)(" + x + "), -2147483648.0, 2147483647.0))";
      case DType::Int8:
        return "((i8)ember_clamp((double)(" + x + "), -128.0, 127.0))";
      default:  // uint8
        return "((u8)ember_clamp((double)(" + x + "), 0.0, 255.0))";
    }
  }
  std::string constant(const Expr& e) {
    if (is_floating(e.dtype)) return float_literal(e.value, e.dtype);
    return int_literal(e.int_value, e.dtype);
  }

  std::string op(const Expr& e, const std::vector<std::string>& a) {
    const DType in = e.args.empty() ? e.dtype : dtype_of(e.args[0]);
    auto bin = [&](const char* o) { return "(" + a[0] + " " + o + " " + a[1] + ")"; };
    switch (e.op) {
      case Op::Where:
        return "(" + a[0] + " ? " + a[1] + " : " + a[2] + ")";
      case Op::Cast:
        return convert(a[0], in, e.dtype);
      case Op::Eq:
        return bin("==");
      case Op::Ne:
        return bin("!=");
      case Op::Lt:
        return bin("<");
      case Op::Le:
        return bin("<=");
      case Op::Gt:
        return bin(">");
      case Op::Ge:
        return bin(">=");
      case Op::LogicalAnd:
        return "(" + truth(a[0], in) + " && " + truth(a[1], dtype_of(e.args[1])) + ")";
      case Op::LogicalOr:
        return "(" + truth(a[0], in) + " || " + truth(a[1], dtype_of(e.args[1])) + ")";
      case Op::LogicalNot:
        return "(!" + truth(a[0], in) + ")";
      default:
        break;
    }
    if (is_floating(in)) return float_op(e.op, a, in);
    const std::string t = value_type(in), u = wrap_type(in);
    const std::string& x = a[0];
    const bool uns = is_unsigned(in);
    auto wrap = [&](const char* o) {
      return "((" + t + ")((" + u + ")" + a[0] + " " + o + " (" + u + ")" + a[1] + "))";
    };
    switch (e.op) {
      case Op::Neg:
        return "((" + t + ")(0u - (" + u + ")" + x + "))";
      case Op::Abs:
        return uns ? x : "(" + x + " < 0 ? (" + t + ")(0u - (" + u + ")" + x + ") : " + x + ")";
      case Op::Relu:
        return uns ? x : "(" + x + " < 0 ? (" + t + ")0 : " + x + ")";
      case Op::Sign:
        return uns ? "((" + t + ")(" + x + " > 0))"
                   : "((" + t + ")((" + x + " > 0) - (" + x + " < 0)))";
      case Op::Add:
        return wrap("+");
      case Op::Sub:
        return wrap("-");
      case Op::Mul:
        return wrap("*");
      case Op::Maximum:
        return "(" + a[0] + " > " + a[1] + " ? " + a[0] + " : " + a[1] + ")";
      case Op::Minimum:
        return "(" + a[0] + " < " + a[1] + " ? " + a[0] + " : " + a[1] + ")";
      default:
        throw BackendError("cuda", k_.name,
                           std::string(ir::op_name(e.op)) + " on " + dtype_name(in) +
                               " is not supported by the CUDA backend yet");
    }
  }

  std::string float_op(Op o, const std::vector<std::string>& a, DType d) {
    const bool f32 = d != DType::Float64;  // 16-bit values are float32 here (legalized)
    const std::string t = f32 ? "float" : "double";
    auto fn = [&](const char* name) {
      return std::string(name) + (f32 ? "f(" : "(") + a[0] + (a.size() > 1 ? ", " + a[1] : "") +
             ")";
    };
    const std::string one = f32 ? "1.0f" : "1.0", zero = f32 ? "0.0f" : "0.0";
    const std::string& x = a[0];
    switch (o) {
      case Op::Neg:
        return "(-" + x + ")";
      case Op::Abs:
        return fn("fabs");
      case Op::Exp:
        return fn("exp");
      case Op::Log:
        return fn("log");
      case Op::Sqrt:
        return fn("sqrt");
      case Op::Rsqrt:
        return "(" + one + " / " + fn("sqrt") + ")";
      case Op::Sin:
        return fn("sin");
      case Op::Cos:
        return fn("cos");
      case Op::Tanh:
        return fn("tanh");
      case Op::Sigmoid:
        return "(" + one + " / (" + one + " + " + (f32 ? "expf(-" : "exp(-") + x + ")))";
      case Op::Relu:
        return "(" + x + " < " + zero + " ? " + zero + " : " + x + ")";
      case Op::Erf:
        return fn("erf");
      case Op::Reciprocal:
        return "(" + one + " / " + x + ")";
      case Op::Floor:
        return fn("floor");
      case Op::Ceil:
        return fn("ceil");
      case Op::Round:
        return fn("rint");
      case Op::Sign:
        return "((" + t + ")((" + x + " > " + zero + ") - (" + x + " < " + zero + ")))";
      case Op::Log1p:
        return fn("log1p");
      case Op::Expm1:
        return fn("expm1");
      case Op::Add:
        return "(" + a[0] + " + " + a[1] + ")";
      case Op::Sub:
        return "(" + a[0] + " - " + a[1] + ")";
      case Op::Mul:
        return "(" + a[0] + " * " + a[1] + ")";
      case Op::Div:
        return "(" + a[0] + " / " + a[1] + ")";
      case Op::Pow:
        return fn("pow");
      case Op::Maximum:
        return "ember_max(" + a[0] + ", " + a[1] + ")";
      case Op::Minimum:
        return "ember_min(" + a[0] + ", " + a[1] + ")";
      default:
        throw BackendError("cuda", k_.name,
                           std::string(ir::op_name(o)) + " on " + dtype_name(d) +
                               " is not supported by the CUDA backend yet");
    }
  }

  // `const T vN = <expr>;` for a Constant or Op expression whose operands are named in `names`.
  std::string define(int i, const std::vector<std::string>& names, const std::string& prefix,
                     const std::string& indent) {
    const Expr& e = k_.exprs[size_t(i)];
    std::string value;
    if (e.kind == ExprKind::Constant) {
      value = constant(e);
    } else {
      std::vector<std::string> args;
      for (int a : e.args) args.push_back(names[size_t(a)]);
      value = op(e, args);
    }
    const std::string name = prefix + std::to_string(i);
    out_ << indent << "const " << value_type(e.dtype) << " " << name << " = " << value << ";\n";
    return name;
  }
  std::string load(int buffer, const std::string& offset) {
    return "reinterpret_cast<const " + std::string(storage_type(k_.buffers[size_t(buffer)].dtype)) +
           "*>(a.buf[" + std::to_string(buffer) + "])[" + offset + "]";
  }
  std::string store_to(int buffer, const std::string& offset) {
    return "reinterpret_cast<" + std::string(storage_type(k_.buffers[size_t(buffer)].dtype)) +
           "*>(a.buf[" + std::to_string(buffer) + "])[" + offset + "]";
  }

  // The body for one point: every expression in order, then the stores. `at(b)` is buffer b's
  // offset there; a gather adds its index times the table's stride to the table's.
  void point(const std::function<std::string(int)>& at, const std::string& indent) {
    std::vector<std::string> names(k_.exprs.size());
    for (size_t i = 0; i < k_.exprs.size(); ++i) {
      const Expr& e = k_.exprs[i];
      const std::string name = "v" + std::to_string(i);
      switch (e.kind) {
        case ExprKind::Load:
          out_ << indent << "const " << value_type(e.dtype) << " " << name << " = "
               << from_storage(load(e.buffer, at(e.buffer)), e.dtype) << ";\n";
          names[i] = name;
          break;
        case ExprKind::Gather: {
          const std::string offset = at(e.buffer) + " + (i64)" + names[size_t(e.args[0])] + " * " +
                                     std::to_string(e.int_value) + "LL";
          out_ << indent << "const " << value_type(e.dtype) << " " << name << " = "
               << from_storage(load(e.buffer, offset), e.dtype) << ";\n";
          names[i] = name;
          break;
        }
        case ExprKind::Reduce:
          throw InternalError("cuda: a reduction in an elementwise kernel");
        default:
          names[i] = define(int(i), names, "v", indent);
      }
    }
    for (const auto& [buf, e] : k_.stores)
      out_ << indent << store_to(buf, at(buf)) << " = "
           << to_storage(names[size_t(e)], k_.buffers[size_t(buf)].dtype) << ";\n";
  }

  void elementwise(int& vector_width) {
    const int v = cuda::vector_width(k_);
    vector_width = v;
    const size_t nb = k_.buffers.size();
    out_ << "extern \"C\" __global__ void __launch_bounds__(256) " << k_.name
         << "(const ember_args a) {\n"
         << "  const i64 step = (i64)gridDim.x * blockDim.x;\n"
         << "  const i64 first = (i64)blockIdx.x * blockDim.x + threadIdx.x;\n";
    // Aligned dense launches: v elements per access, each buffer's v values a vector.
    bool gathers = false;
    for (const Expr& e : k_.exprs) gathers |= e.kind == ExprKind::Gather;
    if (!gathers) {
      out_ << "  if (a.flags == 3) {\n"
           << "    const i64 vectors = a.n / " << v << ";\n"
           << "    for (i64 q = first; q < vectors; q += step) {\n";
      for (size_t b = 0; b < nb; ++b) {
        const size_t bytes = itemsize(k_.buffers[b].dtype) * size_t(v);
        out_ << "      struct __align__(" << std::min<size_t>(16, bytes) << ") w" << b << "_t { "
             << storage_type(k_.buffers[b].dtype) << " x[" << v << "]; };\n";
        if (k_.buffers[b].output)
          out_ << "      w" << b << "_t w" << b << ";\n";
        else
          out_ << "      const w" << b << "_t w" << b << " = reinterpret_cast<const w" << b
               << "_t*>(a.buf[" << b << "])[q];\n";
      }
      out_ << "#pragma unroll\n"
           << "      for (int l = 0; l < " << v << "; ++l) {\n";
      vector_point("        ");
      out_ << "      }\n";
      for (size_t b = 0; b < nb; ++b)
        if (k_.buffers[b].output)
          out_ << "      reinterpret_cast<w" << b << "_t*>(a.buf[" << b << "])[q] = w" << b
               << ";\n";
      out_ << "    }\n"
           << "    for (i64 i = vectors * " << v << " + first; i < a.n; i += step) {\n";
      point([](int) { return std::string("i"); }, "      ");
      out_ << "    }\n"
           << "    return;\n"
           << "  }\n";
    }
    out_ << "  if (a.flags & 1) {\n"
         << "    for (i64 i = first; i < a.n; i += step) {\n";
    point([](int) { return std::string("i"); }, "      ");
    out_ << "    }\n"
         << "    return;\n"
         << "  }\n"
         << "  for (i64 i = first; i < a.n; i += step) {\n"
         << "    i64 rest = i;\n";
    for (size_t b = 0; b < nb; ++b) out_ << "    i64 o" << b << " = 0;\n";
    out_ << "    for (int d = a.rank - 1; d >= 0; --d) {\n"
         << "      const i64 c = rest % a.size[d];\n"
         << "      rest /= a.size[d];\n";
    for (size_t b = 0; b < nb; ++b) out_ << "      o" << b << " += c * a.stride[" << b << "][d];\n";
    out_ << "    }\n";
    point([](int b) { return "o" + std::to_string(b); }, "    ");
    out_ << "  }\n"
         << "}\n";
  }

  // The vector loop's body: lane l of each buffer's vector.
  void vector_point(const std::string& indent) {
    std::vector<std::string> names(k_.exprs.size());
    for (size_t i = 0; i < k_.exprs.size(); ++i) {
      const Expr& e = k_.exprs[i];
      if (e.kind == ExprKind::Load) {
        names[i] = "v" + std::to_string(i);
        out_ << indent << "const " << value_type(e.dtype) << " " << names[i] << " = "
             << from_storage("w" + std::to_string(e.buffer) + ".x[l]", e.dtype) << ";\n";
      } else {
        names[i] = define(int(i), names, "v", indent);
      }
    }
    for (const auto& [buf, e] : k_.stores)
      out_ << indent << "w" << buf
           << ".x[l] = " << to_storage(names[size_t(e)], k_.buffers[size_t(buf)].dtype) << ";\n";
  }

  // The accumulation of a reduction in C: init and step (as functions of the accumulator's type).
  static std::string reduce_init(Op op, DType acc) {
    const bool sum = op == Op::ReduceSum, prod = op == Op::ReduceProd, max = op == Op::ReduceMax;
    if (sum || prod) return is_floating(acc) ? float_literal(sum ? 0 : 1, acc) : (sum ? "0" : "1");
    if (acc == DType::Bool) return max ? "false" : "true";
    if (is_floating(acc)) return float_literal(max ? -INFINITY : INFINITY, acc);
    switch (acc) {
      case DType::UInt8:
        return max ? "0" : "255";
      case DType::Int8:
        return max ? "-128" : "127";
      case DType::Int32:
        return max ? "(-2147483647 - 1)" : "2147483647";
      default:
        return max ? "(-9223372036854775807LL - 1)" : "9223372036854775807LL";
    }
  }
  // The combining function as a lambda over the accumulator's C type (bools combine as int, so
  // they shuffle).
  static std::string reduce_combine(Op op, DType acc) {
    const std::string t = acc_type(acc);
    const std::string head = "[](" + t + " x, " + t + " y) -> " + t + " { return ";
    if (op == Op::ReduceSum || op == Op::ReduceProd) {
      const char* o = op == Op::ReduceSum ? "+" : "*";
      if (is_floating(acc)) return head + "x " + o + " y; }";
      return head + "(" + t + ")((u64)x " + o + " (u64)y); }";
    }
    const bool max = op == Op::ReduceMax;
    if (acc == DType::Bool) return head + (max ? "x | y; }" : "x & y; }");
    if (is_floating(acc)) return head + (max ? "ember_max(x, y); }" : "ember_min(x, y); }");
    return head + (max ? "x > y ? x : y; }" : "x < y ? x : y; }");
  }
  static std::string acc_type(DType acc) {
    if (acc == DType::Bool || acc == DType::Int8 || acc == DType::UInt8) return "int";
    return value_type(acc);
  }

  // Element-level expression i at column j of a row pass, printed once per pass: `names` holds the
  // pass's values so far (the row-level ones to begin with).
  std::string element(int i, std::vector<std::string>& names, const std::string& indent) {
    if (!names[size_t(i)].empty()) return names[size_t(i)];
    const Expr& e = k_.exprs[size_t(i)];
    if (e.kind == ExprKind::Load) {
      const std::string b = std::to_string(e.buffer), name = "e" + std::to_string(i);
      out_ << indent << "const " << value_type(e.dtype) << " " << name << " = "
           << from_storage(load(e.buffer, "o" + b + " + j * s" + b), e.dtype) << ";\n";
      return names[size_t(i)] = name;
    }
    for (int x : e.args) element(x, names, indent);
    return names[size_t(i)] = define(i, names, "e", indent);
  }

  void rows() {
    const size_t nb = k_.buffers.size();
    out_ << "extern \"C\" __global__ void __launch_bounds__(1024) " << k_.name
         << "(const ember_args a) {\n"
         << "  const i64 r = (i64)blockIdx.x * blockDim.y + threadIdx.y;\n"
         << "  const bool live = r < a.n;\n"
         << "  i64 rest = live ? r : 0;\n";
    for (size_t b = 0; b < nb; ++b) out_ << "  i64 o" << b << " = 0;\n";
    out_ << "  for (int d = a.rank - 1; d >= 0; --d) {\n"
         << "    const i64 c = rest % a.size[d];\n"
         << "    rest /= a.size[d];\n";
    for (size_t b = 0; b < nb; ++b) out_ << "    o" << b << " += c * a.stride[" << b << "][d];\n";
    out_ << "  }\n";
    for (size_t b = 0; b < nb; ++b)
      out_ << "  const i64 s" << b << " = a.stride[" << b << "][a.rank];\n";
    std::vector<std::string> row(k_.exprs.size());
    // Row-level values available so far: loads and constants, then ops once their operands are.
    auto settle = [&] {
      for (size_t i = 0; i < k_.exprs.size(); ++i) {
        const Expr& e = k_.exprs[i];
        if (!e.row_level || !row[i].empty() || e.kind == ExprKind::Reduce) continue;
        if (e.kind == ExprKind::Load) {
          row[i] = "r" + std::to_string(i);
          out_ << "  const " << value_type(e.dtype) << " " << row[i] << " = live ? "
               << from_storage(load(e.buffer, "o" + std::to_string(e.buffer)), e.dtype) << " : ("
               << value_type(e.dtype) << ")0;\n";
          continue;
        }
        bool ready = true;
        for (int x : e.args) ready &= !row[size_t(x)].empty();
        if (ready) row[i] = define(int(i), row, "r", "  ");
      }
    };
    settle();
    for (size_t i = 0; i < k_.exprs.size(); ++i) {
      const Expr& e = k_.exprs[i];
      if (e.kind != ExprKind::Reduce) continue;
      const DType in = dtype_of(e.args[0]);
      const DType acc = reduce_accumulator(e.op, in);
      const std::string t = acc_type(acc), name = "acc" + std::to_string(i);
      out_ << "  " << t << " " << name << " = " << reduce_init(e.op, acc) << ";\n"
           << "  const auto f" << i << " = " << reduce_combine(e.op, acc) << ";\n"
           << "  if (live) {\n"
           << "    for (i64 j = threadIdx.x; j < a.cols; j += blockDim.x) {\n";
      std::vector<std::string> names = row;
      const std::string v = element(e.args[0], names, "      ");
      out_ << "      " << name << " = f" << i << "(" << name << ", (" << t << ")"
           << convert(v, in, acc) << ");\n"
           << "    }\n"
           << "  }\n"
           << "  " << name << " = ember_row_reduce(" << name << ", f" << i << ");\n";
      row[i] = "r" + std::to_string(i);
      out_ << "  const " << value_type(e.dtype) << " " << row[i] << " = "
           << convert("((" + std::string(value_type(acc)) + ")" + name + ")", acc, e.dtype)
           << ";\n";
      settle();
    }
    bool element_stores = false;
    for (const auto& [buf, e] : k_.stores) element_stores |= !k_.exprs[size_t(e)].row_level;
    out_ << "  if (!live) return;\n";
    if (element_stores) {
      out_ << "  for (i64 j = threadIdx.x; j < a.cols; j += blockDim.x) {\n";
      std::vector<std::string> names = row;
      for (const auto& [buf, e] : k_.stores) {
        if (k_.exprs[size_t(e)].row_level) continue;
        const std::string value = element(e, names, "    "), b = std::to_string(buf);
        out_ << "    " << store_to(buf, "o" + b + " + j * s" + b) << " = "
             << to_storage(value, k_.buffers[size_t(buf)].dtype) << ";\n";
      }
      out_ << "  }\n";
    }
    for (const auto& [buf, e] : k_.stores)
      if (k_.exprs[size_t(e)].row_level)
        out_ << "  if (threadIdx.x == 0) " << store_to(buf, "o" + std::to_string(buf)) << " = "
             << to_storage(row[size_t(e)], k_.buffers[size_t(buf)].dtype) << ";\n";
    out_ << "}\n";
  }

  const KernelIR& k_;
  std::ostringstream out_;
};

}  // namespace

std::optional<std::string> unsupported(const KernelIR& kernel) {
  if (kernel.buffers.size() > size_t(kMaxBuffers))
    return "a kernel of " + std::to_string(kernel.buffers.size()) + " buffers (at most " +
           std::to_string(kMaxBuffers) + ")";
  return first_uncovered(kernel, "CUDA");
}

Source print(const KernelIR& kernel) { return Printer(kernel).run(); }

int vector_width(const KernelIR& kernel) {
  if (kernel.rows) return 1;
  size_t narrowest = 8;
  for (const auto& b : kernel.buffers) narrowest = std::min(narrowest, itemsize(b.dtype));
  return int(std::min<size_t>(8, 16 / narrowest));
}

}  // namespace ember::codegen::cuda
