// RUN: rnnc-opt %s -p raise-step-form --split-input-file | filecheck %s

// A raised Keras-style body: the input projection `x @ W + b` of the whole
// sequence is computed before the loop and the step reads a row of it; the step
// multiplies the state by both gates at once and slices the result. After the
// pass the step reads x itself, every product is one gate wide and the weight
// columns are constants before the loop.
func.func @gates(%x: tensor<3x2x4xf32>) -> tensor<2x2xf32> {
  %w = rnn.constant dense<[[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], [1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]> : tensor<4x4xf32>
  %b = rnn.constant dense<[0.1, 0.2, 0.3, 0.4]> : tensor<4xf32>
  %r = rnn.constant dense<[[0.5, 0.25, 1.0, 2.0], [0.0, 1.0, 0.0, 1.0]]> : tensor<2x4xf32>
  %xw = rnn.matmul %x, %w : (tensor<3x2x4xf32>, tensor<4x4xf32>) -> tensor<3x2x4xf32>
  %proj = rnn.add %xw, %b : (tensor<3x2x4xf32>, tensor<4xf32>) -> tensor<3x2x4xf32>
  %h0 = rnn.constant dense<0.0> : tensor<2x2xf32>
  %last = rnn.recurrence seqs(%proj : tensor<3x2x4xf32>) inits(%h0 : tensor<2x2xf32>) -> tensor<2x2xf32> {
  ^bb0(%p: tensor<2x4xf32>, %h: tensor<2x2xf32>):
    %hr = rnn.matmul %h, %r : (tensor<2x2xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %z = rnn.add %p, %hr : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    %zu = rnn.slice %z {starts = array<i64: 0>, ends = array<i64: 2>, axes = array<i64: 1>, steps = array<i64: 1>} : tensor<2x4xf32> -> tensor<2x2xf32>
    %zc = rnn.slice %z {starts = array<i64: 2>, ends = array<i64: 4>, axes = array<i64: 1>, steps = array<i64: 1>} : tensor<2x4xf32> -> tensor<2x2xf32>
    %u = rnn.sigmoid %zu : tensor<2x2xf32>
    %c = rnn.tanh %zc : tensor<2x2xf32>
    %next = rnn.mul %u, %c : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
    rnn.yield %next : tensor<2x2xf32>
  }
  func.return %last : tensor<2x2xf32>
}

// CHECK-LABEL: func.func @gates
// CHECK-DAG:     %[[WU:.*]] = rnn.constant dense<{{\[}}[1.000000e+00, 2.000000e+00], [5.000000e+00, 6.000000e+00], [1.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00]]> : tensor<4x2xf32>
// CHECK-DAG:     %[[WC:.*]] = rnn.constant dense<{{\[}}[3.000000e+00, 4.000000e+00], [7.000000e+00, 8.000000e+00], [1.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00]]> : tensor<4x2xf32>
// CHECK-DAG:     %[[RU:.*]] = rnn.constant dense<{{\[}}[5.000000e-01, 2.500000e-01], [0.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>
// CHECK:         %last = rnn.recurrence seqs(%x : tensor<3x2x4xf32>)
// CHECK-NEXT:    ^bb0(%[[XT:.*]]: tensor<2x4xf32>, %[[H:.*]]: tensor<2x2xf32>):
// CHECK-NOT:       rnn.slice
// CHECK-DAG:       rnn.matmul %[[XT]], %[[WU]] : (tensor<2x4xf32>, tensor<4x2xf32>) -> tensor<2x2xf32>
// CHECK-DAG:       rnn.matmul %[[XT]], %[[WC]] : (tensor<2x4xf32>, tensor<4x2xf32>) -> tensor<2x2xf32>
// CHECK-DAG:       rnn.matmul %[[H]], %[[RU]] : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK-NOT:       rnn.slice
// CHECK:           rnn.yield

// -----

// A torch cell's Gemm in a step is a product and a bias add; a loop over the
// time-reversed input (Keras go_backwards) is the reverse loop over the input.
func.func @gemm_backwards(%x: tensor<3x2x2xf32>) -> tensor<2x2xf32> {
  %w = rnn.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = rnn.constant dense<[0.5, -0.5]> : tensor<2xf32>
  %rev = rnn.slice %x {starts = array<i64: -1>, ends = array<i64: -9223372036854775807>, axes = array<i64: 0>, steps = array<i64: -1>} : tensor<3x2x2xf32> -> tensor<3x2x2xf32>
  %h0 = rnn.constant dense<0.0> : tensor<2x2xf32>
  %last = rnn.recurrence seqs(%rev : tensor<3x2x2xf32>) inits(%h0 : tensor<2x2xf32>) -> tensor<2x2xf32> {
  ^bb0(%xt: tensor<2x2xf32>, %h: tensor<2x2xf32>):
    %g = rnn.gemm %h, %w, %b {trans_b = 1 : i64} : (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
    %z = rnn.add %xt, %g : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
    %next = rnn.tanh %z : tensor<2x2xf32>
    rnn.yield %next : tensor<2x2xf32>
  }
  func.return %last : tensor<2x2xf32>
}

// CHECK-LABEL: func.func @gemm_backwards
// CHECK-DAG:     %[[WT:.*]] = rnn.constant dense<{{\[}}[1.000000e+00, 3.000000e+00], [2.000000e+00, 4.000000e+00]]> : tensor<2x2xf32>
// CHECK-DAG:     %[[B:.*]] = rnn.constant dense<[5.000000e-01, -5.000000e-01]> : tensor<2xf32>
// CHECK:         %last = rnn.recurrence reverse seqs(%x : tensor<3x2x2xf32>)
// CHECK-NEXT:    ^bb0(%{{.*}}: tensor<2x2xf32>, %[[H:.*]]: tensor<2x2xf32>):
// CHECK-NEXT:      %[[P:.*]] = rnn.matmul %[[H]], %[[WT]]
// CHECK-NEXT:      %{{.*}} = rnn.add %[[P]], %[[B]]
// CHECK-NOT:       rnn.gemm
