#include "ember/data/data.h"

#include <fstream>
#include <numeric>
#include <random>

#include "ember/frontend/ops.h"

namespace ember::data {
namespace {

Tensor index_tensor(const std::vector<int64_t>& indices) {
  Tensor t = empty({int64_t(indices.size())}, kInt64);
  std::copy(indices.begin(), indices.end(), t.data_ptr<int64_t>());
  return t;
}

uint32_t big_endian_u32(std::ifstream& in, const std::string& path) {
  unsigned char b[4];
  in.read(reinterpret_cast<char*>(b), 4);
  EMBER_CHECK(bool(in), ValueError, "MNIST: ", path, " is too short for its IDX header");
  return uint32_t(b[0]) << 24 | uint32_t(b[1]) << 16 | uint32_t(b[2]) << 8 | uint32_t(b[3]);
}

// The bytes of an IDX file after its header, whose dims are checked against `dims` (0: any).
std::vector<uint8_t> read_idx(const std::string& path, uint32_t magic,
                              std::vector<uint32_t>& dims) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK(bool(in), ValueError, "MNIST: cannot open ", path,
              " (get the IDX files from the MNIST distribution and gunzip them there)");
  const uint32_t seen = big_endian_u32(in, path);
  EMBER_CHECK(seen == magic, ValueError, "MNIST: ", path, " has the magic number ", seen,
              ", expected ", magic);
  uint64_t count = 1;
  for (uint32_t& d : dims) {
    const uint32_t v = big_endian_u32(in, path);
    EMBER_CHECK(d == 0 || v == d, ValueError, "MNIST: ", path, " has a dim of ", v, ", expected ",
                d);
    d = v;
    count *= v;
  }
  std::vector<uint8_t> bytes(count);
  in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(count));
  EMBER_CHECK(uint64_t(in.gcount()) == count, ValueError, "MNIST: ", path, " holds ", in.gcount(),
              " bytes of data, expected ", count);
  return bytes;
}

std::pair<Tensor, Tensor> load_mnist(const std::string& root, datasets::MNIST::Mode mode) {
  const std::string prefix = root + "/" + (mode == datasets::MNIST::Mode::Train ? "train" : "t10k");
  std::vector<uint32_t> image_dims = {0, 28, 28}, label_dims = {0};
  const std::vector<uint8_t> pixels = read_idx(prefix + "-images-idx3-ubyte", 0x803, image_dims);
  const std::vector<uint8_t> labels = read_idx(prefix + "-labels-idx1-ubyte", 0x801, label_dims);
  EMBER_CHECK(image_dims[0] == label_dims[0], ValueError, "MNIST: ", image_dims[0], " images but ",
              label_dims[0], " labels in ", root);
  const int64_t n = image_dims[0];
  Tensor images = empty({n, 1, 28, 28}, kFloat32);
  float* p = images.data_ptr<float>();
  for (size_t i = 0; i < pixels.size(); ++i) p[i] = float(pixels[i]) / 255.0f;
  Tensor targets = empty({n}, kInt64);
  int64_t* t = targets.data_ptr<int64_t>();
  for (size_t i = 0; i < labels.size(); ++i) t[i] = labels[i];
  return {images, targets};
}

}  // namespace

TensorDataset::TensorDataset(Tensor data, Tensor target)
    : data_(std::move(data)), target_(std::move(target)) {
  EMBER_CHECK(data_.dim() >= 1 && target_.dim() >= 1 && data_.size(0) == target_.size(0),
              ShapeError, "TensorDataset: data ", shape_str(data_.sizes()), " and target ",
              shape_str(target_.sizes()), " must have the same size in dim 0");
}

Example TensorDataset::get(int64_t index) const {
  EMBER_CHECK(index >= 0 && index < data_.size(0), IndexError, "TensorDataset: index ", index,
              " is out of range for ", data_.size(0), " examples");
  return {data_[index], target_[index]};
}

Example TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  const Tensor idx = index_tensor(indices);
  return {index_select(data_, 0, idx), index_select(target_, 0, idx)};
}

datasets::MNIST::MNIST(const std::string& root, Mode mode) : MNIST(load_mnist(root, mode)) {}

void save_idx(const std::string& path, const Tensor& bytes) {
  EMBER_CHECK(bytes.dtype() == kUInt8, DTypeError, "save_idx: expected a uint8 tensor, got ",
              bytes.dtype());
  EMBER_CHECK(bytes.dim() >= 1 && bytes.dim() <= 255, ShapeError,
              "save_idx: expected 1 to 255 dims, got shape ", shape_str(bytes.sizes()));
  std::ofstream out(path, std::ios::binary);
  EMBER_CHECK(bool(out), ValueError, "save_idx: cannot write ", path);
  auto u32 = [&](uint64_t v) {
    EMBER_CHECK(v <= UINT32_MAX, ShapeError, "save_idx: size ", v, " does not fit IDX's 32 bits");
    for (int s = 24; s >= 0; s -= 8) out.put(char((v >> s) & 0xff));
  };
  u32(0x800u | uint32_t(bytes.dim()));  // unsigned bytes, then the number of dims
  for (int64_t d : bytes.sizes()) u32(uint64_t(d));
  const Tensor c = bytes.contiguous();
  out.write(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()), std::streamsize(c.numel()));
  EMBER_CHECK(bool(out), ValueError, "save_idx: writing ", path, " failed");
}

std::vector<int64_t> SequentialSampler::order() {
  std::vector<int64_t> out(size_);
  std::iota(out.begin(), out.end(), 0);
  return out;
}

std::vector<int64_t> RandomSampler::order() {
  std::vector<int64_t> out(size_);
  std::iota(out.begin(), out.end(), 0);
  std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ull + epoch_++);
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

}  // namespace ember::data

namespace ember::data::detail {

Prefetcher::Prefetcher(std::function<Example(size_t)> make, size_t count, size_t workers,
                       size_t depth)
    : make_(std::move(make)), count_(count), depth_(std::max<size_t>(depth, 1)) {
  for (size_t w = 0; w < std::min(workers, count); ++w) threads_.emplace_back([this] { work(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  space_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void Prefetcher::work() {
  for (;;) {
    size_t i;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      space_.wait(lock, [&] { return stop_ || next_ >= count_ || next_ < taken_ + depth_; });
      if (stop_ || next_ >= count_) return;
      i = next_++;
    }
    Example batch;
    std::exception_ptr error;
    try {
      batch = make_(i);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (error)
        failed_[i] = error;
      else
        done_[i] = std::move(batch);
    }
    ready_.notify_all();
  }
}

Example Prefetcher::take(size_t i) {
  EMBER_CHECK(i < count_, IndexError, "DataLoader: batch ", i, " of an epoch of ", count_);
  std::unique_lock<std::mutex> lock(mutex_);
  ready_.wait(lock, [&] { return done_.count(i) || failed_.count(i); });
  taken_ = std::max(taken_, i + 1);
  space_.notify_all();
  if (auto f = failed_.find(i); f != failed_.end()) {
    const std::exception_ptr error = f->second;
    failed_.erase(f);
    std::rethrow_exception(error);
  }
  Example out = std::move(done_.at(i));
  done_.erase(done_.begin(), done_.upper_bound(i));  // and batches the loop skipped
  return out;
}

}  // namespace ember::data::detail
