// RUN: rnnc-opt %s -p 'assign-formats{weight-bits=8 activation-bits=8 preactivation-bits=8 state-bits=8 output-bits=10 input-bits=8},lower-to-fxp{rounding="floor"}' | filecheck %s
// RUN: not rnnc-opt %s -p lower-to-fxp 2>&1 | filecheck %s --check-prefix=NOFORMAT

// Every op becomes its exact fxp op, then a cast to its assigned format where they
// differ (the 17-bit exact mat-vec fits the 32-bit accumulator: no cast); constants and the activation table are quantized; the state's init is
// cast to the state format; inputs and outputs cross with quantize/dequantize.
func.func @main(%x: tensor<3x1x2xf32> {onnx.name = "x", rnnc.calib = [array<f64: -1.0, 1.0>], rnnc.bound = [array<f64: -1.0, 1.0>]}) -> tensor<1x2xf32> {
  %w = rnn.constant dense<[[0.5, -0.25], [1.5, 0.75]]> : tensor<2x2xf32> {rnnc.calib = [array<f64: -0.25, 1.5>], rnnc.bound = [array<f64: -0.25, 1.5>]}
  %b = rnn.constant dense<[0.1, -0.1]> : tensor<2xf32> {rnnc.calib = [array<f64: -0.1, 0.1>], rnnc.bound = [array<f64: -0.1, 0.1>]}
  %h0 = rnn.constant dense<0.0> : tensor<1x2xf32> {rnnc.calib = [array<f64: 0.0, 0.0>], rnnc.bound = [array<f64: 0.0, 0.0>]}
  %h, %ys = rnn.recurrence seqs(%x : tensor<3x1x2xf32>) inits(%h0 : tensor<1x2xf32>) {rnnc.calib = [array<f64: -1.9, 1.9>, array<f64: -1.9, 1.9>], rnnc.bound = [array<f64: -3.0, 3.0>, array<f64: -3.0, 3.0>]} -> tensor<1x2xf32>, tensor<3x1x2xf32> {
  ^bb0(%xt: tensor<1x2xf32>, %hp: tensor<1x2xf32>):
    %z = rnn.matmul %xt, %w {rnnc.calib = [array<f64: -2.0, 2.0>], rnnc.bound = [array<f64: -2.25, 2.25>]} : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
    %zb = rnn.add %z, %b {rnnc.calib = [array<f64: -2.1, 2.1>], rnnc.bound = [array<f64: -2.35, 2.35>]} : (tensor<1x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
    %a = rnn.lut "Tanh" %zb {log2_range = 2 : i64, log2_entries = 4 : i64, rnnc.calib = [array<f64: -0.97, 0.97>], rnnc.bound = [array<f64: -0.99, 0.99>]} : tensor<1x2xf32>
    %hn = rnn.add %a, %hp {rnnc.calib = [array<f64: -1.9, 1.9>], rnnc.bound = [array<f64: -3.0, 3.0>]} : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
    rnn.yield %hn, %hn : tensor<1x2xf32>, tensor<1x2xf32>
  }
  %o = rnn.mul %h, %h {rnnc.calib = [array<f64: 0.0, 3.61>], rnnc.bound = [array<f64: 0.0, 9.0>]} : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
  func.return %o : tensor<1x2xf32>
}

// CHECK:      %x_q = fxp.quantize %x {rounding = "floor"} : tensor<3x1x2xf32> -> tensor<3x1x2x!fxp.fixed<8, 6>>
// CHECK-NEXT: %w = fxp.constant dense<{{\[}}[32, -16], [96, 48]]> : tensor<2x2xi8> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 6>>
// CHECK-NEXT: %b = fxp.constant dense<[26214, -26214]> : tensor<2xi16> {rnnc.qclass = "bias"} -> tensor<2x!fxp.fixed<16, 18>>
// CHECK-NEXT: %h0 = fxp.constant dense<0> : tensor<1x2xi8> {rnnc.qclass = "state"} -> tensor<1x2x!fxp.fixed<8, 7>>
// CHECK-NEXT: %[[INIT:.*]] = fxp.cast %h0 {rounding = "floor"} : tensor<1x2x!fxp.fixed<8, 7>> -> tensor<1x2x!fxp.fixed<8, 6>>
// CHECK-NEXT: %h, %ys = rnn.recurrence seqs(%x_q : tensor<3x1x2x!fxp.fixed<8, 6>>) inits(%[[INIT]] : tensor<1x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<8, 6>>, tensor<3x1x2x!fxp.fixed<8, 6>> {
// CHECK-NEXT: ^bb0(%xt: tensor<1x2x!fxp.fixed<8, 6>>, %hp: tensor<1x2x!fxp.fixed<8, 6>>):
// CHECK-NEXT:   %z = fxp.matmul %xt, %w : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<2x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<17, 12>>
// CHECK-NEXT:   %[[ZB:.*]] = fxp.add %z, %b : (tensor<1x2x!fxp.fixed<17, 12>>, tensor<2x!fxp.fixed<16, 18>>) -> tensor<1x2x!fxp.fixed<24, 18>>
// CHECK-NEXT:   %zb = fxp.cast %[[ZB]] {rounding = "floor"} : tensor<1x2x!fxp.fixed<24, 18>> -> tensor<1x2x!fxp.fixed<8, 5>>
// CHECK-NEXT:   %a = fxp.lut %zb {table = dense<[16, 46, 71, 90, 104, 113, 118, 122, 124, 126, 127, 127, 127, 127, 127, 127]> : tensor<16xi64>, shift = 3 : i64, symmetry = "odd"} : tensor<1x2x!fxp.fixed<8, 5>> -> tensor<1x2x!fxp.fixed<8, 7>>
// CHECK-NEXT:   %[[HN:.*]] = fxp.add %a, %hp : (tensor<1x2x!fxp.fixed<8, 7>>, tensor<1x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<10, 7>>
// CHECK-NEXT:   %hn = fxp.cast %[[HN]] {rounding = "floor"} : tensor<1x2x!fxp.fixed<10, 7>> -> tensor<1x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:   rnn.yield %hn, %hn
// CHECK-NEXT: }
// CHECK-NEXT: %[[SQ:.*]] = fxp.mul %h, %h : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<1x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<16, 12>>
// CHECK-NEXT: %o = fxp.cast %[[SQ]] {rounding = "floor"} : tensor<1x2x!fxp.fixed<16, 12>> -> tensor<1x2x!fxp.fixed<10, 7>>
// CHECK-NEXT: %o_f = fxp.dequantize %o : tensor<1x2x!fxp.fixed<10, 7>> -> tensor<1x2xf32>
// CHECK-NEXT: func.return %o_f : tensor<1x2xf32>
// NOFORMAT:   rnnc-opt: error: rnn.constant %w has no format: run assign-formats first

