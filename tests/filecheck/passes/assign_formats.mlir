// RUN: rnnc-opt %s -p 'assign-formats{weight-bits=8 activation-bits=8 preactivation-bits=8 state-bits=8 output-bits=10 input-bits=8}' --split-input-file | filecheck %s
// RUN: python -c "open('%t.toml', 'w').write('[bits]\nweight = 8\n[overrides]\nz = 12\nw = \"6,5\"\n')"
// RUN: rnnc-opt %s -p 'assign-formats{config="%t.toml" activation-bits=10}' --split-input-file | filecheck %s --check-prefix=OVR
// RUN: not rnnc-opt %s -p 'assign-formats{range="percentile"}' 2>&1 | filecheck %s --check-prefix=NOABS
// RUN: rnnc-opt %s -p 'assign-formats{weight-bits=8 guard-bits=1 range="bound"}' --split-input-file | filecheck %s --check-prefix=GUARD

// Ranges as range-analysis would leave them. W bits come from the class of each
// value, integer bits from its range: F = W - I.
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

// CHECK-LABEL: func.func @main(%x: tensor<3x1x2xf32> {{{.*}}rnnc.format = [!fxp.fixed<8, 6>]})
// CHECK-NEXT:   %w = rnn.constant {{.*}}rnnc.format = [!fxp.fixed<8, 6>], rnnc.qclass = "weight"}
// CHECK-NEXT:   %b = rnn.constant {{.*}}rnnc.format = [!fxp.fixed<16, 18>], rnnc.qclass = "bias"}
// CHECK-NEXT:   %h0 = rnn.constant {{.*}}rnnc.format = [!fxp.fixed<8, 7>], rnnc.qclass = "state"}
// CHECK-NEXT:   %h, %ys = rnn.recurrence {{.*}}state_formats = [!fxp.fixed<8, 6>]}
// CHECK:          %z = rnn.matmul {{.*}}rnnc.format = [!fxp.fixed<32, 29>], rnnc.qclass = "accumulator"}
// CHECK-NEXT:     %zb = rnn.add {{.*}}rnnc.format = [!fxp.fixed<8, 5>], rnnc.qclass = "preactivation"}
// CHECK-NEXT:     %a = rnn.lut "Tanh" %zb {{.*}}rnnc.format = [!fxp.fixed<8, 7>], rnnc.qclass = "activation"
// CHECK-NEXT:     %hn = rnn.add {{.*}}rnnc.format = [!fxp.fixed<8, 6>], rnnc.qclass = "state"}
// CHECK:        %o = rnn.mul {{.*}}rnnc.format = [!fxp.fixed<10, 7>], rnnc.qclass = "output"}

// With the static bounds and one guard bit: %zb in [-2.35, 2.35] needs 3 integer
// bits, plus one guard bit, in the default 16: F = 12. The state, bounded by [-3, 3],
// gets 3 + 1 integer bits.
// GUARD-LABEL:  func.func @main
// GUARD:        %h, %ys = rnn.recurrence {{.*}}state_formats = [!fxp.fixed<16, 12>]}
// GUARD:          %zb = rnn.add {{.*}}rnnc.format = [!fxp.fixed<16, 12>], rnnc.qclass = "preactivation"}

// range="percentile" clips the measured range to the percentile of |x|, which only
// measuring on calibration data gives.
// NOABS: error: no percentile of |x| for %w: measure ranges on calibration data first

// -----

// Overrides by SSA name from a config file: a width for %z (F from its range
// [-2, 2]: 3 integer bits), "W,F" for %w. The last op before the return is an
// output (16 bits by default), not an activation.
func.func @overrides(%x: tensor<1x2xf32> {rnnc.calib = [array<f64: -1.0, 1.0>], rnnc.bound = [array<f64: -1.0, 1.0>]}) -> tensor<1x2xf32> {
  %w = rnn.constant dense<[[0.5, -0.25], [1.5, 0.75]]> : tensor<2x2xf32> {rnnc.calib = [array<f64: -0.25, 1.5>], rnnc.bound = [array<f64: -0.25, 1.5>]}
  %z = rnn.matmul %x, %w {rnnc.calib = [array<f64: -2.0, 2.0>], rnnc.bound = [array<f64: -2.25, 2.25>]} : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  %a = rnn.tanh %z {rnnc.calib = [array<f64: -0.97, 0.97>], rnnc.bound = [array<f64: -0.98, 0.98>]} : tensor<1x2xf32>
  func.return %a : tensor<1x2xf32>
}

// OVR-LABEL: func.func @overrides(%x: tensor<1x2xf32> {{{.*}}rnnc.format = [!fxp.fixed<16, 14>]})
// OVR-NEXT:    %w = rnn.constant {{.*}}rnnc.format = [!fxp.fixed<6, 5>], rnnc.qclass = "weight"}
// OVR-NEXT:    %z = rnn.matmul {{.*}}rnnc.format = [!fxp.fixed<12, 9>], rnnc.qclass = "accumulator"}
// OVR-NEXT:    %a = rnn.tanh {{.*}}rnnc.format = [!fxp.fixed<16, 15>], rnnc.qclass = "output"}

// The per-class widths of the first RUN line: weight 8, accumulator 32 (default),
// output 10.
// CHECK-LABEL: func.func @overrides(%x: tensor<1x2xf32> {{{.*}}rnnc.format = [!fxp.fixed<8, 6>]})
// CHECK-NEXT:    %w = rnn.constant {{.*}}rnnc.format = [!fxp.fixed<8, 6>], rnnc.qclass = "weight"}
// CHECK-NEXT:    %z = rnn.matmul {{.*}}rnnc.format = [!fxp.fixed<32, 29>], rnnc.qclass = "accumulator"}
// CHECK-NEXT:    %a = rnn.tanh {{.*}}rnnc.format = [!fxp.fixed<10, 9>], rnnc.qclass = "output"}
