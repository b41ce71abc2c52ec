// RUN: RNNC_ROUNDTRIP
// RUN: RNNC_GENERIC_ROUNDTRIP
// RUN: rnnc-opt %s --print-op-generic --split-input-file | filecheck %s --check-prefix=GENERIC

func.func @cells(%x: tensor<5x2x3xf32>, %w: tensor<2x16x3xf32>, %r: tensor<2x16x4xf32>, %b: tensor<2x32xf32>, %len: tensor<2xi32>, %h0: tensor<2x2x4xf32>, %c0: tensor<2x2x4xf32>, %p: tensor<2x12xf32>, %wg: tensor<1x12x3xf32>, %rg: tensor<1x12x4xf32>, %wr: tensor<1x4x3xf32>, %rr: tensor<1x4x4xf32>) {
  %y, %yh, %yc = rnn.lstm %x, %w, %r bias %b seq_lens %len initial_h %h0 initial_c %c0 peepholes %p {hidden_size = 4 : i64, direction = "bidirectional", clip = 2.5 : f32, activations = ["Sigmoid", "Tanh", "Tanh", "HardSigmoid", "Tanh", "Tanh"], activation_alpha = [0.25 : f32], activation_beta = [0.5 : f32]} : (tensor<5x2x3xf32>, tensor<2x16x3xf32>, tensor<2x16x4xf32>, tensor<2x32xf32>, tensor<2xi32>, tensor<2x2x4xf32>, tensor<2x2x4xf32>, tensor<2x12xf32>) -> (tensor<5x2x2x4xf32>, tensor<2x2x4xf32>, tensor<2x2x4xf32>)
  %gy, %gh = rnn.gru %x, %wg, %rg {hidden_size = 4 : i64, linear_before_reset = 1 : i64} : (tensor<5x2x3xf32>, tensor<1x12x3xf32>, tensor<1x12x4xf32>) -> (tensor<5x1x2x4xf32>, tensor<1x2x4xf32>)
  %ry, %rh = rnn.rnn %x, %wr, %rr {hidden_size = 4 : i64, direction = "reverse", layout = 0 : i64} : (tensor<5x2x3xf32>, tensor<1x4x3xf32>, tensor<1x4x4xf32>) -> (tensor<5x1x2x4xf32>, tensor<1x2x4xf32>)
  func.return
}

// CHECK-LABEL: func.func @cells
// CHECK-NEXT:    %y, %yh, %yc = rnn.lstm %x, %w, %r bias %b seq_lens %len initial_h %h0 initial_c %c0 peepholes %p {hidden_size = 4 : i64, direction = "bidirectional", clip = 2.500000e+00 : f32, activations = ["Sigmoid", "Tanh", "Tanh", "HardSigmoid", "Tanh", "Tanh"], activation_alpha = [2.500000e-01 : f32], activation_beta = [5.000000e-01 : f32]} : (tensor<5x2x3xf32>, tensor<2x16x3xf32>, tensor<2x16x4xf32>, tensor<2x32xf32>, tensor<2xi32>, tensor<2x2x4xf32>, tensor<2x2x4xf32>, tensor<2x12xf32>) -> (tensor<5x2x2x4xf32>, tensor<2x2x4xf32>, tensor<2x2x4xf32>)
// CHECK-NEXT:    %gy, %gh = rnn.gru %x, %wg, %rg {hidden_size = 4 : i64, linear_before_reset = 1 : i64} : (tensor<5x2x3xf32>, tensor<1x12x3xf32>, tensor<1x12x4xf32>) -> (tensor<5x1x2x4xf32>, tensor<1x2x4xf32>)
// CHECK-NEXT:    %ry, %rh = rnn.rnn %x, %wr, %rr {hidden_size = 4 : i64, direction = "reverse"} : (tensor<5x2x3xf32>, tensor<1x4x3xf32>, tensor<1x4x4xf32>) -> (tensor<5x1x2x4xf32>, tensor<1x2x4xf32>)
// CHECK-NEXT:    func.return

// -----

func.func @primitives(%a: tensor<2x3xf32>, %b: tensor<3xf32>, %m: tensor<2x1xi1>, %ids: tensor<2x5xi64>) -> tensor<2x3xf32> {
  %c = rnn.constant dense<[[1.0, 2.0, 3.0]]> : tensor<1x3xf32>
  %add = rnn.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %sub = rnn.sub %add, %c : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<2x3xf32>
  %mul = rnn.mul %sub, %sub : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %div = rnn.div %mul, %c : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<2x3xf32>
  %sg = rnn.sigmoid %div : tensor<2x3xf32>
  %th = rnn.tanh %sg : tensor<2x3xf32>
  %re = rnn.relu %th : tensor<2x3xf32>
  %act = rnn.activation "LeakyRelu" %re {alpha = 0.125 : f32} : tensor<2x3xf32>
  %cl = rnn.clip %act {min = -1.0 : f32, max = 1.0 : f32} : tensor<2x3xf32>
  %sel = rnn.select %m, %cl, %a : (tensor<2x1xi1>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  %wt = rnn.constant dense<0.5> : tensor<3x4xf32>
  %mm = rnn.matmul %sel, %wt : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %gm = rnn.gemm %mm, %wt, %b {trans_b = 1 : i64, alpha = 2.0 : f32} : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %sm = rnn.softmax %gm {axis = 1 : i64} : tensor<2x3xf32>
  %lsm = rnn.log_softmax %sm : tensor<2x3xf32>
  %emb = rnn.constant dense<0.25> : tensor<10x3xf32>
  %g = rnn.gather %emb, %ids : (tensor<10x3xf32>, tensor<2x5xi64>) -> tensor<2x5x3xf32>
  %rs = rnn.reshape %g {shape = array<i64: 0, -1>} : tensor<2x5x3xf32> -> tensor<2x15xf32>
  %tr = rnn.transpose %g {perm = array<i64: 1, 0, 2>} : tensor<2x5x3xf32> -> tensor<5x2x3xf32>
  %sl = rnn.slice %tr {starts = array<i64: -1>, ends = array<i64: 5>, axes = array<i64: 0>, steps = array<i64: 1>} : tensor<5x2x3xf32> -> tensor<1x2x3xf32>
  %sq = rnn.squeeze %sl {axes = array<i64: 0>} : tensor<1x2x3xf32> -> tensor<2x3xf32>
  %us = rnn.unsqueeze %sq {axes = array<i64: 1>} : tensor<2x3xf32> -> tensor<2x1x3xf32>
  %cc = rnn.concat %us, %us {axis = 1 : i64} : (tensor<2x1x3xf32>, tensor<2x1x3xf32>) -> tensor<2x2x3xf32>
  %ex = rnn.expand %b {shape = array<i64: 2, 1>} : tensor<3xf32> -> tensor<2x3xf32>
  %ca = rnn.cast %ids : tensor<2x5xi64> -> tensor<2x5xf32>
  func.return %lsm : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @primitives
// CHECK:       %c = rnn.constant dense<{{\[}}[1.000000e+00, 2.000000e+00, 3.000000e+00]]> : tensor<1x3xf32>
// CHECK-NEXT:  %add = rnn.add %a, %b : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK:       %act = rnn.activation "LeakyRelu" %re {alpha = 1.250000e-01 : f32} : tensor<2x3xf32>
// CHECK-NEXT:  %cl = rnn.clip %act {min = -1.000000e+00 : f32, max = 1.000000e+00 : f32} : tensor<2x3xf32>
// CHECK-NEXT:  %sel = rnn.select %m, %cl, %a : (tensor<2x1xi1>, tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK:       %gm = rnn.gemm %mm, %wt, %b {trans_b = 1 : i64, alpha = 2.000000e+00 : f32} : (tensor<2x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK:       %g = rnn.gather %emb, %ids : (tensor<10x3xf32>, tensor<2x5xi64>) -> tensor<2x5x3xf32>
// CHECK-NEXT:  %rs = rnn.reshape %g {shape = array<i64: 0, -1>} : tensor<2x5x3xf32> -> tensor<2x15xf32>
// CHECK:       %cc = rnn.concat %us, %us {axis = 1 : i64} : (tensor<2x1x3xf32>, tensor<2x1x3xf32>) -> tensor<2x2x3xf32>
// CHECK-NEXT:  %ex = rnn.expand %b {shape = array<i64: 2, 1>} : tensor<3xf32> -> tensor<2x3xf32>
// CHECK-NEXT:  %ca = rnn.cast %ids : tensor<2x5xi64> -> tensor<2x5xf32>

// -----

func.func @recurrence(%x: tensor<5x2x3xf32>, %mask: tensor<5x2x1xi1>, %h0: tensor<2x4xf32>, %w: tensor<3x4xf32>) -> tensor<5x2x4xf32> {
  %h, %ys = rnn.recurrence reverse seqs(%x, %mask : tensor<5x2x3xf32>, tensor<5x2x1xi1>) inits(%h0 : tensor<2x4xf32>) -> tensor<2x4xf32>, tensor<5x2x4xf32> {
  ^bb0(%xt: tensor<2x3xf32>, %m: tensor<2x1xi1>, %hp: tensor<2x4xf32>):
    %z = rnn.matmul %xt, %w : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
    %hn = rnn.tanh %z : tensor<2x4xf32>
    %hk = rnn.select %m, %hn, %hp : (tensor<2x1xi1>, tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
    rnn.yield %hk, %hn : tensor<2x4xf32>, tensor<2x4xf32>
  }
  func.return %ys : tensor<5x2x4xf32>
}

// CHECK-LABEL: func.func @recurrence
// CHECK-NEXT:    %h, %ys = rnn.recurrence reverse seqs(%x, %mask : tensor<5x2x3xf32>, tensor<5x2x1xi1>) inits(%h0 : tensor<2x4xf32>) -> tensor<2x4xf32>, tensor<5x2x4xf32> {
// CHECK-NEXT:    ^bb0(%xt: tensor<2x3xf32>, %m: tensor<2x1xi1>, %hp: tensor<2x4xf32>):
// CHECK:           rnn.yield %hk, %hn : tensor<2x4xf32>, tensor<2x4xf32>
// CHECK-NEXT:    }

// The cell direction is an enum attribute; the custom syntax spells it as in ONNX,
// the generic form as the attribute, defaults included.
// GENERIC: "rnn.lstm"{{.*}}direction = #rnn.direction<bidirectional>
// GENERIC: "rnn.rnn"{{.*}}direction = #rnn.direction<reverse>
