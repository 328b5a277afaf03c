// EMBER_OPTION(Class, Type, name): a LibTorch-style option, the field name_ and a chainable
// setter name(v) returning Class&, for the option structs of nn and optim.
#pragma once

#define EMBER_OPTION(Class, Type, name) \
  Class& name(Type v) {                 \
    name##_ = v;                        \
    return *this;                       \
  }                                     \
  Type name##_
