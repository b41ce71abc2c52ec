// RUN: rnnc-opt %s -p approximate-activations --split-input-file | filecheck %s
// RUN: rnnc-opt %s -p 'approximate-activations{method="pwl" pwl-segments=4}' --split-input-file | filecheck %s --check-prefix=PWL
// RUN: rnnc-opt %s -p 'approximate-activations{method="hard"}' --split-input-file | filecheck %s --check-prefix=HARD
// RUN: rnnc-opt %s -p 'approximate-activations{lut-bits=12 log2-range=4}' --split-input-file | filecheck %s --check-prefix=FINE

func.func @acts(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %s = rnn.sigmoid %x : tensor<4xf32>
  %t = rnn.tanh %x : tensor<4xf32>
  %h = rnn.activation "HardSigmoid" %x {alpha = 0.2 : f32, beta = 0.5 : f32} : tensor<4xf32>
  %r = rnn.relu %x : tensor<4xf32>
  func.return %s, %t, %h, %r : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// Tables: 2^8 entries over |x| < 8 (sigmoid) and |x| < 4 (tanh); the error against the
// exact function is measured and recorded. HardSigmoid is PWL already: exact.
// CHECK-LABEL: func.func @acts
// CHECK-NEXT: %s = rnn.lut "Sigmoid" %x {max_error = 0.0038{{[0-9]*}} : f64, mean_error = {{.*}} : f64, log2_range = 3 : i64, log2_entries = 8 : i64}
// CHECK-NEXT: %t = rnn.lut "Tanh" %x {max_error = 0.0076{{[0-9]*}} : f64, mean_error = {{.*}} : f64, log2_range = 2 : i64, log2_entries = 8 : i64}
// CHECK-NEXT: %h = rnn.pwl %x {max_error = {{[0-9.e-]+}} : f64, mean_error = {{[0-9.e-]+}} : f64, breakpoints = array<f64: -2.49999{{[0-9]*}}, 2.49999{{[0-9]*}}>, slopes = array<f64: 0.000000e+00, 0.20000000298023224, 0.000000e+00>, intercepts = array<f64: 0.000000e+00, 5.000000e-01, 1.000000e+00>}
// CHECK-NEXT: %r = rnn.relu %x

// PWL-LABEL:  func.func @acts
// PWL-NEXT:   %s = rnn.pwl %x {max_error = 0.141{{[0-9]*}} : f64, {{.*}}breakpoints = array<f64: -8.000000e+00, -4.000000e+00, 0.000000e+00, 4.000000e+00, 8.000000e+00>
// PWL:        %t = rnn.pwl %x {{.*}}breakpoints = array<f64: -4.000000e+00, -2.000000e+00, 0.000000e+00, 2.000000e+00, 4.000000e+00>

// HARD-LABEL: func.func @acts
// HARD-NEXT:  %s = rnn.pwl %x {max_error = 0.119{{[0-9]*}} : f64, {{.*}}breakpoints = array<f64: -2.000000e+00, 2.000000e+00>, slopes = array<f64: 0.000000e+00, 2.500000e-01, 0.000000e+00>, intercepts = array<f64: 0.000000e+00, 5.000000e-01, 1.000000e+00>}
// HARD-NEXT:  %t = rnn.pwl %x {max_error = 0.238{{[0-9]*}} : f64, {{.*}}breakpoints = array<f64: -1.000000e+00, 1.000000e+00>, slopes = array<f64: 0.000000e+00, 1.000000e+00, 0.000000e+00>, intercepts = array<f64: -1.000000e+00, 0.000000e+00, 1.000000e+00>}

// A finer, wider table: 2^12 entries over |x| < 16.
// FINE-LABEL: func.func @acts
// FINE-NEXT:  %s = rnn.lut "Sigmoid" %x {max_error = 0.000{{[0-9]*}} : f64, {{.*}}log2_range = 4 : i64, log2_entries = 12 : i64}

// -----

// The other ONNX activations: tables of the exact function (Softsign, ScaledTanh
// with its alpha and beta kept), and LeakyRelu as its exact two-piece PWL. With
// method="pwl", chords between the breakpoints: softsign(4) / 4 = 0.2 on [0, 4],
// (8/9 - 4/5) / 4 = 0.0222 on [4, 8]. method="hard" has no hard form for them:
// tables again.
func.func @other_kinds(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %ss = rnn.activation "Softsign" %x : tensor<4xf32>
  %lr = rnn.activation "LeakyRelu" %x {alpha = 0.125 : f32} : tensor<4xf32>
  %st = rnn.activation "ScaledTanh" %x {alpha = 2.0 : f32, beta = 0.5 : f32} : tensor<4xf32>
  func.return %ss, %lr, %st : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// CHECK-LABEL: func.func @other_kinds
// CHECK-NEXT:    %ss = rnn.lut "Softsign" %x {{{.*}}log2_range = 3 : i64, log2_entries = 8 : i64}
// CHECK-NEXT:    %lr = rnn.pwl %x {max_error = 0.000000e+00 : f64, mean_error = 0.000000e+00 : f64, breakpoints = array<f64: 0.000000e+00>, slopes = array<f64: 1.250000e-01, 1.000000e+00>, intercepts = array<f64: 0.000000e+00, 0.000000e+00>}
// CHECK-NEXT:    %st = rnn.lut "ScaledTanh" %x {{{.*}}alpha = 2.000000e+00 : f32, beta = 5.000000e-01 : f32}

// PWL-LABEL:   func.func @other_kinds
// PWL-NEXT:      %ss = rnn.pwl %x {{{.*}}breakpoints = array<f64: -8.000000e+00, -4.000000e+00, 0.000000e+00, 4.000000e+00, 8.000000e+00>, slopes = array<f64: 0.000000e+00, 0.0222222{{[0-9]*}}, 2.000000e-01, 2.000000e-01, 0.0222222{{[0-9]*}}, 0.000000e+00>
// PWL-NEXT:      %lr = rnn.pwl %x {max_error = 0.000000e+00 : f64

// HARD-LABEL:  func.func @other_kinds
// HARD-NEXT:     %ss = rnn.lut "Softsign"
// HARD-NEXT:     %lr = rnn.pwl
// HARD-NEXT:     %st = rnn.lut "ScaledTanh"

// -----

// Activations inside a recurrence body are replaced too.
func.func @in_body(%x: tensor<3x1x2xf32>) -> tensor<1x2xf32> {
  %h0 = rnn.constant dense<0.0> : tensor<1x2xf32>
  %h = rnn.recurrence seqs(%x : tensor<3x1x2xf32>) inits(%h0 : tensor<1x2xf32>) -> tensor<1x2xf32> {
  ^bb0(%xt: tensor<1x2xf32>, %hp: tensor<1x2xf32>):
    %z = rnn.add %xt, %hp : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
    %hn = rnn.tanh %z : tensor<1x2xf32>
    rnn.yield %hn : tensor<1x2xf32>
  }
  func.return %h : tensor<1x2xf32>
}

// CHECK-LABEL: func.func @in_body
// CHECK:         %hn = rnn.lut "Tanh" %z {{{.*}}log2_range = 2 : i64, log2_entries = 8 : i64}
// CHECK-NEXT:    rnn.yield %hn
// HARD-LABEL:  func.func @in_body
// HARD:          %hn = rnn.pwl %z {{{.*}}breakpoints = array<f64: -1.000000e+00, 1.000000e+00>, slopes = array<f64: 0.000000e+00, 1.000000e+00, 0.000000e+00>, intercepts = array<f64: -1.000000e+00, 0.000000e+00, 1.000000e+00>}
