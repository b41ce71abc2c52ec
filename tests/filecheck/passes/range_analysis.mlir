// RUN: python -c "import numpy as np; np.savez('%t.npz', x=np.array([[1, -2], [0.5, 3]], np.float32), s=np.array([[[0.25]], [[1.0]], [[0.5]], [[0.0]]], np.float32))"
// RUN: rnnc-opt %s -p 'range-analysis{calibration="%t.npz"}' | filecheck %s
// RUN: rnnc-opt %s -p range-analysis --split-input-file | filecheck %s --check-prefix=STATIC

// rnnc-opt's range-analysis{calibration=...} first measures ranges by running the
// float interpreter on the arrays (rnnc.calib, rnnc.calib_abs; the first function
// only), then adds the static bounds (rnnc.bound), seeded with the measured input
// ranges. Without calibration only the bounds are added, from whatever measured
// input ranges are already annotated.

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

// CHECK-LABEL: func.func @main(%x: tensor<2x2xf32> {onnx.name = "x", rnnc.calib = [array<f64: -2.000000e+00, 3.000000e+00>], rnnc.calib_abs = [array<f64: {{.*}}>], rnnc.bound = [array<f64: -2.000000e+00, 3.000000e+00>]}
// CHECK:       %y = rnn.matmul %x, %w {rnnc.calib = [array<f64: -3.000000e+00, 6.500000e+00>], rnnc.calib_abs = [array<f64: {{.*}}>], rnnc.bound = [array<f64: -6.000000e+00, 9.000000e+00>]}
// CHECK-NEXT:  %t = rnn.tanh %y {rnnc.calib = [array<f64: -0.99505{{[0-9]*}}, 0.99999{{[0-9]*}}>], rnnc.calib_abs = [array<f64: {{.*}}>], rnnc.bound = [array<f64: -0.99998{{[0-9]*}}, 0.99999{{[0-9]*}}>]}
// CHECK:       %c, %cs = rnn.recurrence {{.*}}rnnc.calib = [array<f64: 1.750000e+00, 1.750000e+00>, array<f64: 2.500000e-01, 1.750000e+00>]
// CHECK-SAME:  rnnc.bound = [array<f64: 0.000000e+00, 4.000000e+00>, array<f64: 0.000000e+00, 4.000000e+00>]
// CHECK:         %cn = rnn.add %cp, %st {rnnc.calib = [array<f64: 2.500000e-01, 1.750000e+00>], {{.*}}rnnc.bound = [array<f64: 0.000000e+00, 4.000000e+00>]}

// Without calibration the inputs are unbounded, and so is everything they reach;
// constants still have exact ranges.
// STATIC-LABEL: func.func @main
// STATIC:      %w = rnn.constant {{.*}}rnnc.bound = [array<f64: -1.000000e+00, 2.000000e+00>]
// STATIC:      %y = rnn.matmul %x, %w {rnnc.bound = [array<f64: 0xfff0000000000000, 0x7ff0000000000000>]}
// STATIC-NEXT: %t = rnn.tanh %y {rnnc.bound = [array<f64: -1.000000e+00, 1.000000e+00>]}

// -----

// Measured input ranges already annotated (as measure_ranges leaves them) seed the
// bounds: relu(x) in [0, 2], x * x in [-2, 4] (the interval product, sound),
// sigmoid(x) in [sigmoid(-1), sigmoid(2)].
func.func @seeded(%x: tensor<2xf32> {rnnc.calib = [array<f64: -1.0, 2.0>]}) -> (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) {
  %r = rnn.relu %x : tensor<2xf32>
  %sq = rnn.mul %x, %x : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %s = rnn.sigmoid %x : tensor<2xf32>
  func.return %r, %sq, %s : tensor<2xf32>, tensor<2xf32>, tensor<2xf32>
}

// STATIC-LABEL: func.func @seeded(%x: tensor<2xf32> {rnnc.calib = [array<f64: -1.000000e+00, 2.000000e+00>], rnnc.bound = [array<f64: -1.000000e+00, 2.000000e+00>]})
// STATIC-NEXT:    %r = rnn.relu %x {rnnc.bound = [array<f64: 0.000000e+00, 2.000000e+00>]}
// STATIC-NEXT:    %sq = rnn.mul %x, %x {rnnc.bound = [array<f64: -2.000000e+00, 4.000000e+00>]}
// STATIC-NEXT:    %s = rnn.sigmoid %x {rnnc.bound = [array<f64: 0.268941{{[0-9]*}}, 0.880797{{[0-9]*}}>]}

// -----

// Unbounded inputs: clip and sigmoid still bound their results, a select is the
// union of its choices, a difference subtracts the intervals; i1 values get none.
func.func @static_ops(%x: tensor<2xf32>, %m: tensor<2xi1>) -> (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xi1>) {
  %c = rnn.clip %x {min = -0.5 : f32, max = 0.25 : f32} : tensor<2xf32>
  %s = rnn.sigmoid %x : tensor<2xf32>
  %k = rnn.constant dense<[3.0, -1.0]> : tensor<2xf32>
  %sel = rnn.select %m, %c, %k : (tensor<2xi1>, tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %d = rnn.sub %k, %c : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  func.return %sel, %s, %d, %m : tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xi1>
}

// STATIC-LABEL: func.func @static_ops(%x: tensor<2xf32> {rnnc.bound = [array<f64: 0xfff0000000000000, 0x7ff0000000000000>]}, %m: tensor<2xi1>)
// STATIC-NEXT:    %c = rnn.clip %x {rnnc.bound = [array<f64: -5.000000e-01, 2.500000e-01>]
// STATIC-NEXT:    %s = rnn.sigmoid %x {rnnc.bound = [array<f64: 0.000000e+00, 1.000000e+00>]}
// STATIC-NEXT:    %k = rnn.constant {{.*}} {rnnc.bound = [array<f64: -1.000000e+00, 3.000000e+00>]}
// STATIC-NEXT:    %sel = rnn.select %m, %c, %k {rnnc.bound = [array<f64: -1.000000e+00, 3.000000e+00>]}
// STATIC-NEXT:    %d = rnn.sub %k, %c {rnnc.bound = [array<f64: -1.250000e+00, 3.500000e+00>]}
