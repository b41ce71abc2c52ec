// RUN: rnnc-opt %s -p raise-unrolled --split-input-file | filecheck %s

// An Elman RNN unrolled over 3 steps, as a traced Python loop exports it: step t
// reads x[t] by a constant index and the state the step before computed. In step
// 0 the exporter folded `h0 @ R` of the zero initial state into a constant. The
// three steps become one recurrence whose body is step 1; the initial state is
// the zero that step 0 computes with.
func.func @elman(%x: tensor<3x2x4xf32>) -> tensor<2x5xf32> {
  %w = rnn.constant dense<0.5> : tensor<4x5xf32>
  %r = rnn.constant dense<0.25> : tensor<5x5xf32>
  %i0 = rnn.constant dense<0> : tensor<i64>
  %x0 = rnn.gather %x, %i0 : (tensor<3x2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  %xw0 = rnn.matmul %x0, %w : (tensor<2x4xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  %hr0 = rnn.constant dense<0.0> : tensor<2x5xf32>
  %z0 = rnn.add %xw0, %hr0 : (tensor<2x5xf32>, tensor<2x5xf32>) -> tensor<2x5xf32>
  %h0 = rnn.tanh %z0 : tensor<2x5xf32>
  %i1 = rnn.constant dense<1> : tensor<i64>
  %x1 = rnn.gather %x, %i1 : (tensor<3x2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  %xw1 = rnn.matmul %x1, %w : (tensor<2x4xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  %hr1 = rnn.matmul %h0, %r : (tensor<2x5xf32>, tensor<5x5xf32>) -> tensor<2x5xf32>
  %z1 = rnn.add %xw1, %hr1 : (tensor<2x5xf32>, tensor<2x5xf32>) -> tensor<2x5xf32>
  %h1 = rnn.tanh %z1 : tensor<2x5xf32>
  %i2 = rnn.constant dense<2> : tensor<i64>
  %x2 = rnn.gather %x, %i2 : (tensor<3x2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  %xw2 = rnn.matmul %x2, %w : (tensor<2x4xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  %hr2 = rnn.matmul %h1, %r : (tensor<2x5xf32>, tensor<5x5xf32>) -> tensor<2x5xf32>
  %z2 = rnn.add %xw2, %hr2 : (tensor<2x5xf32>, tensor<2x5xf32>) -> tensor<2x5xf32>
  %h2 = rnn.tanh %z2 : tensor<2x5xf32>
  func.return %h2 : tensor<2x5xf32>
}

// CHECK-LABEL: func.func @elman
// CHECK:         %[[ZERO:.*]] = rnn.constant dense<0.000000e+00> : tensor<2x5xf32>
// CHECK-NEXT:    %[[LAST:.*]] = rnn.recurrence seqs(%x : tensor<3x2x4xf32>) inits(%[[ZERO]] : tensor<2x5xf32>) -> tensor<2x5xf32> {
// CHECK-NEXT:    ^bb0(%[[XT:.*]]: tensor<2x4xf32>, %[[H:.*]]: tensor<2x5xf32>):
// CHECK-NEXT:      %[[XW:.*]] = rnn.matmul %[[XT]], %w
// CHECK-NEXT:      %[[HR:.*]] = rnn.matmul %[[H]], %r
// CHECK-NEXT:      %[[Z:.*]] = rnn.add %[[XW]], %[[HR]]
// CHECK-NEXT:      %[[NEXT:.*]] = rnn.tanh %[[Z]]
// CHECK-NEXT:      rnn.yield %[[NEXT]] : tensor<2x5xf32>
// CHECK-NEXT:    }
// CHECK-NOT:     rnn.gather
// CHECK:         func.return %[[LAST]] : tensor<2x5xf32>

// -----

// Each step's output is also used outside the loop (stacked, as Keras does for
// return_sequences): the body yields it as a per-step output, read back by step.
func.func @sequences(%x: tensor<3x2x4xf32>) -> tensor<3x2x4xf32> {
  %r = rnn.constant dense<0.25> : tensor<4x4xf32>
  %i0 = rnn.constant dense<0> : tensor<i64>
  %x0 = rnn.gather %x, %i0 : (tensor<3x2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  %hr0 = rnn.constant dense<0.0> : tensor<2x4xf32>
  %z0 = rnn.add %x0, %hr0 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %h0 = rnn.tanh %z0 : tensor<2x4xf32>
  %u0 = rnn.unsqueeze %h0 {axes = array<i64: 0>} : tensor<2x4xf32> -> tensor<1x2x4xf32>
  %i1 = rnn.constant dense<1> : tensor<i64>
  %x1 = rnn.gather %x, %i1 : (tensor<3x2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  %hr1 = rnn.matmul %h0, %r : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %z1 = rnn.add %x1, %hr1 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %h1 = rnn.tanh %z1 : tensor<2x4xf32>
  %u1 = rnn.unsqueeze %h1 {axes = array<i64: 0>} : tensor<2x4xf32> -> tensor<1x2x4xf32>
  %i2 = rnn.constant dense<2> : tensor<i64>
  %x2 = rnn.gather %x, %i2 : (tensor<3x2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  %hr2 = rnn.matmul %h1, %r : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %z2 = rnn.add %x2, %hr2 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %h2 = rnn.tanh %z2 : tensor<2x4xf32>
  %u2 = rnn.unsqueeze %h2 {axes = array<i64: 0>} : tensor<2x4xf32> -> tensor<1x2x4xf32>
  %y = rnn.concat %u0, %u1, %u2 {axis = 0 : i64} : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<3x2x4xf32>
  func.return %y : tensor<3x2x4xf32>
}

// CHECK-LABEL: func.func @sequences
// CHECK:         %{{.*}}, %[[YS:.*]] = rnn.recurrence seqs(%x : tensor<3x2x4xf32>) inits(%{{.*}} : tensor<2x4xf32>) -> tensor<2x4xf32>, tensor<3x1x2x4xf32>
// CHECK:           rnn.yield %[[NEXT:.*]], %{{.*}} : tensor<2x4xf32>, tensor<1x2x4xf32>
// CHECK:         %[[Y0:.*]] = rnn.gather %[[YS]], %{{.*}} : (tensor<3x1x2x4xf32>, tensor<i64>) -> tensor<1x2x4xf32>
// CHECK:         %[[Y1:.*]] = rnn.gather %[[YS]]
// CHECK:         %[[Y2:.*]] = rnn.gather %[[YS]]
// CHECK:         %y = rnn.concat %[[Y0]], %[[Y1]], %[[Y2]] {axis = 0 : i64}

// -----

// Step 0 computes something else than the body on any initial state (a sigmoid
// where the later steps have tanh): nothing is raised.
func.func @not_a_loop(%x: tensor<3x2x4xf32>) -> tensor<2x4xf32> {
  %r = rnn.constant dense<0.25> : tensor<4x4xf32>
  %i0 = rnn.constant dense<0> : tensor<i64>
  %x0 = rnn.gather %x, %i0 : (tensor<3x2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  %h0 = rnn.sigmoid %x0 : tensor<2x4xf32>
  %i1 = rnn.constant dense<1> : tensor<i64>
  %x1 = rnn.gather %x, %i1 : (tensor<3x2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  %hr1 = rnn.matmul %h0, %r : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %z1 = rnn.add %x1, %hr1 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %h1 = rnn.tanh %z1 : tensor<2x4xf32>
  %i2 = rnn.constant dense<2> : tensor<i64>
  %x2 = rnn.gather %x, %i2 : (tensor<3x2x4xf32>, tensor<i64>) -> tensor<2x4xf32>
  %hr2 = rnn.matmul %h1, %r : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %z2 = rnn.add %x2, %hr2 : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %h2 = rnn.tanh %z2 : tensor<2x4xf32>
  func.return %h2 : tensor<2x4xf32>
}

// CHECK-LABEL: func.func @not_a_loop
// CHECK-NOT:     rnn.recurrence
// CHECK:         %h2 = rnn.tanh
