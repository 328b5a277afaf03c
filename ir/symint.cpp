#include "ember/ir/symint.h"

#include <algorithm>
#include <sstream>

#include "ember/runtime/checked.h"

namespace ember::ir {
namespace {

bool term_less(const SymInt::Term& a, const SymInt::Term& b) {
  if (a.symbols.size() != b.symbols.size()) return a.symbols.size() > b.symbols.size();
  return a.symbols < b.symbols;
}

}  // namespace

SymInt SymInt::symbol(int id) { return from_terms({Term{1, {id}}}); }

std::vector<SymInt::Term> SymInt::terms() const {
  if (terms_) return *terms_;
  if (value_ == 0) return {};
  return {Term{value_, {}}};
}

// Canonical form: terms sorted (higher degree first), like terms merged, zero terms dropped; a
// polynomial with only a constant term becomes a plain integer.
SymInt SymInt::from_terms(std::vector<Term> terms) {
  for (auto& t : terms) std::sort(t.symbols.begin(), t.symbols.end());
  std::sort(terms.begin(), terms.end(), term_less);
  std::vector<Term> merged;
  for (auto& t : terms) {
    if (!merged.empty() && merged.back().symbols == t.symbols)
      merged.back().coeff = checked_add(merged.back().coeff, t.coeff, "symbolic size");
    else
      merged.push_back(std::move(t));
  }
  std::erase_if(merged, [](const Term& t) { return t.coeff == 0; });
  SymInt out;
  if (merged.empty()) return out;
  if (merged.size() == 1 && merged[0].symbols.empty()) {
    out.value_ = merged[0].coeff;
    return out;
  }
  out.terms_ = std::make_shared<const std::vector<Term>>(std::move(merged));
  return out;
}

int64_t SymInt::value() const {
  EMBER_INTERNAL_ASSERT(is_constant(), "SymInt ", str(), " is symbolic");
  return value_;
}

std::vector<int> SymInt::symbols() const {
  std::vector<int> out;
  for (const Term& t : terms())
    for (int s : t.symbols) out.push_back(s);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

int64_t SymInt::evaluate(const std::vector<int64_t>& bindings) const {
  if (is_constant()) return value_;
  int64_t total = 0;
  for (const Term& t : *terms_) {
    int64_t v = t.coeff;
    for (int s : t.symbols) {
      EMBER_CHECK(s >= 0 && size_t(s) < bindings.size(), Error, "symbol s", s, " is not bound");
      v = checked_mul(v, bindings[size_t(s)], "symbolic size");
    }
    total = checked_add(total, v, "symbolic size");
  }
  return total;
}

SymInt operator+(const SymInt& a, const SymInt& b) {
  if (a.is_constant() && b.is_constant()) return SymInt(checked_add(a.value_, b.value_, "size"));
  auto t = a.terms();
  for (auto& x : b.terms()) t.push_back(x);
  return SymInt::from_terms(std::move(t));
}

SymInt operator-(const SymInt& a, const SymInt& b) {
  if (a.is_constant() && b.is_constant()) return SymInt(checked_sub(a.value_, b.value_, "size"));
  auto t = a.terms();
  for (auto x : b.terms()) {
    x.coeff = checked_sub(0, x.coeff, "symbolic size");
    t.push_back(std::move(x));
  }
  return SymInt::from_terms(std::move(t));
}

SymInt operator*(const SymInt& a, const SymInt& b) {
  if (a.is_constant() && b.is_constant()) return SymInt(checked_mul(a.value_, b.value_, "size"));
  std::vector<SymInt::Term> t;
  for (const auto& x : a.terms())
    for (const auto& y : b.terms()) {
      SymInt::Term p{checked_mul(x.coeff, y.coeff, "symbolic size"), x.symbols};
      p.symbols.insert(p.symbols.end(), y.symbols.begin(), y.symbols.end());
      t.push_back(std::move(p));
    }
  return SymInt::from_terms(std::move(t));
}

std::optional<SymInt> SymInt::divide(const SymInt& a, const SymInt& b) {
  if (b.is_constant()) {
    if (b.value_ == 0) return std::nullopt;
    if (b.value_ == -1) return SymInt(0) - a;  // checked: -INT64_MIN does not exist
    if (a.is_constant()) {
      if (a.value_ % b.value_) return std::nullopt;
      return SymInt(a.value_ / b.value_);
    }
  }
  if (a == b) return SymInt(1);
  // Division by a monomial: every term of a must contain b's symbols and a multiple of its
  // coefficient.
  const auto bt = b.terms();
  if (bt.size() != 1 || bt[0].coeff == -1) return std::nullopt;
  std::vector<Term> out;
  for (Term t : a.terms()) {
    if (t.coeff % bt[0].coeff) return std::nullopt;
    t.coeff /= bt[0].coeff;
    for (int s : bt[0].symbols) {
      auto it = std::find(t.symbols.begin(), t.symbols.end(), s);
      if (it == t.symbols.end()) return std::nullopt;
      t.symbols.erase(it);
    }
    out.push_back(std::move(t));
  }
  return from_terms(std::move(out));
}

bool operator==(const SymInt& a, const SymInt& b) {
  if (a.is_constant() != b.is_constant()) return false;
  if (a.is_constant()) return a.value_ == b.value_;
  if (a.terms_ == b.terms_) return true;
  const auto& x = *a.terms_;
  const auto& y = *b.terms_;
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i].coeff != y[i].coeff || x[i].symbols != y[i].symbols) return false;
  return true;
}

std::string SymInt::str() const {
  if (is_constant()) return std::to_string(value_);
  std::ostringstream os;
  bool first = true;
  for (const Term& t : *terms_) {
    // The magnitude in unsigned arithmetic: -INT64_MIN is no int64.
    const bool negative = t.coeff < 0;
    const uint64_t magnitude = negative ? 0 - uint64_t(t.coeff) : uint64_t(t.coeff);
    if (!first)
      os << (negative ? " - " : " + ");
    else if (negative)
      os << '-';
    first = false;
    bool need_star = false;
    if (magnitude != 1 || t.symbols.empty()) {
      os << magnitude;
      need_star = true;
    }
    for (int s : t.symbols) {
      os << (need_star ? "*" : "") << 's' << s;
      need_star = true;
    }
  }
  return os.str();
}

size_t SymInt::hash() const { return std::hash<std::string>()(str()); }

std::string shape_text(const SymShape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + shape[i].str();
  return out + "]";
}

bool is_static(const SymShape& shape) {
  return std::all_of(shape.begin(), shape.end(), [](const SymInt& s) { return s.is_constant(); });
}

SymInt sym_numel(const SymShape& shape) {
  SymInt n(1);
  for (const SymInt& s : shape) n = n * s;
  return n;
}

int64_t numel_if_static(const SymShape& shape, int64_t fallback) {
  const SymInt n = sym_numel(shape);
  return n.is_constant() ? n.value() : fallback;
}

SymShape sym_shape(IntArrayRef sizes) { return SymShape(sizes.begin(), sizes.end()); }

Shape evaluate_shape(const SymShape& shape, const std::vector<int64_t>& bindings) {
  Shape out;
  for (const SymInt& d : shape) out.push_back(d.evaluate(bindings));
  return out;
}

std::optional<SymInt> fit_polynomial(const std::vector<std::vector<int64_t>>& points,
                                     const std::vector<int64_t>& values) {
  EMBER_INTERNAL_ASSERT(!values.empty() && points.size() == values.size(),
                        "fit_polynomial: ", points.size(), " points for ", values.size(),
                        " values");
  if (std::all_of(values.begin(), values.end(), [&](int64_t v) { return v == values[0]; }))
    return SymInt(values[0]);
  size_t n = points[0].size();
  for (const auto& p : points) n = std::min(n, p.size());
  // The monomials of degree 1 to 3, lowest degree first.
  std::vector<std::vector<int>> monomials;
  for (int a = 0; a < int(n); ++a) monomials.push_back({a});
  for (int a = 0; a < int(n); ++a)
    for (int b = a; b < int(n); ++b) monomials.push_back({a, b});
  for (int a = 0; a < int(n); ++a)
    for (int b = a; b < int(n); ++b)
      for (int c = b; c < int(n); ++c) monomials.push_back({a, b, c});
  __extension__ typedef __int128 Wide;  // products of two int64 sizes, exactly
  const size_t count = values.size();
  std::vector<Wide> m(count);
  auto fits = [&](Wide a, Wide c) {
    for (size_t r = 0; r < count; ++r)
      if (a * m[r] + c != Wide(values[r])) return false;
    return true;
  };
  auto make = [](const std::vector<int>& mono, Wide a, Wide c) -> std::optional<SymInt> {
    constexpr Wide kMax = INT64_MAX, kMin = INT64_MIN;
    if (a > kMax || a < kMin || c > kMax || c < kMin) return std::nullopt;
    return SymInt::from_terms({SymInt::Term{int64_t(a), mono}, SymInt::Term{int64_t(c), {}}});
  };
  for (int form = 0; form < 4; ++form) {
    for (const auto& mono : monomials) {
      bool small = true;  // products past int64 are never sizes (and would overflow Wide)
      for (size_t r = 0; r < count; ++r) {
        m[r] = 1;
        for (int s : mono) {
          m[r] *= Wide(points[r][size_t(s)]);
          small &= m[r] <= Wide(INT64_MAX) && m[r] >= -Wide(INT64_MAX);
          if (!small) break;
        }
      }
      if (!small) continue;
      const Wide v0 = values[0];
      std::optional<SymInt> found;
      switch (form) {
        case 0:  // m
          if (fits(1, 0)) found = make(mono, 1, 0);
          break;
        case 1:  // a*m
          if (m[0] != 0 && v0 % m[0] == 0 && fits(v0 / m[0], 0)) found = make(mono, v0 / m[0], 0);
          break;
        case 2:  // m + c
          if (fits(1, v0 - m[0])) found = make(mono, 1, v0 - m[0]);
          break;
        default:  // a*m + c, from the first point whose monomial differs from the first's
          for (size_t r = 1; r < count && !found; ++r) {
            if (m[r] == m[0]) continue;
            const Wide dv = Wide(values[r]) - v0, dm = m[r] - m[0];
            if (dv % dm == 0 && fits(dv / dm, v0 - dv / dm * m[0]))
              found = make(mono, dv / dm, v0 - dv / dm * m[0]);
            break;
          }
      }
      if (found) return found;
    }
  }
  return std::nullopt;
}

}  // namespace ember::ir
