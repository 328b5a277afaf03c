# lit configuration for Ember's golden IR tests: each .ir file holds RUN lines (ember-opt piped
# into FileCheck) and the CHECK lines of its expected output.
import lit.formats

config.name = "Ember"
config.test_format = lit.formats.ShTest(True)
config.suffixes = [".ir"]
config.test_source_root = config.ember_test_source
config.test_exec_root = config.ember_test_exec
config.substitutions.append(("ember-opt", config.ember_opt))
config.substitutions.append(("FileCheck", config.filecheck))
config.substitutions.append(("not ", config.not_tool + " "))
# mlir-opt-19 (mlir-19-tools) verifies what --emit-mlir writes; tests that need it say
# REQUIRES: mlir-opt.
if config.mlir_opt:
    config.available_features.add("mlir-opt")
    config.substitutions.append(("mlir-opt", config.mlir_opt))
