// RUN: rnnc-opt %s -p fold-constants | filecheck %s

// Shape and arithmetic ops on constants become constants; ops that read a function
// argument stay.
func.func @fold(%a: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %w = rnn.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>
  %top = rnn.slice %w {starts = array<i64: 1>, ends = array<i64: 3>, axes = array<i64: 0>, steps = array<i64: 1>} : tensor<3x2xf32> -> tensor<2x2xf32>
  %wt = rnn.transpose %top {perm = array<i64: 1, 0>} : tensor<2x2xf32> -> tensor<2x2xf32>
  %two = rnn.constant dense<2.0> : tensor<1xf32>
  %scaled = rnn.mul %wt, %two : (tensor<2x2xf32>, tensor<1xf32>) -> tensor<2x2xf32>
  %live = rnn.add %a, %scaled : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  func.return %scaled, %live : tensor<2x2xf32>, tensor<2x2xf32>
}

// CHECK-LABEL: func.func @fold
// CHECK-NEXT:    %scaled = rnn.constant dense<{{\[}}[6.000000e+00, 1.000000e+01], [8.000000e+00, 1.200000e+01]]> : tensor<2x2xf32>
// CHECK-NEXT:    %live = rnn.add %a, %scaled
// CHECK-NEXT:    func.return %scaled, %live
