#include "codegen/llvm_loops.h"

#include <algorithm>
#include <string>

#include "codegen/llvm_expr.h"
#include "ember/codegen/legalize.h"

namespace ember::codegen::llvm_backend {
namespace {

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

}  // namespace

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
      const DType acc = reduce_accumulator(x.op, in);
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
        em.emit([&](int buf) { return b.CreateLoad(types[size_t(buf)], address(buf)); },
                [&](int buf, llvm::Value* offset) {
                  llvm::Type* t = types[size_t(buf)];
                  return b.CreateLoad(t, b.CreateGEP(t, address(buf), offset));
                });
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

}  // namespace ember::codegen::llvm_backend
