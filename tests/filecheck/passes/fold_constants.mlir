// RUN: rnnc-opt %s -p fold-constants --split-input-file | filecheck %s

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

// -----

// Elementwise arithmetic broadcasts as numpy does; each folded result keeps the
// name of the op it replaces.
func.func @arith() -> (tensor<2x2xf32>, tensor<2x2xf32>, tensor<2xf32>) {
  %a = rnn.constant dense<[[1.0, -2.0], [3.0, -4.0]]> : tensor<2x2xf32>
  %b = rnn.constant dense<[0.5, 2.0]> : tensor<2xf32>
  %s = rnn.sub %a, %b : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  %d = rnn.div %a, %b : (tensor<2x2xf32>, tensor<2xf32>) -> tensor<2x2xf32>
  %c = rnn.clip %b {min = 0.0 : f32, max = 1.0 : f32} : tensor<2xf32>
  func.return %s, %d, %c : tensor<2x2xf32>, tensor<2x2xf32>, tensor<2xf32>
}

// CHECK-LABEL: func.func @arith
// CHECK-NEXT:    %s = rnn.constant dense<{{\[}}[5.000000e-01, -4.000000e+00], [2.500000e+00, -6.000000e+00]]> : tensor<2x2xf32>
// CHECK-NEXT:    %d = rnn.constant dense<{{\[}}[2.000000e+00, -1.000000e+00], [6.000000e+00, -2.000000e+00]]> : tensor<2x2xf32>
// CHECK-NEXT:    %c = rnn.constant dense<[5.000000e-01, 1.000000e+00]> : tensor<2xf32>
// CHECK-NEXT:    func.return %s, %d, %c

// -----

// Activations fold by the dialect's reference semantics (float32).
func.func @activations() -> (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) {
  %x = rnn.constant dense<[-1.0, 0.0, 2.0]> : tensor<3xf32>
  %s = rnn.sigmoid %x : tensor<3xf32>
  %r = rnn.relu %x : tensor<3xf32>
  %l = rnn.activation "LeakyRelu" %x {alpha = 0.5 : f32} : tensor<3xf32>
  func.return %s, %r, %l : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
}

// CHECK-LABEL: func.func @activations
// CHECK-NEXT:    %s = rnn.constant dense<[0.268941{{[0-9]*}}, 5.000000e-01, 8.80797{{[0-9]*}}e-01]> : tensor<3xf32>
// CHECK-NEXT:    %r = rnn.constant dense<[0.000000e+00, 0.000000e+00, 2.000000e+00]> : tensor<3xf32>
// CHECK-NEXT:    %l = rnn.constant dense<[-5.000000e-01, 0.000000e+00, 2.000000e+00]> : tensor<3xf32>

// -----

// Products, and the shape ops an exporter puts around the weights.
func.func @products() -> (tensor<1x2xf32>, tensor<1x2xf32>, tensor<2x1xf32>, tensor<4xf32>) {
  %x = rnn.constant dense<[[1.0, 2.0]]> : tensor<1x2xf32>
  %w = rnn.constant dense<[[1.0, 0.0], [1.0, -1.0]]> : tensor<2x2xf32>
  %b = rnn.constant dense<[10.0, 20.0]> : tensor<2xf32>
  %m = rnn.matmul %x, %w : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  %g = rnn.gemm %x, %w, %b {trans_b = 1 : i64} : (tensor<1x2xf32>, tensor<2x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
  %u = rnn.unsqueeze %b {axes = array<i64: 1>} : tensor<2xf32> -> tensor<2x1xf32>
  %c = rnn.concat %b, %b {axis = 0 : i64} : (tensor<2xf32>, tensor<2xf32>) -> tensor<4xf32>
  func.return %m, %g, %u, %c : tensor<1x2xf32>, tensor<1x2xf32>, tensor<2x1xf32>, tensor<4xf32>
}

// CHECK-LABEL: func.func @products
// CHECK-NEXT:    %m = rnn.constant dense<{{\[}}[3.000000e+00, -2.000000e+00]]> : tensor<1x2xf32>
// CHECK-NEXT:    %g = rnn.constant dense<{{\[}}[1.100000e+01, 1.900000e+01]]> : tensor<1x2xf32>
// CHECK-NEXT:    %u = rnn.constant dense<{{\[}}[1.000000e+01], [2.000000e+01]]> : tensor<2x1xf32>
// CHECK-NEXT:    %c = rnn.constant dense<[1.000000e+01, 2.000000e+01, 1.000000e+01, 2.000000e+01]> : tensor<4xf32>

// -----

// Integer tensors fold too (an embedding lookup of constant ids, a cast).
func.func @integers() -> (tensor<2x2xf32>, tensor<2xf32>) {
  %emb = rnn.constant dense<[[0.0, 0.5], [1.0, 1.5], [2.0, 2.5]]> : tensor<3x2xf32>
  %ids = rnn.constant dense<[2, 0]> : tensor<2xi64>
  %g = rnn.gather %emb, %ids : (tensor<3x2xf32>, tensor<2xi64>) -> tensor<2x2xf32>
  %f = rnn.cast %ids : tensor<2xi64> -> tensor<2xf32>
  func.return %g, %f : tensor<2x2xf32>, tensor<2xf32>
}

// CHECK-LABEL: func.func @integers
// CHECK-NEXT:    %g = rnn.constant dense<{{\[}}[2.000000e+00, 2.500000e+00], [0.000000e+00, 5.000000e-01]]> : tensor<2x2xf32>
// CHECK-NEXT:    %f = rnn.constant dense<[2.000000e+00, 0.000000e+00]> : tensor<2xf32>

// -----

// Inside a recurrence body, ops of constants fold; ops of the step's values and
// the recurrence itself stay.
func.func @body(%x: tensor<3x1x2xf32>) -> tensor<1x2xf32> {
  %h0 = rnn.constant dense<0.0> : tensor<1x2xf32>
  %h = rnn.recurrence seqs(%x : tensor<3x1x2xf32>) inits(%h0 : tensor<1x2xf32>) -> tensor<1x2xf32> {
  ^bb0(%xt: tensor<1x2xf32>, %hp: tensor<1x2xf32>):
    %one = rnn.constant dense<1.0> : tensor<2xf32>
    %k = rnn.add %one, %one : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %z = rnn.mul %xt, %k : (tensor<1x2xf32>, tensor<2xf32>) -> tensor<1x2xf32>
    %hn = rnn.add %z, %hp : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
    rnn.yield %hn : tensor<1x2xf32>
  }
  func.return %h : tensor<1x2xf32>
}

// CHECK-LABEL: func.func @body
// CHECK:         rnn.recurrence
// CHECK-NEXT:    ^bb0(%xt: tensor<1x2xf32>, %hp: tensor<1x2xf32>):
// CHECK-NEXT:      %k = rnn.constant dense<2.000000e+00> : tensor<2xf32>
// CHECK-NEXT:      %z = rnn.mul %xt, %k
// CHECK-NEXT:      %hn = rnn.add %z, %hp
