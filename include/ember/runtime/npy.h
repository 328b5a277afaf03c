// NumPy's .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html):
// a magic string, a version, a Python dict literal header ('descr', 'fortran_order', 'shape'),
// then the data. Versions 1 and 2 are read, version 1 written; little-endian bool, int8/32/64,
// uint8 and float16/32/64. Reading checks the header and that the data's size equals the
// shape's before anything is allocated. Plain bytes in and out, so that tools built on the
// exported-model runtime (ember-run) read and write the format without the tensor library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ember/runtime/dtype.h"

namespace ember {

struct NpyArray {
  DType dtype = DType::Float32;
  std::vector<int64_t> sizes;
  std::string data;  // C order (a Fortran-order file is transposed when read)
};

// ValueError naming the file and the problem for a malformed or unsupported file. `who` starts
// every message (the caller's name: "load_npy", "ember-run").
NpyArray read_npy(const std::string& path, const char* who = "read_npy");
// data: numel(sizes) contiguous elements of dtype. DTypeError for bfloat16 (NumPy has none).
void write_npy(const std::string& path, DType dtype, const std::vector<int64_t>& sizes,
               const void* data, const char* who = "write_npy");

}  // namespace ember
