// RUN: rnnc-opt %s -p approximate-activations | filecheck %s
// RUN: rnnc-opt %s -p 'approximate-activations{method="pwl" pwl-segments=4}' | filecheck %s --check-prefix=PWL
// RUN: rnnc-opt %s -p 'approximate-activations{method="hard"}' | filecheck %s --check-prefix=HARD
// RUN: rnnc-opt %s -p 'approximate-activations{lut-bits=12 log2-range=4}' | filecheck %s --check-prefix=FINE

func.func @acts(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) {
  %s = rnn.sigmoid %x : tensor<4xf32>
  %t = rnn.tanh %x : tensor<4xf32>
  %h = rnn.activation "HardSigmoid" %x {alpha = 0.2 : f32, beta = 0.5 : f32} : tensor<4xf32>
  %r = rnn.relu %x : tensor<4xf32>
  func.return %s, %t, %h, %r : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>
}

// Tables: 2^8 entries over |x| < 8 (sigmoid) and |x| < 4 (tanh); the error against the
// exact function is measured and recorded. HardSigmoid is PWL already: exact.
// CHECK:      %s = rnn.lut "Sigmoid" %x {max_error = 0.0038{{[0-9]*}} : f64, mean_error = {{.*}} : f64, log2_range = 3 : i64, log2_entries = 8 : i64}
// CHECK-NEXT: %t = rnn.lut "Tanh" %x {max_error = 0.0076{{[0-9]*}} : f64, mean_error = {{.*}} : f64, log2_range = 2 : i64, log2_entries = 8 : i64}
// CHECK-NEXT: %h = rnn.pwl %x {max_error = {{[0-9.e-]+}} : f64, mean_error = {{[0-9.e-]+}} : f64, breakpoints = array<f64: -2.49999{{[0-9]*}}, 2.49999{{[0-9]*}}>, slopes = array<f64: 0.000000e+00, 0.20000000298023224, 0.000000e+00>, intercepts = array<f64: 0.000000e+00, 5.000000e-01, 1.000000e+00>}
// CHECK-NEXT: %r = rnn.relu %x

// PWL:        %s = rnn.pwl %x {max_error = 0.141{{[0-9]*}} : f64, {{.*}}breakpoints = array<f64: -8.000000e+00, -4.000000e+00, 0.000000e+00, 4.000000e+00, 8.000000e+00>
// PWL:        %t = rnn.pwl %x {{.*}}breakpoints = array<f64: -4.000000e+00, -2.000000e+00, 0.000000e+00, 2.000000e+00, 4.000000e+00>

// HARD:       %s = rnn.pwl %x {max_error = 0.119{{[0-9]*}} : f64, {{.*}}breakpoints = array<f64: -2.000000e+00, 2.000000e+00>, slopes = array<f64: 0.000000e+00, 2.500000e-01, 0.000000e+00>, intercepts = array<f64: 0.000000e+00, 5.000000e-01, 1.000000e+00>}
// HARD-NEXT:  %t = rnn.pwl %x {max_error = 0.238{{[0-9]*}} : f64, {{.*}}breakpoints = array<f64: -1.000000e+00, 1.000000e+00>, slopes = array<f64: 0.000000e+00, 1.000000e+00, 0.000000e+00>, intercepts = array<f64: -1.000000e+00, 0.000000e+00, 1.000000e+00>}

// A finer, wider table: 2^12 entries over |x| < 16.
// FINE:       %s = rnn.lut "Sigmoid" %x {max_error = 0.000{{[0-9]*}} : f64, {{.*}}log2_range = 4 : i64, log2_entries = 12 : i64}
