#include "ember/codegen/llvm_backend.h"

#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/DynamicLibrary.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "ember/runtime/hash.h"
#include "ember/runtime/log.h"

namespace ember::codegen {
namespace {

std::string error_text(llvm::Error e) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << e;
  return os.str();
}

// The process-wide JIT, with an O3 pipeline for the host CPU on every module.
class Jit {
 public:
  static Jit& instance() {
    static Jit jit;
    return jit;
  }

  // quick: LLVM O1 and fast instruction selection, kept in memory only (the first tier).
  llvm::orc::ExecutorAddr compile(const KernelIR& k, const KernelCacheOptions& options,
                                  bool quick = false);
  // Whether the optimized kernel is in memory or (as a file, not yet checked) on disk.
  bool has_optimized(const KernelIR& k, const KernelCacheOptions& options);
  // Runs task on the background compile thread.
  void background(std::function<void()> task);
  void wait_for_background();
  int64_t compiles() const { return compiles_.load(); }
  int64_t quick_compiles() const { return quick_compiles_.load(); }
  int64_t disk_hits() const { return disk_hits_.load(); }

 private:
  Jit() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!jtmb) throw Error("llvm: cannot describe the host: " + error_text(jtmb.takeError()));
    jtmb->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
    jtmb_ = *jtmb;
    auto tm = jtmb->createTargetMachine();
    if (!tm) throw Error("llvm: " + error_text(tm.takeError()));
    target_machine_ = std::move(*tm);
    auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*jtmb)).create();
    if (!jit) throw Error("llvm: cannot create the JIT: " + error_text(jit.takeError()));
    jit_ = std::move(*jit);
    // libm's functions (expf, erff, ...) come from the process.
    auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
        jit_->getDataLayout().getGlobalPrefix());
    if (!gen) throw Error("llvm: " + error_text(gen.takeError()));
    jit_->getMainJITDylib().addGenerator(std::move(*gen));
    // The vector math functions the vectorizer calls; without them (an older glibc) the
    // vectorizer is simply not told about them.
    have_libmvec_ = !llvm::sys::DynamicLibrary::LoadLibraryPermanently("libmvec.so.1");
    // What object code depends on besides the kernel: the target, the compiler, and this
    // backend's code (its build time, so a rebuilt backend never reuses stale object code).
    target_id_ = "target " + target_machine_->getTargetTriple().str() + " " +
                 target_machine_->getTargetCPU().str() + " " +
                 target_machine_->getTargetFeatureString().str() + " libmvec " +
                 std::to_string(have_libmvec_) +
                 "\nllvm " LLVM_VERSION_STRING "\nember " EMBER_VERSION_STRING
                 " codegen built " __DATE__ " " __TIME__ "\n";
  }

  ~Jit() { stop_background(); }
  // Stops the background thread: what is queued is dropped, the task running finishes.
  void stop_background() {
    {
      std::lock_guard<std::mutex> lock(background_mutex_);
      stop_ = true;
      tasks_.clear();
    }
    background_cv_.notify_all();
    if (background_thread_.joinable()) background_thread_.join();
  }

  // LLVM IR -> optimized -> object code.
  std::string emit_object(const KernelIR& k, const std::string& symbol, bool quick);
  std::string key_of(const KernelIR& k, bool quick) const {
    return k.text() + target_id_ + (quick ? "tier quick\n" : "");
  }
  std::string disk_path(const std::string& key, const KernelCacheOptions& options) const;

  // A target machine for this thread: kernels compile concurrently, and a TargetMachine is not
  // safe to share between threads that emit code.
  // The quick tier's selects instructions without optimizing (-O0 code generation).
  llvm::TargetMachine& thread_target_machine(bool quick) {
    thread_local std::unique_ptr<llvm::TargetMachine> tm[2];
    std::unique_ptr<llvm::TargetMachine>& t = tm[quick];
    if (!t) {
      std::lock_guard<std::mutex> lock(mutex_);
      llvm::orc::JITTargetMachineBuilder builder = *jtmb_;
      if (quick) builder.setCodeGenOptLevel(llvm::CodeGenOptLevel::None);
      auto made = builder.createTargetMachine();
      if (!made) throw Error("llvm: " + error_text(made.takeError()));
      t = std::move(*made);
    }
    return *t;
  }

  void optimize(llvm::Module& m, llvm::TargetMachine& target, bool quick) {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    // glibc's libmvec gives the vectorizer vector versions of expf, logf, erff, tanhf, ...
    llvm::TargetLibraryInfoImpl tlii(target.getTargetTriple());
    if (have_libmvec_)
      tlii.addVectorizableFunctionsFromVecLib(llvm::TargetLibraryInfoImpl::LIBMVEC_X86,
                                              target.getTargetTriple());
    fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });
    llvm::PassBuilder pb(&target);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    pb.buildPerModuleDefaultPipeline(quick ? llvm::OptimizationLevel::O1
                                           : llvm::OptimizationLevel::O2)
        .run(m, mam);
  }

  std::mutex mutex_;
  std::optional<llvm::orc::JITTargetMachineBuilder> jtmb_;
  std::unique_ptr<llvm::TargetMachine> target_machine_;  // describes the host (the cache key)
  std::unique_ptr<llvm::orc::LLJIT> jit_;
  std::unordered_map<std::string, llvm::orc::ExecutorAddr> cache_;
  std::unordered_map<std::string, std::string> key_of_symbol_;
  std::unordered_set<std::string> in_flight_;  // being compiled by some thread
  std::condition_variable compiled_cv_;
  std::atomic<int64_t> compiles_{0}, disk_hits_{0}, quick_compiles_{0};
  bool have_libmvec_ = false;
  std::string target_id_;
  // The background compile thread (second tiers); declared last, so joined first on exit.
  std::mutex background_mutex_;
  std::condition_variable background_cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false, busy_ = false;
  std::thread background_thread_;
};

// How each dtype is stored in memory, and the type its values have inside a kernel: 16-bit
// floats compute in float32 (rounded back after every op, as the eager kernels round every
// result), bool is i1.
llvm::Type* storage_type(llvm::LLVMContext& c, DType d) {
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
llvm::Type* value_type(llvm::LLVMContext& c, DType d) {
  if (d == DType::Bool) return llvm::Type::getInt1Ty(c);
  if (d == DType::Float16 || d == DType::BFloat16) return llvm::Type::getFloatTy(c);
  return storage_type(c, d);
}
bool is_unsigned(DType d) { return d == DType::Bool || d == DType::UInt8; }
bool is_16bit(DType d) { return d == DType::Float16 || d == DType::BFloat16; }

// Emits the scalar expression DAG for one element; loads come from `load(buffer)`.
class ExprEmitter {
 public:
  ExprEmitter(llvm::IRBuilder<>& b, llvm::Module& m, const KernelIR& k) : b_(b), m_(m), k_(k) {}

  template <class Load>
  std::vector<llvm::Value*> emit(const Load& load) {
    std::vector<llvm::Value*> v(k_.exprs.size());
    for (size_t i = 0; i < k_.exprs.size(); ++i) {
      const KernelIR::Expr& e = k_.exprs[i];
      switch (e.kind) {
        case KernelIR::ExprKind::Load:
          v[i] = from_storage(load(e.buffer), e.dtype);
          break;
        case KernelIR::ExprKind::Constant:
          v[i] = constant(e.value, e.dtype);
          break;
        case KernelIR::ExprKind::Reduce:
          throw InternalError("codegen: a reduction in an elementwise kernel");
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
    if (e.kind == KernelIR::ExprKind::Constant) return constant(e.value, e.dtype);
    std::vector<DType> types;
    for (int a : e.args) types.push_back(k_.exprs[size_t(a)].dtype);
    return round_to(op(e.op, args, types, e.dtype), e.dtype);
  }

  // Reductions: the accumulator's dtype (float sums and products in float64, integer ones in
  // int64, as the eager kernels accumulate), its initial value, and one accumulation step.
  static DType accumulator(ir::Op op, DType input) {
    if (op == ir::Op::ReduceSum || op == ir::Op::ReduceProd)
      return is_floating(input) ? DType::Float64 : DType::Int64;
    return input;
  }
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
    return op == ir::Op::ReduceMax
               ? this->op(ir::Op::Maximum, {acc, v}, {acc_type, acc_type}, acc_type)
               : this->op(ir::Op::Minimum, {acc, v}, {acc_type, acc_type}, acc_type);
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
  // float32 exp, tanh and erf with the eager kernels' formulas (runtime/kernels/vec_math.h):
  // branch-free, so the loop vectorizes. exp's and erf's polynomials are evaluated with
  // fmuladd, which the backend fuses into FMA where the host has it (within 1 ulp of eager);
  // tanh's are not: its rational form reaches exactly +-1 at the clamp only when unfused.
  llvm::Value* poly(llvm::Value* x, std::initializer_list<double> coeffs, bool fused = true) {
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
    llvm::Type* f = b_.getFloatTy();
    llvm::Value* nan = b_.CreateFCmpUNO(x, x);
    llvm::Value* xc = clamp(b_.CreateSelect(nan, fconst(f, 0.0), x), -104.0, 89.0);
    llvm::Value* scaled = b_.CreateFMul(xc, fconst(f, 1.44269504088896341));
    llvm::Value* n = intrinsic(llvm::Intrinsic::floor, {b_.CreateFAdd(scaled, fconst(f, 0.5))});
    llvm::Value* r = b_.CreateFSub(xc, b_.CreateFMul(n, fconst(f, 0.693359375)));
    r = b_.CreateFSub(r, b_.CreateFMul(n, fconst(f, -2.12194440e-4)));
    llvm::Value* p = poly(r, {1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                              1.6666665459e-1, 5.0000001201e-1});
    llvm::Value* y =
        b_.CreateFAdd(b_.CreateFAdd(b_.CreateFMul(b_.CreateFMul(p, r), r), r), fconst(f, 1.0));
    llvm::Value* ni = b_.CreateFPToSI(n, b_.getInt32Ty());
    llvm::Value* n1 = b_.CreateAShr(ni, 1);
    llvm::Value* result = b_.CreateFMul(b_.CreateFMul(y, pow2i(n1)), pow2i(b_.CreateSub(ni, n1)));
    llvm::Value* tiny = b_.CreateFCmpOLT(x, fconst(f, -104.0));
    return b_.CreateSelect(nan, x, b_.CreateSelect(tiny, fconst(f, 0.0), result));
  }
  llvm::Value* tanh_f32(llvm::Value* x) {
    llvm::Type* f = b_.getFloatTy();
    llvm::Value* nan = b_.CreateFCmpUNO(x, x);
    llvm::Value* xc =
        clamp(b_.CreateSelect(nan, fconst(f, 0.0), x), -7.90531110763549805, 7.90531110763549805);
    llvm::Value* x2 = b_.CreateFMul(xc, xc);
    llvm::Value* p = poly(
        x2,
        {-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
         1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03},
        false);
    llvm::Value* q = poly(
        x2,
        {1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03},
        false);
    return b_.CreateSelect(nan, x, b_.CreateFDiv(b_.CreateFMul(xc, p), q));
  }
  llvm::Value* erf_f32(llvm::Value* x) {  // evaluated in double, as vec_math::erf
    llvm::Type* d = b_.getDoubleTy();
    llvm::Value* nan = b_.CreateFCmpUNO(x, x);
    llvm::Value* xd =
        clamp(b_.CreateFPExt(b_.CreateSelect(nan, fconst(x->getType(), 0.0), x), d), -4.0, 4.0);
    llvm::Value* x2 = b_.CreateFMul(xd, xd);
    llvm::Value* p = poly(x2, {-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06,
                               -5.69250639462346e-05, -7.34990630326855e-04, -2.95459980854025e-03,
                               -1.60960333262415e-02});
    llvm::Value* q = poly(x2, {-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03,
                               -7.37332916720468e-03, -1.42647390514189e-02});
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
    throw Error("codegen: " + std::string(ir::op_name(o)) + " on " + dtype_name(d) +
                " is not supported by the CPU backend yet");
  }

  llvm::Value* op(ir::Op o, std::vector<llvm::Value*> a, std::vector<DType> types, DType out) {
    using ir::Op;
    using P = llvm::CmpInst;
    // Float results of integer operands (exp of an int, true division) compute in the float type.
    if (is_floating(out) && o != Op::Cast && o != Op::Where)
      for (size_t i = 0; i < a.size(); ++i)
        if (!is_floating(types[i])) {
          a[i] = convert(a[i], types[i], out);
          types[i] = out;
        }
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
    if (in == DType::Bool) {  // bool arithmetic: + and max are or, * and min are and
      switch (o) {
        case Op::Add:
        case Op::Maximum:
          return b_.CreateOr(a[0], a[1]);
        case Op::Mul:
        case Op::Minimum:
          return b_.CreateAnd(a[0], a[1]);
        case Op::Abs:
        case Op::Floor:
        case Op::Ceil:
        case Op::Round:
          return x;
        default:
          unsupported(o, in);
      }
    }
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
        llvm::Value* pos = b_.CreateZExt(b_.CreateICmpSGT(x, zero), x->getType());
        return u ? pos : b_.CreateSub(pos, b_.CreateZExt(b_.CreateICmpSLT(x, zero), x->getType()));
      }
      case Op::Floor:
      case Op::Ceil:
      case Op::Round:
        return x;
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

// Sets the loop hints of the loop whose back edge is `latch`: each hint a (name, value) pair,
// or a name alone (value null). LLVM's loop metadata is a distinct node that lists itself first.
void set_loop_hints(llvm::BranchInst* latch,
                    std::initializer_list<std::pair<const char*, llvm::Constant*>> hints) {
  llvm::LLVMContext& c = latch->getContext();
  std::vector<llvm::Metadata*> items{nullptr};
  for (const auto& [name, value] : hints) {
    std::vector<llvm::Metadata*> hint{llvm::MDString::get(c, name)};
    if (value) hint.push_back(llvm::ConstantAsMetadata::get(value));
    items.push_back(llvm::MDNode::get(c, hint));
  }
  llvm::MDNode* loop = llvm::MDNode::getDistinct(c, items);
  loop->replaceOperandWith(0, loop);
  latch->setMetadata(llvm::LLVMContext::MD_loop, loop);
}

// Keeps the loop scalar: strided versions run for transposed and broadcast layouts, where AVX2
// gathers gain little, and vectorizing them would double each kernel's compile time.
void keep_scalar(llvm::BranchInst* latch) {
  set_loop_hints(latch,
                 {{"llvm.loop.vectorize.enable", llvm::ConstantInt::getFalse(latch->getContext())},
                  {"llvm.loop.unroll.disable", nullptr}});
}

// Asks the vectorizer for `width` lanes. A reduction pass accumulates float32 values in float64:
// left alone, the cost model picks the accumulator's 4 lanes and computes the float32 work (exp,
// ...) at half width.
void vectorize_with(llvm::BranchInst* latch, unsigned width) {
  llvm::LLVMContext& c = latch->getContext();
  set_loop_hints(latch, {{"llvm.loop.vectorize.enable", llvm::ConstantInt::getTrue(c)},
                         {"llvm.loop.vectorize.width",
                          llvm::ConstantInt::get(llvm::Type::getInt32Ty(c), width)}});
}

// void name(i8** buffers, i64* strides, i64 row_begin, i64 row_end, i64 cols) for a row kernel:
// strides holds (row stride, column stride) in bytes per buffer. For each row: row-level loads,
// one pass over the columns per reduction (its element-level operand recomputed in the pass),
// the row-level ops that depend on the reductions, then one pass that writes the element-level
// outputs, and the row-level outputs.
void emit_row_kernel(llvm::Module& m, const KernelIR& k) {
  llvm::LLVMContext& c = m.getContext();
  llvm::IRBuilder<> b(c);
  auto* ptr = b.getPtrTy();
  auto* i64 = b.getInt64Ty();
  auto* fn = llvm::Function::Create(
      llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, i64, i64, i64}, false),
      llvm::Function::ExternalLinkage, k.name, m);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::Value *bufs = fn->getArg(0), *strides = fn->getArg(1), *begin = fn->getArg(2),
              *end = fn->getArg(3), *cols = fn->getArg(4);
  auto* entry = llvm::BasicBlock::Create(c, "entry", fn);
  b.SetInsertPoint(entry);
  const size_t nb = k.buffers.size();
  std::vector<llvm::Value*> base(nb), row_stride(nb);
  std::vector<llvm::Type*> types(nb);
  for (size_t i = 0; i < nb; ++i) {
    base[i] = b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, bufs, i));
    row_stride[i] = b.CreateLoad(i64, b.CreateConstGEP1_64(i64, strides, 2 * i));
    types[i] = storage_type(c, k.buffers[i].dtype);
  }
  // Scratch rows follow the buffers in the pointer array, in expression order.
  std::vector<llvm::Value*> scratch(k.exprs.size(), nullptr);
  size_t next_scratch = nb;
  for (size_t e = 0; e < k.exprs.size(); ++e)
    if (k.exprs[e].scratch)
      scratch[e] = b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, bufs, next_scratch++));
  // Lanes of a 256-bit vector of the narrowest element-level value (float16 computes in float32).
  unsigned lanes = 16;
  for (const auto& e : k.exprs)
    if (!e.row_level && e.kind != KernelIR::ExprKind::Reduce)
      lanes = std::min<unsigned>(
          lanes, 256 / std::max(8u, unsigned(value_type(c, e.dtype)->getPrimitiveSizeInBits())));
  auto* exit = llvm::BasicBlock::Create(c, "exit", fn);
  // Element-level buffers are contiguous along the columns (run_rows copies any that are not),
  // so every column loop vectorizes and the kernel has one version.
  auto emit_rows = [&]() -> llvm::BasicBlock* {
    std::vector<bool> in_scratch(k.exprs.size(), false);  // written by an earlier pass
    auto* row_header = llvm::BasicBlock::Create(c, "row", fn);
    b.SetInsertPoint(row_header);
    llvm::PHINode* r = b.CreatePHI(i64, 2);
    r->addIncoming(begin, entry);
    auto* row_body = llvm::BasicBlock::Create(c, "row.body", fn);
    b.CreateCondBr(b.CreateICmpSLT(r, end), row_body, exit);
    b.SetInsertPoint(row_body);
    std::vector<llvm::Value*> row_base(nb);
    for (size_t i = 0; i < nb; ++i)
      row_base[i] = b.CreateGEP(b.getInt8Ty(), base[i], b.CreateMul(r, row_stride[i]));
    const std::function<llvm::Value*(int, llvm::Value*)> element_address =
        [&](int buf, llvm::Value* j) -> llvm::Value* {
      return b.CreateInBoundsGEP(types[size_t(buf)], row_base[size_t(buf)], j);
    };
    ExprEmitter em(b, m, k);
    std::vector<llvm::Value*> row_value(k.exprs.size(), nullptr);
    // Row-level values available so far: loads and constants, then ops once their operands are.
    auto settle_row_level = [&] {
      for (size_t e = 0; e < k.exprs.size(); ++e) {
        const KernelIR::Expr& x = k.exprs[e];
        if (!x.row_level || row_value[e] || x.kind == KernelIR::ExprKind::Reduce) continue;
        if (x.kind == KernelIR::ExprKind::Load) {
          row_value[e] = em.from_storage(
              b.CreateLoad(types[size_t(x.buffer)], row_base[size_t(x.buffer)]), x.dtype);
          continue;
        }
        std::vector<llvm::Value*> args;
        bool ready = true;
        for (int a : x.args) {
          ready &= row_value[size_t(a)] != nullptr;
          args.push_back(row_value[size_t(a)]);
        }
        if (ready) row_value[e] = em.expr(x, args);
      }
    };
    settle_row_level();
    // One pass over the columns: `body(j, element)` with element(e) evaluating (memoized) the
    // element-level expression e at column j.
    // Columns [start, stop) (default: all of them).
    auto column_pass = [&](const char* label, auto&& body, llvm::Value* start = nullptr,
                           llvm::Value* stop = nullptr) {
      llvm::BasicBlock* pre = b.GetInsertBlock();
      auto* header = llvm::BasicBlock::Create(c, std::string(label) + ".header", fn);
      auto* inner = llvm::BasicBlock::Create(c, std::string(label) + ".body", fn);
      auto* after = llvm::BasicBlock::Create(c, std::string(label) + ".end", fn);
      b.CreateBr(header);
      b.SetInsertPoint(header);
      llvm::PHINode* j = b.CreatePHI(i64, 2);
      j->addIncoming(start ? start : b.getInt64(0), pre);
      std::vector<llvm::PHINode*> carried = body.phis(header, pre);
      b.CreateCondBr(b.CreateICmpSLT(j, stop ? stop : cols), inner, after);
      b.SetInsertPoint(inner);
      std::vector<llvm::Value*> memo(k.exprs.size(), nullptr);
      std::function<llvm::Value*(int)> element = [&](int e) -> llvm::Value* {
        const KernelIR::Expr& x = k.exprs[size_t(e)];
        if (x.row_level) return row_value[size_t(e)];
        if (memo[size_t(e)]) return memo[size_t(e)];
        llvm::Type* vt = value_type(c, x.dtype);
        if (in_scratch[size_t(e)])
          return memo[size_t(e)] = b.CreateLoad(vt, b.CreateInBoundsGEP(vt, scratch[size_t(e)], j));
        if (x.kind == KernelIR::ExprKind::Load) {
          llvm::Value* at = element_address(x.buffer, j);
          return memo[size_t(e)] =
                     em.from_storage(b.CreateLoad(types[size_t(x.buffer)], at), x.dtype);
        }
        std::vector<llvm::Value*> args;
        for (int a : x.args) args.push_back(element(a));
        memo[size_t(e)] = em.expr(x, args);
        if (x.scratch)
          b.CreateStore(memo[size_t(e)], b.CreateInBoundsGEP(vt, scratch[size_t(e)], j));
        return memo[size_t(e)];
      };
      std::vector<llvm::Value*> next = body.step(j, element);
      llvm::Value* j_next = b.CreateAdd(j, b.getInt64(1), "", true, true);
      llvm::BasicBlock* latch = b.GetInsertBlock();
      llvm::BranchInst* back = b.CreateBr(header);
      if (body.widen && lanes > 4) vectorize_with(back, lanes);
      j->addIncoming(j_next, latch);
      for (size_t i = 0; i < carried.size(); ++i) carried[i]->addIncoming(next[i], latch);
      b.SetInsertPoint(after);
      return carried;
    };
    for (size_t e = 0; e < k.exprs.size(); ++e) {
      const KernelIR::Expr& x = k.exprs[e];
      if (x.kind != KernelIR::ExprKind::Reduce) continue;
      const DType in = k.exprs[size_t(x.args[0])].dtype;
      const DType acc = ExprEmitter::accumulator(x.op, in);
      struct {
        ExprEmitter& em;
        const KernelIR::Expr& x;
        DType in, acc;
        llvm::IRBuilder<>& b;
        std::vector<llvm::PHINode*> phis(llvm::BasicBlock*, llvm::BasicBlock* pre) {
          llvm::PHINode* p = b.CreatePHI(em.reduce_init(x.op, acc)->getType(), 2);
          p->addIncoming(em.reduce_init(x.op, acc), pre);
          acc_phi = p;
          return {p};
        }
        std::vector<llvm::Value*> step(llvm::Value*,
                                       const std::function<llvm::Value*(int)>& element) {
          llvm::Value* v = em.convert_value(element(x.args[0]), in, acc);
          return {em.reduce_step(x.op, acc_phi, v, acc)};
        }
        llvm::PHINode* acc_phi = nullptr;
        bool widen;  // the accumulator is wider than the values
      } pass{em, x, in, acc, b, nullptr, itemsize(acc) > itemsize(in)};
      llvm::Value* result = nullptr;
      if (x.op == ir::Op::ReduceSum && acc == DType::Float64 && in != DType::Float64) {
        // A float32 (or 16-bit) sum: blocks of columns accumulate in float32 lanes at full
        // vector width, and each block's sum is added to a float64 total, so the error grows
        // with the block, not the row (eager accumulates in double).
        constexpr int64_t kBlock = 2048;
        llvm::BasicBlock* pre = b.GetInsertBlock();
        auto* header = llvm::BasicBlock::Create(c, "block.header", fn);
        auto* body = llvm::BasicBlock::Create(c, "block.body", fn);
        auto* done = llvm::BasicBlock::Create(c, "block.end", fn);
        b.CreateBr(header);
        b.SetInsertPoint(header);
        llvm::PHINode* j0 = b.CreatePHI(i64, 2);
        j0->addIncoming(b.getInt64(0), pre);
        llvm::PHINode* total = b.CreatePHI(value_type(c, acc), 2);
        total->addIncoming(em.reduce_init(x.op, acc), pre);
        b.CreateCondBr(b.CreateICmpSLT(j0, cols), body, done);
        b.SetInsertPoint(body);
        llvm::Value* j1 = b.CreateAdd(j0, b.getInt64(kBlock), "", true, true);
        llvm::Value* stop = b.CreateSelect(b.CreateICmpSLT(j1, cols), j1, cols);
        auto block = pass;
        block.acc = DType::Float32;
        block.widen = false;
        const auto part = column_pass("reduce", block, j0, stop);
        llvm::Value* next =
            em.reduce_step(x.op, total, em.convert_value(part[0], DType::Float32, acc), acc);
        llvm::BasicBlock* latch = b.GetInsertBlock();
        b.CreateBr(header);
        j0->addIncoming(j1, latch);
        total->addIncoming(next, latch);
        b.SetInsertPoint(done);
        result = total;
      } else {
        result = column_pass("reduce", pass)[0];
      }
      row_value[e] = em.convert_value(result, acc, x.dtype);
      for (size_t s2 = 0; s2 < k.exprs.size(); ++s2)  // what this pass kept is there for the next
        if (k.exprs[s2].scratch && size_t(x.args[0]) == s2) in_scratch[s2] = true;
      settle_row_level();
    }
    // The element-level outputs, then the row-level ones.
    bool element_stores = false;
    for (const auto& [buf, e] : k.stores) element_stores |= !k.exprs[size_t(e)].row_level;
    if (element_stores) {
      struct {
        const KernelIR& k;
        ExprEmitter& em;
        llvm::IRBuilder<>& b;
        const std::function<llvm::Value*(int, llvm::Value*)>& address;
        bool widen = false;
        std::vector<llvm::PHINode*> phis(llvm::BasicBlock*, llvm::BasicBlock*) { return {}; }
        std::vector<llvm::Value*> step(llvm::Value* j,
                                       const std::function<llvm::Value*(int)>& element) {
          for (const auto& [buf, e] : k.stores) {
            if (k.exprs[size_t(e)].row_level) continue;
            b.CreateStore(em.to_storage(element(e), k.buffers[size_t(buf)].dtype), address(buf, j));
          }
          return {};
        }
      } writer{k, em, b, element_address};
      column_pass("write", writer);
    }
    for (const auto& [buf, e] : k.stores)
      if (k.exprs[size_t(e)].row_level)
        b.CreateStore(em.to_storage(row_value[size_t(e)], k.buffers[size_t(buf)].dtype),
                      row_base[size_t(buf)]);
    llvm::Value* r_next = b.CreateAdd(r, b.getInt64(1), "", true, true);
    r->addIncoming(r_next, b.GetInsertBlock());
    b.CreateBr(row_header);
    return row_header;
  };
  llvm::BasicBlock* rows = emit_rows();
  b.SetInsertPoint(entry);
  b.CreateBr(rows);
  b.SetInsertPoint(exit);
  b.CreateRetVoid();
}

// void name(i8** buffers, i64* strides, i64 n): a contiguous loop (all strides equal to the
// element size) that the loop vectorizer takes, and a strided loop for everything else.
void emit_kernel(llvm::Module& m, const KernelIR& k) {
  llvm::LLVMContext& c = m.getContext();
  llvm::IRBuilder<> b(c);
  auto* ptr = b.getPtrTy();
  auto* i64 = b.getInt64Ty();
  auto* fn_type = llvm::FunctionType::get(b.getVoidTy(), {ptr, ptr, i64}, false);
  auto* fn = llvm::Function::Create(fn_type, llvm::Function::ExternalLinkage, k.name, m);
  fn->addFnAttr(llvm::Attribute::NoUnwind);
  llvm::Value* bufs = fn->getArg(0);
  llvm::Value* strides = fn->getArg(1);
  llvm::Value* n = fn->getArg(2);
  auto* entry = llvm::BasicBlock::Create(c, "entry", fn);
  b.SetInsertPoint(entry);
  std::vector<llvm::Value*> base, stride;
  std::vector<llvm::Type*> types;
  llvm::Value* dense = b.getTrue();
  for (size_t i = 0; i < k.buffers.size(); ++i) {
    base.push_back(b.CreateLoad(ptr, b.CreateConstGEP1_64(ptr, bufs, i)));
    stride.push_back(b.CreateLoad(i64, b.CreateConstGEP1_64(i64, strides, i)));
    types.push_back(storage_type(c, k.buffers[i].dtype));
    const int64_t size = int64_t(itemsize(k.buffers[i].dtype));
    dense = b.CreateAnd(dense, b.CreateICmpEQ(stride.back(), b.getInt64(uint64_t(size))));
  }
  auto* exit = llvm::BasicBlock::Create(c, "exit", fn);
  auto loop = [&](const char* label, bool contiguous) {
    auto* header = llvm::BasicBlock::Create(c, std::string(label) + ".header", fn);
    auto* body = llvm::BasicBlock::Create(c, std::string(label) + ".body", fn);
    b.SetInsertPoint(header);
    llvm::PHINode* i = b.CreatePHI(i64, 2);
    b.CreateCondBr(b.CreateICmpSLT(i, n), body, exit);
    b.SetInsertPoint(body);
    auto address = [&](int buf) -> llvm::Value* {
      if (contiguous) return b.CreateInBoundsGEP(types[size_t(buf)], base[size_t(buf)], i);
      return b.CreateGEP(b.getInt8Ty(), base[size_t(buf)], b.CreateMul(i, stride[size_t(buf)]));
    };
    ExprEmitter em(b, m, k);
    const auto values =
        em.emit([&](int buf) { return b.CreateLoad(types[size_t(buf)], address(buf)); });
    for (const auto& [buf, e] : k.stores)
      b.CreateStore(em.to_storage(values[size_t(e)], k.buffers[size_t(buf)].dtype), address(buf));
    llvm::Value* next = b.CreateAdd(i, b.getInt64(1), "", true, true);
    llvm::BranchInst* back = b.CreateBr(header);
    if (!contiguous) keep_scalar(back);
    i->addIncoming(b.getInt64(0), entry);
    i->addIncoming(next, body);
    return header;
  };
  auto* fast = loop("dense", true);
  auto* slow = loop("strided", false);
  b.SetInsertPoint(entry);
  b.CreateCondBr(dense, fast, slow);
  b.SetInsertPoint(exit);
  b.CreateRetVoid();
}

// ---- The disk cache ----
// An entry is one file, <dir>/cpu-<hash of key>.o: a header (magic, checksum of the rest, the
// lengths), the full key (so a hash collision is a miss, not a wrong kernel), the object code.
// Written to a temporary file and renamed, so readers see a whole entry or none; an entry that
// fails any check is ignored and rewritten.
constexpr char kEntryMagic[8] = {'E', 'M', 'B', 'R', 'K', 'C', '0', '1'};

std::string cache_directory(const KernelCacheOptions& options) {
  if (!options.dir.empty()) return options.dir;
  if (const char* env = std::getenv("EMBER_CACHE_DIR"); env && *env) return env;
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/ember";
  return {};
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The object code of a valid entry for key, or nullopt (missing, or logged as corrupt).
std::optional<std::string> read_entry(const std::string& path, const std::string& key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto corrupt = [&](const char* why) {
    if (log_enabled("cache")) log_message("cache", "ignoring " + path + ": " + why);
    return std::nullopt;
  };
  constexpr size_t header = sizeof kEntryMagic + 3 * sizeof(uint64_t);
  if (bytes.size() < header) return corrupt("truncated header");
  if (std::memcmp(bytes.data(), kEntryMagic, sizeof kEntryMagic) != 0) return corrupt("bad magic");
  uint64_t fields[3];
  std::memcpy(fields, bytes.data() + sizeof kEntryMagic, sizeof fields);
  const auto [checksum, key_size, object_size] = fields;
  if (bytes.size() != header + key_size + object_size) return corrupt("wrong length");
  const std::string_view stored_key(bytes.data() + header, key_size);
  const std::string_view object(bytes.data() + header + key_size, object_size);
  if (fnv1a64(object, fnv1a64(stored_key)) != checksum) return corrupt("checksum mismatch");
  if (stored_key != key) return corrupt("another kernel with the same hash");
  return std::string(object);
}

void write_entry(const std::string& path, const std::string& key, const std::string& object) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    const uint64_t fields[3] = {fnv1a64(object, fnv1a64(key)), key.size(), object.size()};
    out.write(kEntryMagic, sizeof kEntryMagic);
    out.write(reinterpret_cast<const char*>(fields), sizeof fields);
    out.write(key.data(), std::streamsize(key.size()));
    out.write(object.data(), std::streamsize(object.size()));
    out.flush();
    if (!out) {
      if (log_enabled("cache")) log_message("cache", "could not write " + tmp);
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    if (log_enabled("cache")) log_message("cache", "could not rename " + tmp + ": " + ec.message());
    fs::remove(tmp, ec);
  }
}

// Keeps the cache directory under $EMBER_CACHE_MAX_MB (default 1024): the entries used least
// recently (a hit refreshes an entry's time) go first, down to 80% of the limit; temporary files
// an interrupted writer left for over an hour go too. Runs after each write, which only a
// compilation (tens of milliseconds) causes.
void prune_cache(const std::string& dir) {
  namespace fs = std::filesystem;
  double limit_mb = 1024;
  if (const char* env = std::getenv("EMBER_CACHE_MAX_MB"); env && *env) limit_mb = std::atof(env);
  const auto limit = static_cast<uintmax_t>(std::max(0.0, limit_mb) * 1024 * 1024);
  std::error_code ec;
  struct File {
    fs::file_time_type time;
    uintmax_t size;
    fs::path path;
  };
  std::vector<File> files;
  uintmax_t total = 0;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("cpu-", 0) != 0) continue;
    const auto time = e.last_write_time(ec);
    if (ec) continue;
    if (name.find(".tmp.") != std::string::npos) {
      if (now - time > std::chrono::hours(1)) fs::remove(e.path(), ec);
      continue;
    }
    const uintmax_t size = e.file_size(ec);
    if (ec) continue;
    files.push_back({time, size, e.path()});
    total += size;
  }
  if (total <= limit) return;
  std::sort(files.begin(), files.end(),
            [](const File& a, const File& b) { return a.time < b.time; });
  for (const File& f : files) {
    if (total <= limit / 5 * 4) break;
    if (fs::remove(f.path, ec)) {
      total -= f.size;
      if (log_enabled("cache")) log_message("cache", "evicted " + f.path.string());
    }
  }
}

std::string Jit::emit_object(const KernelIR& k, const std::string& symbol, bool quick) {
  llvm::LLVMContext context;
  llvm::Module module("ember", context);
  module.setDataLayout(jit_->getDataLayout());
  llvm::TargetMachine& target = thread_target_machine(quick);
  module.setTargetTriple(target.getTargetTriple().str());
  KernelIR named = k;
  named.name = symbol;
  if (k.rows)
    emit_row_kernel(module, named);
  else
    emit_kernel(module, named);
  std::string problems;
  llvm::raw_string_ostream os(problems);
  if (llvm::verifyModule(module, &os))
    throw InternalError("codegen produced invalid LLVM IR for " + k.name + ": " + os.str());
  const auto start = std::chrono::steady_clock::now();
  optimize(module, target, quick);
  const auto optimized = std::chrono::steady_clock::now();
  if (log_enabled("llvm")) {
    std::string text;
    llvm::raw_string_ostream ir_os(text);
    module.print(ir_os, nullptr);
    log_message("llvm", k.name + " (" + symbol + "):\n" + ir_os.str());
  }
  llvm::SmallVector<char, 0> object;
  llvm::raw_svector_ostream object_os(object);
  llvm::legacy::PassManager pm;
  if (target.addPassesToEmitFile(pm, object_os, nullptr, llvm::CodeGenFileType::ObjectFile))
    throw Error("llvm: the target cannot emit object files");
  pm.run(module);
  ++(quick ? quick_compiles_ : compiles_);
  if (log_enabled("cache")) {
    using ms = std::chrono::duration<double, std::milli>;
    std::ostringstream msg;
    msg << k.name << (quick ? " (quick tier)" : "") << ": optimized in "
        << ms(optimized - start).count() << " ms, machine code in "
        << ms(std::chrono::steady_clock::now() - optimized).count() << " ms";
    log_message("cache", msg.str());
  }
  return std::string(object.begin(), object.end());
}

std::string Jit::disk_path(const std::string& key, const KernelCacheOptions& options) const {
  const std::string dir = options.disk ? cache_directory(options) : std::string();
  return dir.empty() ? std::string() : dir + "/cpu-" + hex64(fnv1a64(key)) + ".o";
}

bool Jit::has_optimized(const KernelIR& k, const KernelCacheOptions& options) {
  const std::string key = key_of(k, false);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cache_.count(key)) return true;
  }
  const std::string path = disk_path(key, options);
  std::error_code ec;
  return !path.empty() && std::filesystem::exists(path, ec);
}

void Jit::background(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(background_mutex_);
  if (!background_thread_.joinable()) {
    // At exit the thread must stop before static objects it may be using are destroyed:
    // LLVM keeps some in function-local statics (SelectionDAG's extended value types) that
    // exist only once code has been generated. An optimized compile of a small vector kernel
    // here creates them, and the exit hook registered after it runs before their destructors.
    KernelIR warm;
    warm.name = "ember_warm_up";
    warm.buffers = {{DType::Float32, false}, {DType::Float32, true}};
    KernelIR::Expr load{};
    load.kind = KernelIR::ExprKind::Load;
    load.dtype = DType::Float32;
    load.buffer = 0;
    KernelIR::Expr e = load;
    e.kind = KernelIR::ExprKind::Op;
    e.op = ir::Op::Exp;
    e.buffer = -1;
    e.args = {0};
    warm.exprs = {load, e};
    warm.stores = {{1, 1}};
    KernelCacheOptions no_disk;
    no_disk.disk = false;
    compile(warm, no_disk);
    --compiles_;  // not a kernel of the program: the counts stay the program's
    std::atexit([] { Jit::instance().stop_background(); });
    background_thread_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(background_mutex_);
      for (;;) {
        background_cv_.wait(lock, [this] { return stop_ || !tasks_.empty(); });
        if (stop_) return;
        std::function<void()> next = std::move(tasks_.front());
        tasks_.pop_front();
        busy_ = true;
        lock.unlock();
        next();
        lock.lock();
        busy_ = false;
        background_cv_.notify_all();
      }
    });
  }
  tasks_.push_back(std::move(task));
  background_cv_.notify_all();
}

void Jit::wait_for_background() {
  std::unique_lock<std::mutex> lock(background_mutex_);
  background_cv_.wait(lock, [this] { return stop_ || (tasks_.empty() && !busy_); });
}

llvm::orc::ExecutorAddr Jit::compile(const KernelIR& k, const KernelCacheOptions& options,
                                     bool quick) {
  const std::string key = key_of(k, quick);
  const bool log = log_enabled("cache");
  const uint64_t hash = fnv1a64(key);
  const std::string symbol = "ember_kernel_" + hex64(hash);
  {
    // A kernel another thread is compiling is waited for, not compiled twice.
    std::unique_lock<std::mutex> lock(mutex_);
    compiled_cv_.wait(lock, [&] { return !in_flight_.count(key); });
    if (auto it = cache_.find(key); it != cache_.end()) {
      if (log) log_message("cache", "memory hit: " + k.name);
      return it->second;
    }
    auto known = key_of_symbol_.find(symbol);
    EMBER_CHECK(known == key_of_symbol_.end(), InternalError, "kernel cache: two kernels hash to ",
                symbol);
    in_flight_.insert(key);
  }
  // Whatever happens below, the key stops being in flight.
  struct Done {
    Jit& jit;
    const std::string& key;
    ~Done() {
      {
        std::lock_guard<std::mutex> lock(jit.mutex_);
        jit.in_flight_.erase(key);
      }
      jit.compiled_cv_.notify_all();
    }
  } done{*this, key};
  // Reading the disk cache, optimizing and emitting run unlocked: kernels compile in parallel.
  // The quick tier stays in memory.
  const std::string path = quick ? std::string() : disk_path(key, options);
  const std::string dir =
      path.empty() ? std::string() : std::filesystem::path(path).parent_path().string();
  std::optional<std::string> object;
  if (!path.empty()) object = read_entry(path, key);
  if (object) {
    ++disk_hits_;
    std::error_code ec;  // recently used: the last to be evicted
    std::filesystem::last_write_time(path, std::filesystem::file_time_type::clock::now(), ec);
    if (log) log_message("cache", "disk hit: " + k.name + " from " + path);
  } else {
    const auto start = std::chrono::steady_clock::now();
    object = emit_object(k, symbol, quick);
    if (!path.empty()) {
      write_entry(path, key, *object);
      prune_cache(dir);
    }
    if (log) {
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      std::ostringstream msg;
      msg << "miss: " << k.name << " compiled in " << ms << " ms"
          << (path.empty() ? std::string(" (disk cache off)") : ", written to " + path);
      log_message("cache", msg.str());
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto e = jit_->addObjectFile(llvm::MemoryBuffer::getMemBufferCopy(*object, symbol)))
    throw Error("llvm: " + error_text(std::move(e)));
  auto address = jit_->lookup(symbol);
  if (!address) throw Error("llvm: " + error_text(address.takeError()));
  key_of_symbol_[symbol] = key;
  cache_[key] = *address;
  return *address;
}

}  // namespace

InnerLoopFn compile_cpu(const KernelIR& kernel, const KernelCacheOptions& options) {
  EMBER_CHECK(!kernel.rows, Error, "compile_cpu: ", kernel.name, " is a row kernel (compile_rows)");
  return Jit::instance().compile(kernel, options).toPtr<InnerLoopFn>();
}
RowKernelFn compile_rows(const KernelIR& kernel, const KernelCacheOptions& options) {
  EMBER_CHECK(kernel.rows, Error, "compile_rows: ", kernel.name, " is not a row kernel");
  return Jit::instance().compile(kernel, options).toPtr<RowKernelFn>();
}
std::shared_ptr<TieredKernel> compile_tiered(const KernelIR& kernel,
                                             const KernelCacheOptions& options) {
  Jit& jit = Jit::instance();
  auto handle = std::make_shared<TieredKernel>();
  if (!options.tiered || jit.has_optimized(kernel, options)) {
    handle->set(jit.compile(kernel, options).getValue(), true);
    return handle;
  }
  handle->set(jit.compile(kernel, options, true).getValue(), false);
  jit.background([handle, kernel, options] {
    try {
      handle->set(Jit::instance().compile(kernel, options).getValue(), true);
      if (log_enabled("cache")) log_message("cache", kernel.name + ": optimized tier in place");
    } catch (const Error& e) {  // the quick tier stays
      if (log_enabled("cache"))
        log_message("cache", kernel.name + ": no optimized tier: " + std::string(e.what()));
    }
  });
  return handle;
}

void wait_for_background_compiles() { Jit::instance().wait_for_background(); }
int64_t cpu_quick_compile_count() { return Jit::instance().quick_compiles(); }
int64_t cpu_compile_count() { return Jit::instance().compiles(); }
int64_t cpu_disk_cache_hits() { return Jit::instance().disk_hits(); }

}  // namespace ember::codegen
