// RUN: RNNC_ROUNDTRIP
// RUN: RNNC_GENERIC_ROUNDTRIP

func.func @ops(%x: tensor<2x3xf32>, %m: tensor<2x1xi1>) -> tensor<2x4xf32> {
  %q = fxp.quantize %x {rounding = "half-up", overflow = "wrap"} : tensor<2x3xf32> -> tensor<2x3x!fxp.fixed<8, 6>>
  %w = fxp.constant dense<[[1, 2, 3, 4], [5, 6, 7, 8], [-1, -2, -3, -128]]> : tensor<3x4xi64> -> tensor<3x4x!fxp.fixed<8, 7>>
  %mm = fxp.matmul %q, %w : (tensor<2x3x!fxp.fixed<8, 6>>, tensor<3x4x!fxp.fixed<8, 7>>) -> tensor<2x4x!fxp.fixed<18, 13>>
  %c = fxp.cast %mm {rounding = "floor", overflow = "wrap"} : tensor<2x4x!fxp.fixed<18, 13>> -> tensor<2x4x!fxp.fixed<12, -2>>
  %s = fxp.add %c, %c : (tensor<2x4x!fxp.fixed<12, -2>>, tensor<2x4x!fxp.fixed<12, -2>>) -> tensor<2x4x!fxp.fixed<13, -2>>
  %d = fxp.sub %s, %c : (tensor<2x4x!fxp.fixed<13, -2>>, tensor<2x4x!fxp.fixed<12, -2>>) -> tensor<2x4x!fxp.fixed<14, -2>>
  %p = fxp.mul %d, %d : (tensor<2x4x!fxp.fixed<14, -2>>, tensor<2x4x!fxp.fixed<14, -2>>) -> tensor<2x4x!fxp.fixed<28, -4>>
  %l = fxp.lut %s {table = dense<[1, 2, 3]> : tensor<3xi64>, shift = 2 : i64, symmetry = "odd"} : tensor<2x4x!fxp.fixed<13, -2>> -> tensor<2x4x!fxp.fixed<8, 7>>
  %pw = fxp.pwl %l {breakpoints = array<i64: -10, 10>, slopes = array<i64: 0, 64, 0>, intercepts = array<i64: -128, 0, 127>, slope_frac = 6 : i64} : tensor<2x4x!fxp.fixed<8, 7>> -> tensor<2x4x!fxp.fixed<8, 7>>
  %sel = rnn.select %m, %pw, %l : (tensor<2x1xi1>, tensor<2x4x!fxp.fixed<8, 7>>, tensor<2x4x!fxp.fixed<8, 7>>) -> tensor<2x4x!fxp.fixed<8, 7>>
  %cl = fxp.clip %sel {min = -64 : i64, max = 64 : i64} : tensor<2x4x!fxp.fixed<8, 7>>
  %o = fxp.dequantize %cl : tensor<2x4x!fxp.fixed<8, 7>> -> tensor<2x4xf32>
  func.return %o : tensor<2x4xf32>
}

// CHECK-LABEL: func.func @ops
// CHECK-NEXT:    %q = fxp.quantize %x {rounding = "half-up", overflow = "wrap"} : tensor<2x3xf32> -> tensor<2x3x!fxp.fixed<8, 6>>
// CHECK-NEXT:    %w = fxp.constant dense<{{\[}}[1, 2, 3, 4], [5, 6, 7, 8], [-1, -2, -3, -128]]> : tensor<3x4xi64> -> tensor<3x4x!fxp.fixed<8, 7>>
// CHECK-NEXT:    %mm = fxp.matmul %q, %w : (tensor<2x3x!fxp.fixed<8, 6>>, tensor<3x4x!fxp.fixed<8, 7>>) -> tensor<2x4x!fxp.fixed<18, 13>>
// CHECK-NEXT:    %c = fxp.cast %mm {rounding = "floor", overflow = "wrap"} : tensor<2x4x!fxp.fixed<18, 13>> -> tensor<2x4x!fxp.fixed<12, -2>>
// CHECK-NEXT:    %s = fxp.add %c, %c
// CHECK-NEXT:    %d = fxp.sub %s, %c
// CHECK-NEXT:    %p = fxp.mul %d, %d : (tensor<2x4x!fxp.fixed<14, -2>>, tensor<2x4x!fxp.fixed<14, -2>>) -> tensor<2x4x!fxp.fixed<28, -4>>
// CHECK-NEXT:    %l = fxp.lut %s {table = dense<[1, 2, 3]> : tensor<3xi64>, shift = 2 : i64, symmetry = "odd"}
// CHECK-NEXT:    %pw = fxp.pwl %l {breakpoints = array<i64: -10, 10>, slopes = array<i64: 0, 64, 0>, intercepts = array<i64: -128, 0, 127>, slope_frac = 6 : i64}
// CHECK-NEXT:    %sel = rnn.select %m, %pw, %l
// CHECK-NEXT:    %cl = fxp.clip %sel {min = -64 : i64, max = 64 : i64} : tensor<2x4x!fxp.fixed<8, 7>>
// CHECK-NEXT:    %o = fxp.dequantize %cl : tensor<2x4x!fxp.fixed<8, 7>> -> tensor<2x4xf32>
