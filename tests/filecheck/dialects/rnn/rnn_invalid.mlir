// RUN: RNNC_VERIFY_DIAG

func.func @bad_broadcast(%a: tensor<2x3xf32>, %b: tensor<4xf32>) {
  %s = rnn.add %a, %b : (tensor<2x3xf32>, tensor<4xf32>) -> tensor<2x3xf32>
  func.return
}
// CHECK: rnn.add: shapes [2, 3] and [1, 4] do not broadcast

// -----

func.func @bad_result(%a: tensor<2x3xf32>, %b: tensor<3xf32>) {
  %s = rnn.mul %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<3x3xf32>
  func.return
}
// CHECK: rnn.mul: result shape [3, 3] does not match the shape [2, 3] implied by the operands

// -----

func.func @bad_matmul(%a: tensor<2x3xf32>, %b: tensor<4x5xf32>) {
  %s = rnn.matmul %a, %b : (tensor<2x3xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  func.return
}
// CHECK: rnn.matmul: contraction sizes differ: [2, 3] @ [4, 5] (3 vs 4)

// -----

func.func @bad_weights(%x: tensor<5x2x3xf32>, %w: tensor<1x12x3xf32>, %r: tensor<1x16x4xf32>) {
  %y, %yh, %yc = rnn.lstm %x, %w, %r {hidden_size = 4 : i64} : (tensor<5x2x3xf32>, tensor<1x12x3xf32>, tensor<1x16x4xf32>) -> (tensor<5x1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>)
  func.return
}
// CHECK: rnn.lstm: W has shape [1, 12, 3], expected [1, 16, 3]

// -----

func.func @bad_activation_count(%x: tensor<5x2x3xf32>, %w: tensor<1x12x3xf32>, %r: tensor<1x12x4xf32>) {
  %y, %yh = rnn.gru %x, %w, %r {hidden_size = 4 : i64, activations = ["Sigmoid"]} : (tensor<5x2x3xf32>, tensor<1x12x3xf32>, tensor<1x12x4xf32>) -> (tensor<5x1x2x4xf32>, tensor<1x2x4xf32>)
  func.return
}
// CHECK: rnn.gru: expected 2 activations, got 1

// -----

func.func @bad_activation_name(%x: tensor<5x2x3xf32>, %w: tensor<1x4x3xf32>, %r: tensor<1x4x4xf32>) {
  %y, %yh = rnn.rnn %x, %w, %r {hidden_size = 4 : i64, activations = ["Swish"]} : (tensor<5x2x3xf32>, tensor<1x4x3xf32>, tensor<1x4x4xf32>) -> (tensor<5x1x2x4xf32>, tensor<1x2x4xf32>)
  func.return
}
// CHECK: rnn.rnn: unknown activation 'Swish'

// -----

func.func @bad_y(%x: tensor<5x2x3xf32>, %w: tensor<1x4x3xf32>, %r: tensor<1x4x4xf32>) {
  %y, %yh = rnn.rnn %x, %w, %r {hidden_size = 4 : i64, layout = 1 : i64} : (tensor<5x2x3xf32>, tensor<1x4x3xf32>, tensor<1x4x4xf32>) -> (tensor<5x1x2x4xf32>, tensor<1x2x4xf32>)
  func.return
}
// CHECK: rnn.rnn: result shape [1, 2, 4] does not match the shape [5, 1, 4] implied by the operands

// -----

func.func @bad_body(%x: tensor<5x2x3xf32>, %h0: tensor<2x4xf32>) {
  %h, %ys = rnn.recurrence seqs(%x : tensor<5x2x3xf32>) inits(%h0 : tensor<2x4xf32>) -> tensor<2x4xf32>, tensor<5x2x4xf32> {
  ^bb0(%xt: tensor<2x4xf32>, %hp: tensor<2x4xf32>):
    rnn.yield %hp, %hp : tensor<2x4xf32>, tensor<2x4xf32>
  }
  func.return
}
// CHECK: rnn.recurrence: body arguments must be one step of each sequence followed by the states

// -----

func.func @bad_state(%x: tensor<5x2x3xf32>, %h0: tensor<2x4xf32>) {
  %h, %ys = rnn.recurrence seqs(%x : tensor<5x2x3xf32>) inits(%h0 : tensor<2x4xf32>) -> tensor<2x4xf32>, tensor<5x2x3xf32> {
  ^bb0(%xt: tensor<2x3xf32>, %hp: tensor<2x4xf32>):
    rnn.yield %xt, %xt : tensor<2x3xf32>, tensor<2x3xf32>
  }
  func.return
}
// CHECK: rnn.recurrence: yielded states must have the types of the inits

// -----

func.func @bad_perm(%x: tensor<5x2x3xf32>) {
  %t = rnn.transpose %x {perm = array<i64: 0, 0, 1>} : tensor<5x2x3xf32> -> tensor<5x5x2xf32>
  func.return
}
// CHECK: rnn.transpose: perm [0, 0, 1] is not a permutation of 3 axes

// -----

func.func @bad_reshape(%x: tensor<5x2x3xf32>) {
  %t = rnn.reshape %x {shape = array<i64: 7, -1>} : tensor<5x2x3xf32> -> tensor<7x4xf32>
  func.return
}
// CHECK: rnn.reshape: cannot reshape [5, 2, 3] to [7, -1]

// -----

func.func @bad_kind(%x: tensor<2xf32>) {
  %t = rnn.activation "Gelu" %x : tensor<2xf32>
  func.return
}
// CHECK: rnn.activation: unknown kind 'Gelu'

// -----

func.func @bad_select(%c: tensor<2xf32>, %x: tensor<2xf32>) {
  %t = rnn.select %c, %x, %x : (tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  func.return
}
// CHECK: rnn.select: condition must be a tensor of i1

// -----

func.func @compare_types(%a: tensor<3xi64>, %b: tensor<3xi32>) {
  %c = rnn.less %a, %b : (tensor<3xi64>, tensor<3xi32>) -> tensor<3xi1>
  func.return
}
// CHECK: rnn.less: operand element types differ

// -----

func.func @compare_result(%a: tensor<3xi64>) {
  %c = rnn.equal %a, %a : (tensor<3xi64>, tensor<3xi64>) -> tensor<3xi64>
  func.return
}
// CHECK: rnn.equal: result must be a tensor of i1

// -----

func.func @logic_operands(%a: tensor<3xi64>, %m: tensor<3xi1>) {
  %c = rnn.and %a, %m : (tensor<3xi64>, tensor<3xi1>) -> tensor<3xi1>
  func.return
}
// CHECK: rnn.and: operands must be tensors of i1

// -----

func.func @not_operand(%a: tensor<3xf32>) {
  %c = rnn.not %a : tensor<3xf32>
  func.return
}
// CHECK: rnn.not: operand must be a tensor of i1
