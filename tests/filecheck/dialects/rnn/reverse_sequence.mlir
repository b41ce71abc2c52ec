// RUN: RNNC_ROUNDTRIP
// RUN: RNNC_GENERIC_ROUNDTRIP
// RUN: rnnc-opt %s -p fold-constants --split-input-file | filecheck %s --check-prefix=FOLD

// ONNX ReverseSequence: per batch entry, its first seq_lens[b] steps reversed.
func.func @reverse(%x: tensor<3x2x4xf32>, %lens: tensor<2xi64>) -> tensor<3x2x4xf32> {
  %r = rnn.reverse_sequence %x, %lens {batch_axis = 1 : i64, time_axis = 0 : i64} : tensor<3x2x4xf32>, tensor<2xi64>
  func.return %r : tensor<3x2x4xf32>
}

// CHECK-LABEL: func.func @reverse
// CHECK:         rnn.reverse_sequence %x, %lens : tensor<3x2x4xf32>, tensor<2xi64>

// -----

// On constants it folds: row 0 reversed over 3 steps, row 1 over 2.
func.func @fold() -> tensor<2x3xf32> {
  %x = rnn.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
  %lens = rnn.constant dense<[3, 2]> : tensor<2xi64>
  %r = rnn.reverse_sequence %x, %lens {batch_axis = 0 : i64, time_axis = 1 : i64} : tensor<2x3xf32>, tensor<2xi64>
  func.return %r : tensor<2x3xf32>
}

// FOLD-LABEL: func.func @fold
// FOLD:         %r = rnn.constant dense<{{\[}}[3.000000e+00, 2.000000e+00, 1.000000e+00], [5.000000e+00, 4.000000e+00, 6.000000e+00]]> : tensor<2x3xf32>
