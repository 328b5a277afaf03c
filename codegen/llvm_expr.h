// The CPU backend's scalar code: LLVM IR for one element of a legalized kernel's expression DAG
// (codegen/legalize.h made promotion, 16-bit rounding points and bool arithmetic explicit; what
// is printed here is each op on its dtype, casts that saturate and round, and the float32
// exp/tanh/erf polynomials of polynomials.h), and each dtype's storage and value types.
// Internal to the LLVM backend: the loop emitters (llvm_loops.cpp) call it for each loop body.
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/Module.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "ember/codegen/kernel_ir.h"
#include "ember/runtime/error.h"
#include "ember/runtime/polynomials.h"

namespace ember::codegen::llvm_backend {

// How each dtype is stored in memory, and the type its values have inside a kernel: 16-bit
// floats compute in float32 (rounded back after every op, as the eager kernels round every
// result), bool is i1.
inline llvm::Type* storage_type(llvm::LLVMContext& c, DType d) {
  switch (d) {
    case DType::Bool:
    case DType::UInt8:
    case DType::Int8:
      return llvm::Type::getInt8Ty(c);
    case DType::Int32:
      return llvm::Type::getInt32Ty(c);
    case DType::Int64:
      return llvm::Type::getInt64Ty(c);
    case DType::Float16:
      return llvm::Type::getHalfTy(c);
    case DType::BFloat16:
      return llvm::Type::getBFloatTy(c);
    case DType::Float32:
      return llvm::Type::getFloatTy(c);
    case DType::Float64:
      return llvm::Type::getDoubleTy(c);
  }
  throw InternalError("storage_type: unknown dtype");
}
inline llvm::Type* value_type(llvm::LLVMContext& c, DType d) {
  if (d == DType::Bool) return llvm::Type::getInt1Ty(c);
  if (d == DType::Float16 || d == DType::BFloat16) return llvm::Type::getFloatTy(c);
  return storage_type(c, d);
}
inline bool is_unsigned(DType d) { return d == DType::Bool || d == DType::UInt8; }
inline bool is_16bit(DType d) { return d == DType::Float16 || d == DType::BFloat16; }

// Emits the scalar expression DAG for one element; loads come from `load(buffer)`, gathers from
// `gather(buffer, offset)`: the table's element at the current point plus offset elements.
class ExprEmitter {
 public:
  ExprEmitter(llvm::IRBuilder<>& b, llvm::Module& m, const KernelIR& k) : b_(b), m_(m), k_(k) {}

  template <class Load, class Gather>
  std::vector<llvm::Value*> emit(const Load& load, const Gather& gather) {
    std::vector<llvm::Value*> v(k_.exprs.size());
    for (size_t i = 0; i < k_.exprs.size(); ++i) {
      const KernelIR::Expr& e = k_.exprs[i];
      switch (e.kind) {
        case KernelIR::ExprKind::Load:
          v[i] = from_storage(load(e.buffer), e.dtype);
          break;
        case KernelIR::ExprKind::Constant:
          v[i] = constant(e);
          break;
        case KernelIR::ExprKind::Reduce:
          throw InternalError("codegen: a reduction in an elementwise kernel");
        case KernelIR::ExprKind::Gather: {
          llvm::Value* index = b_.CreateSExtOrTrunc(v[size_t(e.args[0])], b_.getInt64Ty());
          llvm::Value* offset = b_.CreateMul(index, b_.getInt64(uint64_t(e.int_value)));
          v[i] = from_storage(gather(e.buffer, offset), e.dtype);
          break;
        }
        case KernelIR::ExprKind::Op: {
          std::vector<llvm::Value*> args;
          std::vector<DType> types;
          for (int a : e.args) {
            args.push_back(v[size_t(a)]);
            types.push_back(k_.exprs[size_t(a)].dtype);
          }
          v[i] = round_to(op(e.op, args, types, e.dtype), e.dtype);
        }
      }
    }
    return v;
  }

  // One Constant or Op expression, from its operands' values.
  llvm::Value* expr(const KernelIR::Expr& e, const std::vector<llvm::Value*>& args) {
    if (e.kind == KernelIR::ExprKind::Constant) return constant(e);
    std::vector<DType> types;
    for (int a : e.args) types.push_back(k_.exprs[size_t(a)].dtype);
    return round_to(op(e.op, args, types, e.dtype), e.dtype);
  }

  // Reductions (accumulating in legalize.h's reduce_accumulator): the accumulator's initial
  // value, and one accumulation step.
  llvm::Value* reduce_init(ir::Op op, DType acc) {
    const bool sum = op == ir::Op::ReduceSum, prod = op == ir::Op::ReduceProd;
    const bool max = op == ir::Op::ReduceMax;
    if (sum || prod) return constant(sum ? 0.0 : 1.0, acc);
    if (acc == DType::Bool) return b_.getInt1(!max);
    if (is_floating(acc)) return constant(max ? -INFINITY : INFINITY, acc);
    llvm::Type* t = value_type(b_.getContext(), acc);
    const unsigned bits = t->getIntegerBitWidth();
    if (is_unsigned(acc))
      return max ? llvm::ConstantInt::get(t, 0)
                 : llvm::ConstantInt::get(t, llvm::APInt::getMaxValue(bits));
    return llvm::ConstantInt::get(
        t, max ? llvm::APInt::getSignedMinValue(bits) : llvm::APInt::getSignedMaxValue(bits));
  }
  llvm::Value* reduce_step(ir::Op op, llvm::Value* acc, llvm::Value* v, DType acc_type) {
    if (op == ir::Op::ReduceSum || op == ir::Op::ReduceProd) {
      const bool sum = op == ir::Op::ReduceSum;
      if (!is_floating(acc_type)) return sum ? b_.CreateAdd(acc, v) : b_.CreateMul(acc, v);
      // Reassociation of this one accumulation lets the loop vectorize (several partial sums),
      // as the eager kernels' multiple accumulators do; nothing else in the kernel reassociates.
      llvm::FastMathFlags fmf;
      fmf.setAllowReassoc();
      llvm::Value* r = sum ? b_.CreateFAdd(acc, v) : b_.CreateFMul(acc, v);
      llvm::cast<llvm::Instruction>(r)->setFastMathFlags(fmf);
      return r;
    }
    if (acc_type == DType::Bool)  // any / all
      return op == ir::Op::ReduceMax ? b_.CreateOr(acc, v) : b_.CreateAnd(acc, v);
    // 16-bit values are float32 inside a kernel, and their max/min needs no rounding.
    const DType t = is_16bit(acc_type) ? DType::Float32 : acc_type;
    return this->op(op == ir::Op::ReduceMax ? ir::Op::Maximum : ir::Op::Minimum, {acc, v}, {t, t},
                    t);
  }
  llvm::Value* convert_value(llvm::Value* x, DType from, DType to) {
    return round_to(convert(x, from, to), to);
  }

  llvm::Value* from_storage(llvm::Value* x, DType d) {
    if (d == DType::Bool) return b_.CreateICmpNE(x, b_.getInt8(0));
    if (d == DType::BFloat16) return bf16_to_float(x);
    if (d == DType::Float16) return b_.CreateFPExt(x, b_.getFloatTy());
    return x;
  }
  llvm::Value* to_storage(llvm::Value* x, DType d) {
    if (d == DType::Bool) return b_.CreateZExt(x, b_.getInt8Ty());
    if (d == DType::BFloat16) return float_to_bf16(x);
    if (d == DType::Float16) return b_.CreateFPTrunc(x, b_.getHalfTy());
    return x;
  }

 private:
  // A 16-bit float result rounds to its dtype (and back to float32 for the next op).
  llvm::Value* round_to(llvm::Value* x, DType d) {
    if (!is_16bit(d)) return x;
    return from_storage(to_storage(x, d), d);
  }
  // bfloat16 by bit manipulation, as dtype.h does it (x86 without AVX512-BF16 would otherwise
  // need a compiler-rt routine the JIT cannot resolve): the upper half of a float32, rounded to
  // nearest even, NaN kept quiet.
  llvm::Value* bf16_to_float(llvm::Value* x) {
    llvm::Value* bits = b_.CreateZExt(b_.CreateBitCast(x, b_.getInt16Ty()), b_.getInt32Ty());
    return b_.CreateBitCast(b_.CreateShl(bits, 16), b_.getFloatTy());
  }
  llvm::Value* float_to_bf16(llvm::Value* x) {
    llvm::Value* u = b_.CreateBitCast(x, b_.getInt32Ty());
    llvm::Value* odd = b_.CreateAnd(b_.CreateLShr(u, 16), b_.getInt32(1));
    llvm::Value* rounded =
        b_.CreateLShr(b_.CreateAdd(b_.CreateAdd(u, b_.getInt32(0x7fff)), odd), 16);
    llvm::Value* quiet_nan = b_.CreateOr(b_.CreateLShr(u, 16), b_.getInt32(0x40));
    llvm::Value* bits = b_.CreateSelect(b_.CreateFCmpUNO(x, x), quiet_nan, rounded);
    return b_.CreateBitCast(b_.CreateTrunc(bits, b_.getInt16Ty()), b_.getBFloatTy());
  }
  // A Constant expression: integers from their exact value.
  llvm::Value* constant(const KernelIR::Expr& e) {
    if (is_floating(e.dtype)) return constant(e.value, e.dtype);
    if (e.dtype == DType::Bool) return b_.getInt1(e.int_value != 0);
    return llvm::ConstantInt::get(value_type(b_.getContext(), e.dtype), uint64_t(e.int_value),
                                  true);
  }
  llvm::Value* constant(double v, DType d) {
    llvm::Type* t = value_type(b_.getContext(), d);
    if (d == DType::Bool) return b_.getInt1(v != 0);
    if (!is_floating(d)) return llvm::ConstantInt::get(t, uint64_t(int64_t(v)), true);
    return round_to(llvm::ConstantFP::get(t, v), d);
  }

  // A libm call. Declared as touching no memory (Ember ignores errno, as -fno-math-errno does),
  // so the loop vectorizer may replace it by its libmvec vector variant.
  llvm::Value* call(const char* f32_name, const char* f64_name, llvm::Value* x) {
    const bool f32 = x->getType()->isFloatTy();
    llvm::FunctionCallee fn =
        m_.getOrInsertFunction(f32 ? f32_name : f64_name, x->getType(), x->getType());
    if (auto* f = llvm::dyn_cast<llvm::Function>(fn.getCallee())) {
      f->setDoesNotAccessMemory();
      f->setDoesNotThrow();
      f->setWillReturn();
    }
    return b_.CreateCall(fn, {x});
  }
  // float32 exp, tanh and erf with the eager kernels' formulas (runtime/kernels/vec_math.h,
  // coefficients from polynomials.h): branch-free, so the loop vectorizes. exp's and erf's
  // polynomials are evaluated with fmuladd, which the backend fuses into FMA where the host has
  // it (within 1 ulp of eager); tanh's are not, and it saturates to +-1 at the clamp explicitly.
  template <size_t N>
  llvm::Value* poly(llvm::Value* x, const double (&coeffs)[N], bool fused = true) {
    llvm::Value* p = nullptr;
    for (double c : coeffs) {
      llvm::Value* k = fconst(x->getType(), c);
      if (!p)
        p = k;
      else if (fused)
        p = intrinsic(llvm::Intrinsic::fmuladd, {p, x, k});
      else
        p = b_.CreateFAdd(b_.CreateFMul(p, x), k);
    }
    return p;
  }
  llvm::Value* clamp(llvm::Value* x, double lo, double hi) {
    llvm::Type* t = x->getType();
    llvm::Value* y = b_.CreateSelect(b_.CreateFCmpOLT(x, fconst(t, lo)), fconst(t, lo), x);
    return b_.CreateSelect(b_.CreateFCmpOGT(y, fconst(t, hi)), fconst(t, hi), y);
  }
  llvm::Value* pow2i(llvm::Value* k) {  // 2^k for an i32 k in the normal range
    return b_.CreateBitCast(b_.CreateShl(b_.CreateAdd(k, b_.getInt32(127)), 23), b_.getFloatTy());
  }
  llvm::Value* exp_f32(llvm::Value* x) {
    using namespace polynomials;
    llvm::Type* f = b_.getFloatTy();
    llvm::Value* nan = b_.CreateFCmpUNO(x, x);
    llvm::Value* xc = clamp(b_.CreateSelect(nan, fconst(f, 0.0), x), kExpLo, kExpHi);
    llvm::Value* scaled = b_.CreateFMul(xc, fconst(f, kLog2E));
    llvm::Value* n = intrinsic(llvm::Intrinsic::floor, {b_.CreateFAdd(scaled, fconst(f, 0.5))});
    llvm::Value* r = b_.CreateFSub(xc, b_.CreateFMul(n, fconst(f, kLn2Hi)));
    r = b_.CreateFSub(r, b_.CreateFMul(n, fconst(f, kLn2Lo)));
    llvm::Value* p = poly(r, kExpP);
    llvm::Value* y =
        b_.CreateFAdd(b_.CreateFAdd(b_.CreateFMul(b_.CreateFMul(p, r), r), r), fconst(f, 1.0));
    llvm::Value* ni = b_.CreateFPToSI(n, b_.getInt32Ty());
    llvm::Value* n1 = b_.CreateAShr(ni, 1);
    llvm::Value* result = b_.CreateFMul(b_.CreateFMul(y, pow2i(n1)), pow2i(b_.CreateSub(ni, n1)));
    llvm::Value* tiny = b_.CreateFCmpOLT(x, fconst(f, kExpLo));
    return b_.CreateSelect(nan, x, b_.CreateSelect(tiny, fconst(f, 0.0), result));
  }
  llvm::Value* tanh_f32(llvm::Value* x) {
    using namespace polynomials;
    llvm::Type* f = b_.getFloatTy();
    llvm::Value* nan = b_.CreateFCmpUNO(x, x);
    llvm::Value* xc = clamp(b_.CreateSelect(nan, fconst(f, 0.0), x), -kTanhClamp, kTanhClamp);
    llvm::Value* x2 = b_.CreateFMul(xc, xc);
    llvm::Value* p = poly(x2, kTanhP, false);
    llvm::Value* q = poly(x2, kTanhQ, false);
    // Saturated at the clamp, as vec_math::tanh.
    llvm::Value* r = b_.CreateFDiv(b_.CreateFMul(xc, p), q);
    r = b_.CreateSelect(b_.CreateFCmpOEQ(xc, fconst(f, kTanhClamp)), fconst(f, 1.0), r);
    r = b_.CreateSelect(b_.CreateFCmpOEQ(xc, fconst(f, -kTanhClamp)), fconst(f, -1.0), r);
    return b_.CreateSelect(nan, x, r);
  }
  llvm::Value* erf_f32(llvm::Value* x) {  // evaluated in double, as vec_math::erf
    using namespace polynomials;
    llvm::Type* d = b_.getDoubleTy();
    llvm::Value* nan = b_.CreateFCmpUNO(x, x);
    llvm::Value* xd = clamp(b_.CreateFPExt(b_.CreateSelect(nan, fconst(x->getType(), 0.0), x), d),
                            -kErfClamp, kErfClamp);
    llvm::Value* x2 = b_.CreateFMul(xd, xd);
    llvm::Value* p = poly(x2, kErfP);
    llvm::Value* q = poly(x2, kErfQ);
    llvm::Value* r = b_.CreateFPTrunc(b_.CreateFDiv(b_.CreateFMul(xd, p), q), x->getType());
    return b_.CreateSelect(nan, x, r);
  }
  llvm::Value* exp_any(llvm::Value* x) {
    return x->getType()->isFloatTy() ? exp_f32(x) : call("expf", "exp", x);
  }

  llvm::Value* intrinsic(llvm::Intrinsic::ID id, std::vector<llvm::Value*> args) {
    return b_.CreateIntrinsic(id, {args[0]->getType()}, args);
  }
  llvm::Value* fconst(llvm::Type* t, double v) { return llvm::ConstantFP::get(t, v); }

  // Converts a value of dtype `from` to dtype `to` as the eager casts do: float to integer
  // truncates and saturates (NaN gives 0), integers wrap, bool is nonzero.
  llvm::Value* convert(llvm::Value* x, DType from, DType to) {
    if (from == to) return x;
    if (to == DType::Bool) return truth(x, from);
    llvm::Type* t = value_type(b_.getContext(), to);
    if (from == DType::Bool) return is_floating(to) ? b_.CreateUIToFP(x, t) : b_.CreateZExt(x, t);
    if (is_floating(from) && is_floating(to)) return b_.CreateFPCast(x, t);
    if (is_floating(from))
      return b_.CreateIntrinsic(
          is_unsigned(to) ? llvm::Intrinsic::fptoui_sat : llvm::Intrinsic::fptosi_sat,
          {t, x->getType()}, {x});
    if (is_floating(to)) return is_unsigned(from) ? b_.CreateUIToFP(x, t) : b_.CreateSIToFP(x, t);
    return b_.CreateIntCast(x, t, !is_unsigned(from));
  }
  llvm::Value* truth(llvm::Value* x, DType d) {
    if (d == DType::Bool) return x;
    if (is_floating(d)) return b_.CreateFCmpUNE(x, llvm::ConstantFP::get(x->getType(), 0.0));
    return b_.CreateICmpNE(x, llvm::ConstantInt::get(x->getType(), 0));
  }
  llvm::Value* compare(llvm::CmpInst::Predicate fp, llvm::CmpInst::Predicate sint,
                       llvm::CmpInst::Predicate uint, const std::vector<llvm::Value*>& a, DType d) {
    if (is_floating(d)) return b_.CreateFCmp(fp, a[0], a[1]);
    return b_.CreateICmp(is_unsigned(d) ? uint : sint, a[0], a[1]);
  }
  [[noreturn]] void unsupported(ir::Op o, DType d) {
    throw BackendError("llvm", k_.name,
                       std::string(ir::op_name(o)) + " on " + dtype_name(d) +
                           " is not supported by the CPU backend yet");
  }

  llvm::Value* op(ir::Op o, std::vector<llvm::Value*> a, std::vector<DType> types, DType out) {
    using ir::Op;
    using P = llvm::CmpInst;
    // Legalized (codegen/legalize.h): promotion is explicit and no op but a cast has a 16-bit
    // result.
    EMBER_INTERNAL_ASSERT(o == Op::Cast || !is_16bit(out), "kernel ", k_.name,
                          " is not legalized: ", ir::op_name(o), " on ", dtype_name(out));
    if (is_floating(out) && o != Op::Cast && o != Op::Where)
      for (DType t : types)
        EMBER_INTERNAL_ASSERT(is_floating(t), "kernel ", k_.name,
                              " is not legalized: ", ir::op_name(o), " reads ", dtype_name(t));
    llvm::Value* x = a.empty() ? nullptr : a[0];
    const DType in = types.empty() ? out : types[0];
    switch (o) {
      case Op::Where:
        return b_.CreateSelect(a[0], a[1], a[2]);
      case Op::Cast:
        return convert(x, in, out);
      case Op::Eq:
        return compare(P::FCMP_OEQ, P::ICMP_EQ, P::ICMP_EQ, a, in);
      case Op::Ne:
        return compare(P::FCMP_UNE, P::ICMP_NE, P::ICMP_NE, a, in);
      case Op::Lt:
        return compare(P::FCMP_OLT, P::ICMP_SLT, P::ICMP_ULT, a, in);
      case Op::Le:
        return compare(P::FCMP_OLE, P::ICMP_SLE, P::ICMP_ULE, a, in);
      case Op::Gt:
        return compare(P::FCMP_OGT, P::ICMP_SGT, P::ICMP_UGT, a, in);
      case Op::Ge:
        return compare(P::FCMP_OGE, P::ICMP_SGE, P::ICMP_UGE, a, in);
      case Op::LogicalAnd:
        return b_.CreateAnd(truth(a[0], types[0]), truth(a[1], types[1]));
      case Op::LogicalOr:
        return b_.CreateOr(truth(a[0], types[0]), truth(a[1], types[1]));
      case Op::LogicalNot:
        return b_.CreateNot(truth(x, in));
      default:
        break;
    }
    if (is_floating(in)) return float_op(o, a);
    if (in == DType::Bool) unsupported(o, in);  // legalized into logical ops
    llvm::Value* zero = llvm::ConstantInt::get(x->getType(), 0);
    const bool u = is_unsigned(in);
    switch (o) {  // integers wrap (no nsw/nuw flags)
      case Op::Neg:
        return b_.CreateSub(zero, x);
      case Op::Abs:
        return u ? x : b_.CreateBinaryIntrinsic(llvm::Intrinsic::abs, x, b_.getFalse());
      case Op::Relu:
        return u ? x : b_.CreateSelect(b_.CreateICmpSLT(x, zero), zero, x);
      case Op::Sign: {
        // Unsigned: 1 for every nonzero value (a signed compare would call 255 negative).
        llvm::Value* pos =
            b_.CreateZExt(u ? b_.CreateICmpNE(x, zero) : b_.CreateICmpSGT(x, zero), x->getType());
        return u ? pos : b_.CreateSub(pos, b_.CreateZExt(b_.CreateICmpSLT(x, zero), x->getType()));
      }
      case Op::Add:
        return b_.CreateAdd(a[0], a[1]);
      case Op::Sub:
        return b_.CreateSub(a[0], a[1]);
      case Op::Mul:
        return b_.CreateMul(a[0], a[1]);
      case Op::Maximum:
        return b_.CreateBinaryIntrinsic(u ? llvm::Intrinsic::umax : llvm::Intrinsic::smax, a[0],
                                        a[1]);
      case Op::Minimum:
        return b_.CreateBinaryIntrinsic(u ? llvm::Intrinsic::umin : llvm::Intrinsic::smin, a[0],
                                        a[1]);
      default:
        unsupported(o, in);
    }
  }

  llvm::Value* float_op(ir::Op o, const std::vector<llvm::Value*>& a) {
    using ir::Op;
    llvm::Value* x = a[0];
    llvm::Type* t = x->getType();
    switch (o) {
      case Op::Neg:
        return b_.CreateFNeg(x);
      case Op::Abs:
        return intrinsic(llvm::Intrinsic::fabs, {x});
      case Op::Exp:
        return exp_any(x);
      case Op::Log:
        return call("logf", "log", x);
      case Op::Sqrt:
        return intrinsic(llvm::Intrinsic::sqrt, {x});
      case Op::Rsqrt:
        return b_.CreateFDiv(fconst(t, 1.0), intrinsic(llvm::Intrinsic::sqrt, {x}));
      case Op::Sin:
        return call("sinf", "sin", x);
      case Op::Cos:
        return call("cosf", "cos", x);
      case Op::Tanh:
        return t->isFloatTy() ? tanh_f32(x) : call("tanhf", "tanh", x);
      case Op::Sigmoid:
        return b_.CreateFDiv(fconst(t, 1.0),
                             b_.CreateFAdd(fconst(t, 1.0), exp_any(b_.CreateFNeg(x))));
      case Op::Relu:
        return b_.CreateSelect(b_.CreateFCmpOLT(x, fconst(t, 0.0)), fconst(t, 0.0), x);
      case Op::Erf:
        return t->isFloatTy() ? erf_f32(x) : call("erff", "erf", x);
      case Op::Reciprocal:
        return b_.CreateFDiv(fconst(t, 1.0), x);
      case Op::Floor:
        return intrinsic(llvm::Intrinsic::floor, {x});
      case Op::Ceil:
        return intrinsic(llvm::Intrinsic::ceil, {x});
      case Op::Round:
        return intrinsic(llvm::Intrinsic::rint, {x});
      case Op::Sign: {
        llvm::Value* pos = b_.CreateUIToFP(b_.CreateFCmpOGT(x, fconst(t, 0.0)), t);
        llvm::Value* neg = b_.CreateUIToFP(b_.CreateFCmpOLT(x, fconst(t, 0.0)), t);
        return b_.CreateFSub(pos, neg);
      }
      case Op::Log1p:
        return call("log1pf", "log1p", x);
      case Op::Expm1:
        return call("expm1f", "expm1", x);
      case Op::Add:
        return b_.CreateFAdd(a[0], a[1]);
      case Op::Sub:
        return b_.CreateFSub(a[0], a[1]);
      case Op::Mul:
        return b_.CreateFMul(a[0], a[1]);
      case Op::Div:
        return b_.CreateFDiv(a[0], a[1]);
      case Op::Pow:
        return intrinsic(llvm::Intrinsic::pow, {a[0], a[1]});
      case Op::Maximum:
        return intrinsic(llvm::Intrinsic::maximum, {a[0], a[1]});  // NaN-propagating
      case Op::Minimum:
        return intrinsic(llvm::Intrinsic::minimum, {a[0], a[1]});
      default:
        unsupported(o, DType::Float32);
    }
  }

  llvm::IRBuilder<>& b_;
  llvm::Module& m_;
  const KernelIR& k_;
};

}  // namespace ember::codegen::llvm_backend
