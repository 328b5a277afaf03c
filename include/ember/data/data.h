// ember::data, as LibTorch's: datasets of examples (data, target), samplers, and a loader that
// yields batches. A batch is gathered once, straight from the dataset's tensors into the batch
// (index_select over the sampled indices), never assembled example by example.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ember/frontend/options.h"
#include "ember/frontend/tensor.h"

namespace ember::data {

struct Example {
  Tensor data, target;
};

namespace transforms {
// LibTorch's batch-collating transform: the loaders here always yield stacked batches, so
// `dataset.map(transforms::Stack<>())` is the dataset itself (ported code compiles unchanged).
template <class T = Example>
struct Stack {};
}  // namespace transforms

// Examples as rows (dim 0) of a data tensor and a target tensor.
class TensorDataset {
 public:
  TensorDataset(Tensor data, Tensor target);
  Example get(int64_t index) const;
  // The examples at indices, stacked: one gather per tensor.
  Example get_batch(const std::vector<int64_t>& indices) const;
  std::optional<size_t> size() const { return size_t(data_.size(0)); }
  template <class T>
  const TensorDataset& map(transforms::Stack<T>) const {
    return *this;
  }

 private:
  Tensor data_, target_;
};

namespace datasets {

// MNIST from its IDX files in root (train-images-idx3-ubyte, train-labels-idx1-ubyte, or the
// t10k- pair for Mode::Test; uncompressed, as distributed after gunzip): images as float32
// [N, 1, 28, 28] scaled to [0, 1], labels as int64 [N]. ValueError naming the file for a
// missing or malformed one.
class MNIST : public TensorDataset {
 public:
  enum class Mode { Train, Test };
  explicit MNIST(const std::string& root, Mode mode = Mode::Train);

 private:
  explicit MNIST(std::pair<Tensor, Tensor> images_and_labels)
      : TensorDataset(std::move(images_and_labels.first), std::move(images_and_labels.second)) {}
};

}  // namespace datasets

// The order a loader visits examples in: 0, 1, ..., or a permutation drawn from a seed (a new
// one each epoch).
class SequentialSampler {
 public:
  explicit SequentialSampler(size_t size) : size_(size) {}
  std::vector<int64_t> order();

 private:
  size_t size_;
};

class RandomSampler {
 public:
  explicit RandomSampler(size_t size, uint64_t seed = 0) : size_(size), seed_(seed) {}
  std::vector<int64_t> order();

 private:
  size_t size_;
  uint64_t seed_;
  uint64_t epoch_ = 0;
};

struct DataLoaderOptions {
  DataLoaderOptions() = default;
  explicit DataLoaderOptions(int64_t batch_size) : batch_size_(batch_size) {}
  EMBER_OPTION(DataLoaderOptions, int64_t, batch_size) = 1;
  EMBER_OPTION(DataLoaderOptions, bool, drop_last) = false;
};

// Batches of a dataset in a sampler's order; iterate with range-for (each pass is an epoch).
template <class Dataset, class Sampler>
class DataLoader {
 public:
  DataLoader(Dataset dataset, Sampler sampler, DataLoaderOptions options)
      : dataset_(std::move(dataset)), sampler_(std::move(sampler)), options_(options) {
    EMBER_CHECK(options.batch_size_ > 0, ValueError,
                "DataLoader: batch_size must be positive, got ", options.batch_size_);
  }

  class Iterator {
   public:
    Iterator(const DataLoader* loader, std::vector<int64_t> order, size_t pos)
        : loader_(loader), order_(std::move(order)), pos_(pos) {}
    Example operator*() const {
      const size_t end = std::min(order_.size(), pos_ + size_t(loader_->options_.batch_size_));
      return loader_->dataset_.get_batch(
          std::vector<int64_t>(order_.begin() + long(pos_), order_.begin() + long(end)));
    }
    Iterator& operator++() {
      pos_ += size_t(loader_->options_.batch_size_);
      return *this;
    }
    bool operator!=(const Iterator& other) const { return stop() != other.stop(); }

   private:
    // Past the last batch (a partial one counts unless drop_last).
    bool stop() const {
      const size_t bs = size_t(loader_->options_.batch_size_);
      return pos_ >= order_.size() || (loader_->options_.drop_last_ && pos_ + bs > order_.size());
    }
    const DataLoader* loader_;
    std::vector<int64_t> order_;
    size_t pos_;
  };

  Iterator begin() { return Iterator(this, sampler_.order(), 0); }
  Iterator end() { return Iterator(this, {}, 0); }

 private:
  Dataset dataset_;
  Sampler sampler_;
  DataLoaderOptions options_;
};

// make_data_loader(dataset, options): sequential order; with a seed, a fresh random
// permutation each epoch.
template <class Dataset>
DataLoader<Dataset, SequentialSampler> make_data_loader(Dataset dataset,
                                                        DataLoaderOptions options = {}) {
  const size_t n = dataset.size().value_or(0);
  return DataLoader<Dataset, SequentialSampler>(std::move(dataset), SequentialSampler(n), options);
}
template <class Dataset>
DataLoader<Dataset, RandomSampler> make_data_loader(Dataset dataset, RandomSampler sampler,
                                                    DataLoaderOptions options = {}) {
  return DataLoader<Dataset, RandomSampler>(std::move(dataset), std::move(sampler), options);
}

}  // namespace ember::data
