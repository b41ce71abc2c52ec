// RUN: not rnnc-opt %s -p plan-hardware 2>&1 | filecheck %s

// A product of two computed values (here the final state by its own transpose)
// has no hardware form: the mat-vec unit multiplies by constant matrices only.
func.func @main(%x: tensor<3x1x2xf32> {onnx.name = "x", rnnc.format = [!fxp.fixed<16, 14>]}) -> (tensor<1x1xf32> {onnx.name = "g"}) {
  %x_q = fxp.quantize %x : tensor<3x1x2xf32> -> tensor<3x1x2x!fxp.fixed<16, 14>>
  %Wi_T = fxp.constant dense<[[65, 13], [-82, -18]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 6>>
  %Ri_T = fxp.constant dense<[[-14, -65], [-7, -7]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 6>>
  %h0 = fxp.constant dense<0> : tensor<1x2xi64> {rnnc.qclass = "state"} -> tensor<1x2x!fxp.fixed<16, 15>>
  %h_last, %y = rnn.recurrence seqs(%x_q : tensor<3x1x2x!fxp.fixed<16, 14>>) inits(%h0 : tensor<1x2x!fxp.fixed<16, 15>>) -> tensor<1x2x!fxp.fixed<16, 15>>, tensor<3x1x2x!fxp.fixed<16, 15>> {
  ^bb0(%x_t: tensor<1x2x!fxp.fixed<16, 14>>, %h_prev: tensor<1x2x!fxp.fixed<16, 15>>):
    %0 = fxp.matmul %x_t, %Wi_T : (tensor<1x2x!fxp.fixed<16, 14>>, tensor<2x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<25, 20>>
    %2 = fxp.matmul %h_prev, %Ri_T : (tensor<1x2x!fxp.fixed<16, 15>>, tensor<2x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<25, 21>>
    %3 = fxp.add %0, %2 : (tensor<1x2x!fxp.fixed<25, 20>>, tensor<1x2x!fxp.fixed<25, 21>>) -> tensor<1x2x!fxp.fixed<27, 21>>
    %h_next = fxp.cast %3 : tensor<1x2x!fxp.fixed<27, 21>> -> tensor<1x2x!fxp.fixed<16, 15>>
    rnn.yield %h_next, %h_next : tensor<1x2x!fxp.fixed<16, 15>>, tensor<1x2x!fxp.fixed<16, 15>>
  }
  %hT = rnn.transpose %h_last {perm = array<i64: 1, 0>} : tensor<1x2x!fxp.fixed<16, 15>> -> tensor<2x1x!fxp.fixed<16, 15>>
  %g = fxp.matmul %h_last, %hT : (tensor<1x2x!fxp.fixed<16, 15>>, tensor<2x1x!fxp.fixed<16, 15>>) -> tensor<1x1x!fxp.fixed<33, 30>>
  %g_f = fxp.dequantize %g : tensor<1x1x!fxp.fixed<33, 30>> -> tensor<1x1xf32>
  func.return %g_f : tensor<1x1xf32>
}

// CHECK: rnnc-opt: error: hardware backend does not support a matrix product by a variable (%g)
