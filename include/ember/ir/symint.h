// SymInt: a tensor dimension that is either a known integer or an expression over symbols (s0,
// s1, ...) that stand for sizes known only at run time. Expressions are polynomials with integer
// coefficients, kept in a canonical form, so equal expressions compare equal; that is all the
// arithmetic reshape, flatten and broadcasting need (products, sums, exact division).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "ember/runtime/error.h"
#include "ember/runtime/shape.h"

namespace ember::ir {

class SymInt {
 public:
  // A monomial: the product of the symbols listed (sorted, repeated for powers) times coeff.
  struct Term {
    int64_t coeff;
    std::vector<int> symbols;
  };

  SymInt() = default;
  SymInt(int64_t value) : value_(value) {}  // NOLINT: integers are SymInts
  static SymInt symbol(int id);

  bool is_constant() const { return terms_ == nullptr; }
  // The value of a constant SymInt (InternalError for a symbolic one).
  int64_t value() const;
  std::optional<int64_t> maybe_value() const {
    return is_constant() ? std::optional<int64_t>(value_) : std::nullopt;
  }
  // The symbols it mentions.
  std::vector<int> symbols() const;
  // Its value with each symbol s_i bound to bindings[i].
  int64_t evaluate(const std::vector<int64_t>& bindings) const;

  friend SymInt operator+(const SymInt& a, const SymInt& b);
  friend SymInt operator-(const SymInt& a, const SymInt& b);
  friend SymInt operator*(const SymInt& a, const SymInt& b);
  // Exact division; nullopt when b does not divide a as polynomials.
  static std::optional<SymInt> divide(const SymInt& a, const SymInt& b);
  friend bool operator==(const SymInt& a, const SymInt& b);
  friend bool operator!=(const SymInt& a, const SymInt& b) { return !(a == b); }

  std::string str() const;
  friend std::ostream& operator<<(std::ostream& os, const SymInt& s) { return os << s.str(); }
  size_t hash() const;

  // The polynomial's terms (a constant c is one term {c, {}}; zero has none), and the SymInt of
  // any list of terms (brought to canonical form): what serialized plans store.
  std::vector<Term> terms() const;
  static SymInt from_terms(std::vector<Term> terms);

 private:
  int64_t value_ = 0;
  std::shared_ptr<const std::vector<Term>> terms_;  // null for a constant
};

using SymShape = std::vector<SymInt>;

std::string shape_text(const SymShape& shape);  // "[s0, 784]"
int64_t numel_if_static(const SymShape& shape, int64_t fallback = -1);
SymInt sym_numel(const SymShape& shape);
bool is_static(const SymShape& shape);
SymShape sym_shape(IntArrayRef sizes);
// The sizes of a shape with each symbol s_i bound to bindings[i] (none needed for a static one).
Shape evaluate_shape(const SymShape& shape, const std::vector<int64_t>& bindings = {});

// The simplest polynomial of the symbols that takes values[r] with the symbols bound to
// points[r], for every r: a constant when the values agree, else in this order of preference a
// monomial of degree 1 to 3 (s1, s0*s1), a multiple of one (4*s0), one plus a constant (s0 - 1),
// then a*m + c; nullopt when none fits. What decides a traced size from the sizes seen at several
// sets of symbol sizes: with two points a*m + c fits almost anything, so a third point must check
// the answer.
std::optional<SymInt> fit_polynomial(const std::vector<std::vector<int64_t>>& points,
                                     const std::vector<int64_t>& values);

}  // namespace ember::ir
