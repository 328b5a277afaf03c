// ember::data, as LibTorch's: datasets of examples (data, target), samplers, and a loader that
// yields batches. A batch is gathered once, straight from the dataset's tensors into the batch
// (index_select over the sampled indices), never assembled example by example.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
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

// Writes a uint8 tensor as an IDX file (MNIST's format: big-endian magic 0x08nn with nn dims,
// the sizes, the bytes), which datasets::MNIST reads back.
void save_idx(const std::string& path, const Tensor& bytes);

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
  // Threads that gather batches ahead of the loop (0: each batch is gathered when the loop asks
  // for it, on the loop's thread).
  EMBER_OPTION(DataLoaderOptions, int64_t, workers) = 0;
  // With workers: batches gathered ahead at most (LibTorch's max_jobs); 0 means 2 per worker.
  EMBER_OPTION(DataLoaderOptions, int64_t, max_jobs) = 0;
};

namespace detail {

// Builds batches 0 .. count-1 on worker threads, at most `depth` ahead of the one the loop last
// took, and hands them over in order (each one moved, never copied). A batch's error is raised
// when the loop takes it. Destroying it (the loop ended or broke off) stops and joins the
// workers.
class Prefetcher {
 public:
  Prefetcher(std::function<Example(size_t)> make, size_t count, size_t workers, size_t depth);
  ~Prefetcher();
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;
  // Batch i, in increasing order: waits until a worker has built it.
  Example take(size_t i);

 private:
  void work();
  std::function<Example(size_t)> make_;
  size_t count_, depth_;
  std::mutex mutex_;
  std::condition_variable ready_, space_;
  size_t next_ = 0, taken_ = 0;
  std::map<size_t, Example> done_;
  std::map<size_t, std::exception_ptr> failed_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace detail

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
        : loader_(loader),
          order_(std::make_shared<std::vector<int64_t>>(std::move(order))),
          pos_(pos) {
      const int64_t workers = loader->options_.workers_;
      if (workers <= 0 || order_->empty()) return;
      const size_t bs = size_t(loader->options_.batch_size_), n = order_->size();
      const size_t count = loader->options_.drop_last_ ? n / bs : (n + bs - 1) / bs;
      const size_t depth =
          loader->options_.max_jobs_ > 0 ? size_t(loader->options_.max_jobs_) : 2 * size_t(workers);
      auto order_ref = order_;
      prefetch_ = std::make_shared<detail::Prefetcher>(
          [loader, order_ref](size_t batch) { return loader->batch(*order_ref, batch); }, count,
          size_t(workers), depth);
    }
    Example operator*() const {
      const size_t batch = pos_ / size_t(loader_->options_.batch_size_);
      if (!current_ || current_index_ != batch) {
        current_ = std::make_shared<Example>(prefetch_ ? prefetch_->take(batch)
                                                       : loader_->batch(*order_, batch));
        current_index_ = batch;
      }
      return *current_;
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
      return pos_ >= order_->size() || (loader_->options_.drop_last_ && pos_ + bs > order_->size());
    }
    const DataLoader* loader_;
    std::shared_ptr<std::vector<int64_t>> order_;
    size_t pos_;
    std::shared_ptr<detail::Prefetcher> prefetch_;
    mutable std::shared_ptr<Example> current_;  // the batch taken for current_index_
    mutable size_t current_index_ = 0;
  };

  Iterator begin() { return Iterator(this, sampler_.order(), 0); }
  Iterator end() { return Iterator(this, {}, 0); }

 private:
  // Batch number i of an epoch's order: one gather from the dataset.
  Example batch(const std::vector<int64_t>& order, size_t i) const {
    const size_t bs = size_t(options_.batch_size_), begin = i * bs;
    const size_t end = std::min(order.size(), begin + bs);
    return dataset_.get_batch(
        std::vector<int64_t>(order.begin() + long(begin), order.begin() + long(end)));
  }

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
