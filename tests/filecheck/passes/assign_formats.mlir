// RUN: rnnc-opt %s -p 'assign-formats{weight-bits=8 activation-bits=8 preactivation-bits=8 state-bits=8 output-bits=10 input-bits=8}' | filecheck %s
// RUN: rnnc-opt %s -p 'assign-formats{weight-bits=8 guard-bits=1 range="bound"}' | filecheck %s --check-prefix=GUARD

// Ranges as range-analysis would leave them. W bits come from the class of each
// value, integer bits from its range: F = W - I.
func.func @main(%x: tensor<3x1x2xf32> {onnx.name = "x", calib = [array<f64: -1.0, 1.0>], bound = [array<f64: -1.0, 1.0>]}) -> tensor<1x2xf32> {
  %w = rnn.constant dense<[[0.5, -0.25], [1.5, 0.75]]> : tensor<2x2xf32> {calib = [array<f64: -0.25, 1.5>], bound = [array<f64: -0.25, 1.5>]}
  %b = rnn.constant dense<[0.1, -0.1]> : tensor<2xf32> {calib = [array<f64: -0.1, 0.1>], bound = [array<f64: -0.1, 0.1>]}
  %h0 = rnn.constant dense<0.0> : tensor<1x2xf32> {calib = [array<f64: 0.0, 0.0>], bound = [array<f64: 0.0, 0.0>]}
  %h, %ys = rnn.recurrence seqs(%x : tensor<3x1x2xf32>) inits(%h0 : tensor<1x2xf32>) {calib = [array<f64: -1.9, 1.9>, array<f64: -1.9, 1.9>], bound = [array<f64: -3.0, 3.0>, array<f64: -3.0, 3.0>]} -> tensor<1x2xf32>, tensor<3x1x2xf32> {
  ^bb0(%xt: tensor<1x2xf32>, %hp: tensor<1x2xf32>):
    %z = rnn.matmul %xt, %w {calib = [array<f64: -2.0, 2.0>], bound = [array<f64: -2.25, 2.25>]} : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
    %zb = rnn.add %z, %b {calib = [array<f64: -2.1, 2.1>], bound = [array<f64: -2.35, 2.35>]} : (tensor<1x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
    %a = rnn.lut "Tanh" %zb {log2_range = 2 : i64, log2_entries = 4 : i64, calib = [array<f64: -0.97, 0.97>], bound = [array<f64: -0.99, 0.99>]} : tensor<1x2xf32>
    %hn = rnn.add %a, %hp {calib = [array<f64: -1.9, 1.9>], bound = [array<f64: -3.0, 3.0>]} : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
    rnn.yield %hn, %hn : tensor<1x2xf32>, tensor<1x2xf32>
  }
  %o = rnn.mul %h, %h {calib = [array<f64: 0.0, 3.61>], bound = [array<f64: 0.0, 9.0>]} : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
  func.return %o : tensor<1x2xf32>
}

// CHECK:      func.func @main(%x: tensor<3x1x2xf32> {{{.*}}format = [!fxp.fixed<8, 6>]})
// CHECK-NEXT:   %w = rnn.constant {{.*}}format = [!fxp.fixed<8, 6>], qclass = "weight"}
// CHECK-NEXT:   %b = rnn.constant {{.*}}format = [!fxp.fixed<16, 18>], qclass = "bias"}
// CHECK-NEXT:   %h0 = rnn.constant {{.*}}format = [!fxp.fixed<8, 7>], qclass = "state"}
// CHECK-NEXT:   %h, %ys = rnn.recurrence {{.*}}state_formats = [!fxp.fixed<8, 6>]}
// CHECK:          %z = rnn.matmul {{.*}}format = [!fxp.fixed<32, 29>], qclass = "accumulator"}
// CHECK-NEXT:     %zb = rnn.add {{.*}}format = [!fxp.fixed<8, 5>], qclass = "preactivation"}
// CHECK-NEXT:     %a = rnn.lut "Tanh" %zb {{.*}}format = [!fxp.fixed<8, 7>], qclass = "activation"
// CHECK-NEXT:     %hn = rnn.add {{.*}}format = [!fxp.fixed<8, 6>], qclass = "state"}
// CHECK:        %o = rnn.mul {{.*}}format = [!fxp.fixed<10, 7>], qclass = "output"}

// With the static bounds and one guard bit: %zb in [-2.35, 2.35] needs 3 integer
// bits, plus one guard bit, in the default 16: F = 12. The state, bounded by [-3, 3],
// gets 3 + 1 integer bits.
// GUARD:        %h, %ys = rnn.recurrence {{.*}}state_formats = [!fxp.fixed<16, 12>]}
// GUARD:          %zb = rnn.add {{.*}}format = [!fxp.fixed<16, 12>], qclass = "preactivation"}
