// RUN: not rnnc-opt %s 2>&1 | filecheck %s

// `direction` is an enum (#rnn.direction<...>) printed in the ONNX spelling; any
// other string is rejected when parsing.
func.func @bad_direction(%x: tensor<5x2x3xf32>, %w: tensor<1x4x3xf32>, %r: tensor<1x4x4xf32>) {
  %y, %yh = rnn.rnn %x, %w, %r {hidden_size = 4 : i64, direction = "sideways"} : (tensor<5x2x3xf32>, tensor<1x4x3xf32>, tensor<1x4x4xf32>) -> (tensor<5x1x2x4xf32>, tensor<1x2x4xf32>)
  func.return
}
// CHECK: rnn.rnn: direction must be forward, reverse or bidirectional, got 'sideways'
