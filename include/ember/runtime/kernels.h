// The eager CPU kernels, on Arrays. Each checks its arguments and throws ember::Error subclasses
// with the op, the shapes and the dimension in the message; the frontend's Tensor ops call them,
// and so will the IR's reference interpreter. Semantics follow PyTorch (broadcasting, promotion,
// reduction defaults, NaN propagation in max/min/clamp).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "ember/runtime/array.h"

namespace ember::kernels {

// ---- elementwise ---------------------------------------------------------------------------

// The elementwise kernels: ops.def's unary and binary ops (same names), and the unary kernels
// only the runtime has (the fused eager gelu and silu).
enum class UnaryOp : uint8_t {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_UNARY_OP(name, text, props) name,
#define EMBER_EAGER_UNARY_OP(name, text, props) name,
#include "ember/ir/ops.def"
#undef EMBER_OP
};
enum class BinaryOp : uint8_t {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_BINARY_OP(name, text, props) name,
#include "ember/ir/ops.def"
#undef EMBER_OP
};
const char* op_name(UnaryOp op);
const char* op_name(BinaryOp op);

// The dtype a unary op returns for an input dtype (exp of an int64 tensor is float32), or
// DTypeError when the op is not defined for it (neg of bool).
DType unary_result_type(UnaryOp op, DType input);
// The dtype of the computation and of the result of a binary op whose inputs promote to `common`.
DType binary_compute_type(BinaryOp op, DType common);
DType binary_result_type(BinaryOp op, DType common);

Array unary(UnaryOp op, const Array& a);
// a and b broadcast; they are promoted to promote_types(a, b) (callers that follow PyTorch's
// scalar rules pass scalars as 0-dim arrays already in the right dtype).
Array binary(BinaryOp op, const Array& a, const Array& b);
Array where(const Array& cond, const Array& a, const Array& b);
Array clamp(const Array& a, std::optional<double> min, std::optional<double> max);
Array cast(const Array& a, DType dtype);
// dst[...] = src broadcast to dst's shape, converted to dst's dtype. dst may be any view.
void copy_into(const Array& dst, const Array& src);
void fill(const Array& dst, double value);
Array contiguous(const Array& a);

// ---- creation and random -------------------------------------------------------------------

Array full(IntArrayRef sizes, double value, DType dtype);
// The same from an integer: exact for integer dtypes of any magnitude.
Array full_int(IntArrayRef sizes, int64_t value, DType dtype);
Array arange(double start, double end, double step, DType dtype);
// arange's length (ValueError for a zero step or bounds that disagree with its sign), and the
// values start + i * step for i < n.
int64_t arange_length(double start, double end, double step);
Array arange_n(double start, double step, int64_t n, DType dtype);
// Counter-based Philox4x32-10 streams: each call takes a fresh range of the global counter, so a
// given seed reproduces the same sequence of calls' values, on any number of threads.
void manual_seed(uint64_t seed);
// The generator's state for one call: the seed (Philox key) and the call's counter offset.
struct RngState {
  uint64_t seed, offset;
};
// Returns the state the next random call would use, and advances past it.
RngState next_rng_state();
// The generator's state without advancing it, and setting it (what a compiled replay of a
// function that calls manual_seed leaves behind, as eager would).
RngState rng_state();
void set_rng_state(RngState state);
Array rand(IntArrayRef sizes, DType dtype);   // uniform [0, 1)
Array randn(IntArrayRef sizes, DType dtype);  // standard normal
// The same from an explicit state (what graphs record), so a replay reproduces an eager call.
Array rand_uniform(RngState state, IntArrayRef sizes, DType dtype);
Array rand_normal(RngState state, IntArrayRef sizes, DType dtype);
Array randint(int64_t low, int64_t high, IntArrayRef sizes, DType dtype);  // [low, high)

// ---- movement (views share storage; the rest copy) -----------------------------------------

Array view(const Array& a, IntArrayRef sizes);  // ShapeError when strides cannot express it
Array reshape(const Array& a, IntArrayRef sizes);
// Whether a.view(sizes) exists (reshape's ShapeError when sizes do not fit a's elements).
bool is_viewable(const Array& a, IntArrayRef sizes);
Array permute(const Array& a, IntArrayRef dims);
Array transpose(const Array& a, int64_t dim0, int64_t dim1);
Array expand(const Array& a, IntArrayRef sizes);
Array squeeze(const Array& a, std::optional<int64_t> dim);
Array unsqueeze(const Array& a, int64_t dim);
Array slice(const Array& a, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end,
            int64_t step);
Array narrow(const Array& a, int64_t dim, int64_t start, int64_t length);
Array select(const Array& a, int64_t dim, int64_t index);
Array flatten(const Array& a, int64_t start_dim, int64_t end_dim);
Array cat(const std::vector<Array>& arrays, int64_t dim);
Array stack(const std::vector<Array>& arrays, int64_t dim);
Array index_select(const Array& a, int64_t dim, const Array& index);
Array gather(const Array& a, int64_t dim, const Array& index);
// a with source's slices along dim added at index's positions; repeated indices accumulate.
Array index_add(const Array& a, int64_t dim, const Array& index, const Array& source);
// a with source's slices along dim written at index's positions (a repeated index: the last
// write wins).
Array index_copy(const Array& a, int64_t dim, const Array& index, const Array& source);
Array embedding(const Array& weight, const Array& indices);
// IndexError unless every value of index (int64 or int32) is in [0, size), as index_select,
// gather and embedding require: "<op>: index 7 is out of bounds for dimension 0 with size 5".
void check_indices(const Array& index, int64_t size, int64_t dim, const char* op);

// ---- along one dim: scans and orders (sort.cpp) --------------------------------------------

// Running sums along dim; integer and bool inputs give int64 (PyTorch's cumsum dtypes), floats
// accumulate in double.
DType cumsum_result_type(DType input);
Array cumsum(const Array& a, int64_t dim);
// int64 positions that sort each line along dim (stable: equal values keep their order; NaN
// sorts above every number, as in PyTorch).
Array argsort(const Array& a, int64_t dim, bool descending);
// int64 positions of the k largest (or smallest) of each line along dim, in that order.
Array topk(const Array& a, int64_t k, int64_t dim, bool largest);

// ---- reductions ----------------------------------------------------------------------------

// ops.def's reductions with a kernel (reduce_sum -> Sum, ...), and the eager mean.
enum class ReduceOp : uint8_t {
#define EMBER_OP(name, text, category, arity, props, attrs)
#define EMBER_REDUCE_OP(name, kernel, text) kernel,
#define EMBER_EAGER_REDUCE_OP(kernel, text) kernel,
#include "ember/ir/ops.def"
#undef EMBER_OP
};
const char* op_name(ReduceOp op);
// Over dims (empty = all), PyTorch's result dtypes: sum/prod of integers give int64, mean needs a
// floating input, max/min keep the dtype and need a non-empty input.
Array reduce(ReduceOp op, const Array& a, IntArrayRef dims, bool keepdim);
// Values and int64 indices of the max (or min) along dim; the first index wins ties, NaN wins.
std::pair<Array, Array> max_min_dim(bool is_max, const Array& a, int64_t dim, bool keepdim);
// argmax/argmin over dim, or over the flattened array when dim is empty.
Array arg_reduce(bool is_max, const Array& a, std::optional<int64_t> dim, bool keepdim);
// Variance with Bessel-style correction (1 = unbiased, PyTorch's default).
Array var(const Array& a, IntArrayRef dims, double correction, bool keepdim);

// ---- linear algebra ------------------------------------------------------------------------

// torch.matmul: 1-D and 2-D cases, batch dims broadcast. float32/float64 go to OpenBLAS.
Array matmul(const Array& a, const Array& b);
Array mm(const Array& a, const Array& b);   // 2-D only
Array bmm(const Array& a, const Array& b);  // 3-D only, equal batch

// ---- neural-network composites (fused eager kernels) ---------------------------------------

Array softmax(const Array& a, int64_t dim);
Array log_softmax(const Array& a, int64_t dim);
Array layer_norm(const Array& a, IntArrayRef normalized_shape, const Array* weight,
                 const Array* bias, double eps);
// layer_norm's input checks (its trailing dims are normalized_shape; a floating dtype), shared with
// the tracer's decomposition.
void check_layer_norm_input(IntArrayRef sizes, DType dtype, IntArrayRef normalized_shape);
Array dropout(const Array& a, double p, bool train);

struct Conv2dParams {
  std::array<int64_t, 2> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};
Array conv2d(const Array& input, const Array& weight, const Array* bias, const Conv2dParams& p);

struct Pool2dParams {
  std::array<int64_t, 2> kernel{1, 1}, stride{1, 1}, padding{0, 0}, dilation{1, 1};
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg_pool2d only
};
// Output length of a sliding window (convolution or pooling) along one dim: input in, kernel k,
// stride s, padding p, dilation d; ceil_mode as PyTorch's pools (the last window must start
// inside the input or the left padding). 0 when the window does not fit.
int64_t window_output_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode);
Array max_pool2d(const Array& input, const Pool2dParams& p);
Array avg_pool2d(const Array& input, const Pool2dParams& p);

// ---- optimizer updates (optim.cpp) ---------------------------------------------------------

// One parameter of a fused optimizer step: the parameter, its gradient and up to three state
// slots (SGD: a = momentum buffer; Adam: a = exp_avg, b = exp_avg_sq, c = max_exp_avg_sq), all
// written in place; its group's learning rate and its step count (1 on the first update).
struct UpdateSlot {
  Array param, grad, a, b, c;
  double lr = 0;
  int64_t step = 1;
};
struct SgdHyper {
  double momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};
struct AdamHyper {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;  // AdamW
  bool amsgrad = false;
};
// Whether the fused kernels take the slot: a float32/float64 contiguous parameter, and a gradient
// and the first `states` state slots contiguous with its shape and dtype.
bool can_fuse_update(const UpdateSlot& slot, int states);
// PyTorch's SGD and Adam/AdamW updates (see ember/optim/optim.h), every slot in one parallel pass;
// the parameters' versions are bumped.
void sgd_update(std::span<const UpdateSlot> slots, const SgdHyper& hyper);
void adam_update(std::span<const UpdateSlot> slots, const AdamHyper& hyper);

}  // namespace ember::kernels
