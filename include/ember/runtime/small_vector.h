// A vector with inline storage for its first N elements, for the short lists on every op's path
// (sizes, strides, loop dims): most tensors have few dims, so most ops allocate no metadata at
// all. Elements must be trivially copyable; past N it moves to the heap like std::vector.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <new>
#include <ostream>
#include <type_traits>
#include <vector>

namespace ember {

template <class T, size_t N>
class SmallVector {
  static_assert(std::is_trivially_copyable_v<T>, "SmallVector holds trivially copyable types");

 public:
  using value_type = T;
  using iterator = T*;
  using const_iterator = const T*;
  using reverse_iterator = std::reverse_iterator<T*>;
  using const_reverse_iterator = std::reverse_iterator<const T*>;
  using size_type = size_t;

  SmallVector() = default;
  explicit SmallVector(size_t n, const T& value = T()) { assign_fill(n, value); }
  SmallVector(std::initializer_list<T> list) { assign_range(list.begin(), list.size()); }
  template <class It>
  requires(!std::is_integral_v<It>) SmallVector(It first, It last) {
    for (; first != last; ++first) push_back(*first);
  }
  SmallVector(const std::vector<T>& v) { assign_range(v.data(), v.size()); }
  SmallVector(const SmallVector& other) { copy_from(other); }
  SmallVector(SmallVector&& other) noexcept { steal(other); }
  SmallVector& operator=(const SmallVector& other) {
    if (this != &other) {
      size_ = 0;
      copy_from(other);
    }
    return *this;
  }
  SmallVector& operator=(SmallVector&& other) noexcept {
    if (this != &other) {
      release();
      steal(other);
    }
    return *this;
  }
  ~SmallVector() { release(); }

  T* data() { return heap_ ? heap_ : inline_data(); }
  const T* data() const { return heap_ ? heap_ : inline_data(); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  reverse_iterator rbegin() { return reverse_iterator(end()); }
  reverse_iterator rend() { return reverse_iterator(begin()); }
  const_reverse_iterator rbegin() const { return const_reverse_iterator(end()); }
  const_reverse_iterator rend() const { return const_reverse_iterator(begin()); }
  T& operator[](size_t i) { return data()[i]; }
  const T& operator[](size_t i) const { return data()[i]; }
  T& back() { return data()[size_ - 1]; }
  const T& back() const { return data()[size_ - 1]; }
  T& front() { return data()[0]; }
  const T& front() const { return data()[0]; }

  void reserve(size_t n) {
    if (n <= capacity()) return;
    T* p = static_cast<T*>(std::malloc(n * sizeof(T)));
    if (!p) throw std::bad_alloc();
    if (size_) std::memcpy(static_cast<void*>(p), data(), size_ * sizeof(T));
    std::free(heap_);
    heap_ = p;
    heap_capacity_ = n;
  }
  void push_back(const T& v) {
    if (size_ == capacity()) {
      const T copy = v;  // v may live inside this vector
      reserve(std::max<size_t>(2 * capacity(), N + 1));
      data()[size_++] = copy;
      return;
    }
    data()[size_++] = v;
  }
  template <class... Args>
  T& emplace_back(Args&&... args) {
    push_back(T{std::forward<Args>(args)...});
    return back();
  }
  void pop_back() { --size_; }
  void clear() { size_ = 0; }
  void resize(size_t n, const T& value = T()) {
    reserve(n);
    for (size_t i = size_; i < n; ++i) data()[i] = value;
    size_ = n;
  }
  T* insert(const T* pos, const T& value) {
    const size_t i = size_t(pos - data());
    const T copy = value;
    push_back(copy);
    std::rotate(data() + i, data() + size_ - 1, data() + size_);
    return data() + i;
  }
  T* erase(const T* pos) {
    const size_t i = size_t(pos - data());
    std::copy(data() + i + 1, data() + size_, data() + i);
    --size_;
    return data() + i;
  }
  std::vector<T> vec() const { return std::vector<T>(begin(), end()); }

  friend bool operator==(const SmallVector& a, const SmallVector& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend bool operator==(const SmallVector& a, const std::vector<T>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend std::ostream& operator<<(std::ostream& os, const SmallVector& v) {
    os << '[';
    for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
    return os << ']';
  }

 private:
  size_t capacity() const { return heap_ ? heap_capacity_ : N; }
  T* inline_data() { return reinterpret_cast<T*>(inline_); }
  const T* inline_data() const { return reinterpret_cast<const T*>(inline_); }
  void assign_range(const T* src, size_t n) {
    reserve(n);
    if (n) std::memcpy(static_cast<void*>(data()), src, n * sizeof(T));
    size_ = n;
  }
  // Inline to inline copies the whole fixed-size buffer: a few register moves, no memcpy call.
  void copy_from(const SmallVector& other) {
    if (!heap_ && !other.heap_) {
      std::memcpy(static_cast<void*>(inline_), other.inline_, sizeof(inline_));
      size_ = other.size_;
      return;
    }
    assign_range(other.data(), other.size());
  }
  void assign_fill(size_t n, const T& value) {
    reserve(n);
    std::fill(data(), data() + n, value);
    size_ = n;
  }
  void release() {
    std::free(heap_);
    heap_ = nullptr;
    size_ = 0;
  }
  void steal(SmallVector& other) {
    if (other.heap_) {
      heap_ = other.heap_;
      heap_capacity_ = other.heap_capacity_;
      size_ = other.size_;
      other.heap_ = nullptr;
      other.size_ = 0;
    } else {
      copy_from(other);
      other.size_ = 0;
    }
  }

  T* heap_ = nullptr;
  size_t heap_capacity_ = 0;
  size_t size_ = 0;
  alignas(T) unsigned char inline_[N * sizeof(T)];
};

}  // namespace ember
