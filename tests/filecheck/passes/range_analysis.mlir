// RUN: python -c "import numpy as np; np.savez('%t.npz', x=np.array([[1, -2], [0.5, 3]], np.float32), s=np.array([[[0.25]], [[1.0]], [[0.5]], [[0.0]]], np.float32))"
// RUN: rnnc-opt %s -p 'range-analysis{calibration="%t.npz"}' | filecheck %s
// RUN: rnnc-opt %s -p range-analysis | filecheck %s --check-prefix=STATIC

// y = x @ W: calibration sees [-3, 6.5]; the static bound uses W column by column
// over x in the calibrated [-2, 3]: column 0 in [-6, 9], column 1 in [-4, 3.5].
// The accumulator c_t = c_{t-1} + s_t over T = 4 steps with s in [0, 1] is bounded
// by [0, 4] (at most T iterations of the union); calibration sees its final 1.75.
func.func @main(%x: tensor<2x2xf32> {onnx.name = "x"}, %s: tensor<4x1x1xf32> {onnx.name = "s"}) -> (tensor<2x2xf32>, tensor<1x1xf32>) {
  %w = rnn.constant dense<[[1.0, -1.0], [2.0, 0.5]]> : tensor<2x2xf32>
  %y = rnn.matmul %x, %w : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  %t = rnn.tanh %y : tensor<2x2xf32>
  %c0 = rnn.constant dense<0.0> : tensor<1x1xf32>
  %c, %cs = rnn.recurrence seqs(%s : tensor<4x1x1xf32>) inits(%c0 : tensor<1x1xf32>) -> tensor<1x1xf32>, tensor<4x1x1xf32> {
  ^bb0(%st: tensor<1x1xf32>, %cp: tensor<1x1xf32>):
    %cn = rnn.add %cp, %st : (tensor<1x1xf32>, tensor<1x1xf32>) -> tensor<1x1xf32>
    rnn.yield %cn, %cn : tensor<1x1xf32>, tensor<1x1xf32>
  }
  func.return %t, %c : tensor<2x2xf32>, tensor<1x1xf32>
}

// CHECK:       func.func @main(%x: tensor<2x2xf32> {onnx.name = "x", rnnc.calib = [array<f64: -2.000000e+00, 3.000000e+00>], rnnc.calib_abs = [array<f64: {{.*}}>], rnnc.bound = [array<f64: -2.000000e+00, 3.000000e+00>]}
// CHECK:       %y = rnn.matmul %x, %w {rnnc.calib = [array<f64: -3.000000e+00, 6.500000e+00>], rnnc.calib_abs = [array<f64: {{.*}}>], rnnc.bound = [array<f64: -6.000000e+00, 9.000000e+00>]}
// CHECK-NEXT:  %t = rnn.tanh %y {rnnc.calib = [array<f64: -0.99505{{[0-9]*}}, 0.99999{{[0-9]*}}>], rnnc.calib_abs = [array<f64: {{.*}}>], rnnc.bound = [array<f64: -0.99998{{[0-9]*}}, 0.99999{{[0-9]*}}>]}
// CHECK:       %c, %cs = rnn.recurrence {{.*}}rnnc.calib = [array<f64: 1.750000e+00, 1.750000e+00>, array<f64: 2.500000e-01, 1.750000e+00>]
// CHECK-SAME:  rnnc.bound = [array<f64: 0.000000e+00, 4.000000e+00>, array<f64: 0.000000e+00, 4.000000e+00>]
// CHECK:         %cn = rnn.add %cp, %st {rnnc.calib = [array<f64: 2.500000e-01, 1.750000e+00>], {{.*}}rnnc.bound = [array<f64: 0.000000e+00, 4.000000e+00>]}

// Without calibration the inputs are unbounded, and so is everything they reach;
// constants still have exact ranges.
// STATIC:      %w = rnn.constant {{.*}}rnnc.bound = [array<f64: -1.000000e+00, 2.000000e+00>]
// STATIC:      %y = rnn.matmul %x, %w {rnnc.bound = [array<f64: 0xfff0000000000000, 0x7ff0000000000000>]}
// STATIC-NEXT: %t = rnn.tanh %y {rnnc.bound = [array<f64: -1.000000e+00, 1.000000e+00>]}
