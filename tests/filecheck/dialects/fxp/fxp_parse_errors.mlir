// RUN: rnnc-opt %s --split-input-file --parsing-diagnostics | filecheck %s

// Modes are enums: an unknown one is a syntax error, at the attribute dictionary.

func.func @bad_rounding(%a: tensor<4x!fxp.fixed<8, 4>>) {
  %s = fxp.cast %a {rounding = "nearest"} : tensor<4x!fxp.fixed<8, 4>> -> tensor<4x!fxp.fixed<4, 2>>
  func.return
}
// CHECK: fxp.cast: unknown rounding mode 'nearest', expected one of floor, half-up, half-even

// -----

func.func @bad_overflow(%x: tensor<4xf32>) {
  %q = fxp.quantize %x {overflow = "clamp"} : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 4>>
  func.return
}
// CHECK: fxp.quantize: unknown overflow mode 'clamp', expected one of wrap, saturate

// -----

func.func @bad_symmetry(%a: tensor<4x!fxp.fixed<8, 4>>) {
  %l = fxp.lut %a {table = dense<[1, 2]> : tensor<2xi64>, shift = 0 : i64, symmetry = "even"} : tensor<4x!fxp.fixed<8, 4>> -> tensor<4x!fxp.fixed<8, 7>>
  func.return
}
// CHECK: fxp.lut: unknown symmetry 'even'
