// Checkpoints as safetensors files (https://github.com/huggingface/safetensors's format): an
// 8-byte little-endian header length, a JSON header mapping each name to its dtype ("F32",
// "BF16", "I64", ...), shape and [begin, end) byte offsets into the data that follows, and the
// data, little-endian and row-major. What Ember writes, Python's safetensors reads, and the other
// way round. Loading checks everything before touching data: the header length against the file,
// the JSON, every dtype name, that each shape's bytes equal its offsets' span, and that the
// tensors tile the data exactly (no overlap, no hole); it never executes anything.
#pragma once

#include <map>
#include <string>

#include "ember/frontend/tensor.h"

namespace ember {

namespace nn {
class Module;
}

// Writes tensors (any layout; stored contiguous) under their names, with optional string
// metadata ("__metadata__"). Error on an undefined or traced tensor, or a write failure.
void save_safetensors(const std::map<std::string, Tensor>& tensors, const std::string& path,
                      const std::map<std::string, std::string>& metadata = {});
// Reads every tensor of a safetensors file (ValueError naming the problem for a malformed one).
std::map<std::string, Tensor> load_safetensors(
    const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

// NumPy's .npy format (versions 1 and 2 read, version 1 written): one tensor, little-endian,
// C order (a Fortran-order file is read and transposed). bfloat16 has no NumPy dtype: Error.
void save_npy(const Tensor& tensor, const std::string& path);
Tensor load_npy(const std::string& path);

// A module's parameters and buffers by their dotted names.
void save(const nn::Module& module, const std::string& path);
// Copies a file's tensors into the module's parameters and buffers of the same names (in
// place, without recording); ValueError when a name is missing on either side or a shape or
// dtype differs.
void load(nn::Module& module, const std::string& path);

}  // namespace ember
