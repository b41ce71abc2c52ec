// RUN: RNNC_VERIFY_DIAG

func.func @wrong_add(%a: tensor<4x!fxp.fixed<8, 4>>, %b: tensor<4x!fxp.fixed<8, 6>>) {
  %s = fxp.add %a, %b : (tensor<4x!fxp.fixed<8, 4>>, tensor<4x!fxp.fixed<8, 6>>) -> tensor<4x!fxp.fixed<9, 6>>
  func.return
}
// CHECK: fxp.add: result format fixed<9,6> is not the exact format fixed<11,6>

// -----

func.func @wrong_mul(%a: tensor<4x!fxp.fixed<8, 4>>, %b: tensor<4x!fxp.fixed<8, 6>>) {
  %s = fxp.mul %a, %b : (tensor<4x!fxp.fixed<8, 4>>, tensor<4x!fxp.fixed<8, 6>>) -> tensor<4x!fxp.fixed<15, 10>>
  func.return
}
// CHECK: fxp.mul: result format fixed<15,10> is not the exact format fixed<16,10>

// -----

func.func @wrong_matmul(%a: tensor<2x5x!fxp.fixed<8, 4>>, %b: tensor<5x3x!fxp.fixed<8, 6>>) {
  %s = fxp.matmul %a, %b : (tensor<2x5x!fxp.fixed<8, 4>>, tensor<5x3x!fxp.fixed<8, 6>>) -> tensor<2x3x!fxp.fixed<16, 10>>
  func.return
}
// CHECK: fxp.matmul: result format fixed<16,10> is not the exact format fixed<19,10>

// -----

func.func @raw_out_of_range() {
  %w = fxp.constant dense<[1, 200]> : tensor<2xi64> -> tensor<2x!fxp.fixed<8, 7>>
  func.return
}
// CHECK: fxp.constant: raw values outside the range of fixed<8,7>

// -----

func.func @zero_width(%a: tensor<4x!fxp.fixed<0, 0>>) {
  func.return
}
// CHECK: fxp.fixed width must be in [1, 256], got 0

// -----

func.func @bad_pwl(%a: tensor<4x!fxp.fixed<8, 4>>) {
  %p = fxp.pwl %a {breakpoints = array<i64: 5, -5>, slopes = array<i64: 0, 1, 0>, intercepts = array<i64: 0, 0, 0>, slope_frac = 0 : i64} : tensor<4x!fxp.fixed<8, 4>> -> tensor<4x!fxp.fixed<8, 4>>
  func.return
}
// CHECK: fxp.pwl: breakpoints must be increasing
