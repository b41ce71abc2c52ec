// RUN: rnnc-opt %s -p head-argmax | filecheck %s

// Each (batch, classes) output becomes the index of its largest score (the first
// on ties): an integer fixed<bits(N-1) + 1, 0>, dequantized, of shape (batch, 1).
func.func @main(%x: tensor<2x5xf32> {rnnc.format = [!fxp.fixed<8, 4>]}) -> tensor<2x5xf32> {
  %q = fxp.quantize %x : tensor<2x5xf32> -> tensor<2x5x!fxp.fixed<8, 4>>
  %y = fxp.lut %q {table = dense<[0, 1, 2, 3]> : tensor<4xi64>, shift = 4 : i64, symmetry = "none"} : tensor<2x5x!fxp.fixed<8, 4>> -> tensor<2x5x!fxp.fixed<8, 6>>
  %y_f = fxp.dequantize %y : tensor<2x5x!fxp.fixed<8, 6>> -> tensor<2x5xf32>
  func.return %y_f : tensor<2x5xf32>
}

// CHECK-LABEL: func.func @main
// CHECK-SAME:    -> tensor<2x1xf32>
// CHECK:         %y = fxp.lut
// CHECK-NEXT:    %y_class = fxp.argmax %y : tensor<2x5x!fxp.fixed<8, 6>> -> tensor<2x1x!fxp.fixed<4, 0>>
// CHECK-NEXT:    %y_class_f = fxp.dequantize %y_class : tensor<2x1x!fxp.fixed<4, 0>> -> tensor<2x1xf32>
// CHECK-NEXT:    func.return %y_class_f : tensor<2x1xf32>
