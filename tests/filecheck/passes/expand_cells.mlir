// RUN: rnnc-opt %s -p expand-cells --split-input-file | filecheck %s

// An LSTM with constant weights: per-gate matrices are folded, transposed, into
// constants, the two bias vectors of each gate are summed; the body holds every
// gate and the peephole terms.
func.func @lstm(%x: tensor<3x2x1xf32>) -> tensor<1x2x1xf32> {
  %w = rnn.constant dense<[[[1.0], [2.0], [3.0], [4.0]]]> : tensor<1x4x1xf32>
  %r = rnn.constant dense<[[[0.5], [0.25], [0.125], [1.0]]]> : tensor<1x4x1xf32>
  %b = rnn.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]> : tensor<1x8xf32>
  %p = rnn.constant dense<[[0.1, 0.2, 0.3]]> : tensor<1x3xf32>
  %y, %yh, %yc = rnn.lstm %x, %w, %r bias %b peepholes %p {hidden_size = 1 : i64, clip = 3.0 : f32} : (tensor<3x2x1xf32>, tensor<1x4x1xf32>, tensor<1x4x1xf32>, tensor<1x8xf32>, tensor<1x3xf32>) -> (tensor<3x1x2x1xf32>, tensor<1x2x1xf32>, tensor<1x2x1xf32>)
  func.return %yh : tensor<1x2x1xf32>
}

// CHECK-LABEL: func.func @lstm
// CHECK-NOT:     rnn.lstm
// CHECK-DAG:     %Wi_T = rnn.constant dense<1.000000e+00> : tensor<1x1xf32>
// CHECK-DAG:     %Wo_T = rnn.constant dense<2.000000e+00> : tensor<1x1xf32>
// CHECK-DAG:     %Wf_T = rnn.constant dense<3.000000e+00> : tensor<1x1xf32>
// CHECK-DAG:     %Wc_T = rnn.constant dense<4.000000e+00> : tensor<1x1xf32>
// CHECK-DAG:     %Bc = rnn.constant dense<1.200000e+01> : tensor<1xf32>
// CHECK-DAG:     %Pf = rnn.constant dense<3.000000e-01> : tensor<1xf32>
// CHECK-DAG:     %h0 = rnn.constant dense<0.000000e+00> : tensor<2x1xf32>
// CHECK:         %h_last_fwd, %c_last_fwd, %y_fwd = rnn.recurrence seqs(%x : tensor<3x2x1xf32>) inits(%h0, %c0 : tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<2x1xf32>, tensor<2x1xf32>, tensor<3x2x1xf32> {
// CHECK-NEXT:    ^bb0(%x_t: tensor<2x1xf32>, %h_prev: tensor<2x1xf32>, %c_prev: tensor<2x1xf32>):
// CHECK:           rnn.matmul %x_t, %Wi_T
// CHECK-NEXT:      %xz_i = rnn.add %{{.*}}, %Bi
// CHECK-NEXT:      %[[HR:.*]] = rnn.matmul %h_prev, %Ri_T
// CHECK-NEXT:      %z_i = rnn.add %xz_i, %[[HR]]
// CHECK:           %z_i_peep = rnn.add %z_i, %{{.*}}
// CHECK:           %[[CI:.*]] = rnn.clip %z_i_peep {min = -3.000000e+00 : f32, max = 3.000000e+00 : f32}
// CHECK-NEXT:      %i = rnn.sigmoid %[[CI]]
// CHECK:           %f = rnn.sigmoid
// CHECK:           %g = rnn.tanh
// CHECK:           %c_next = rnn.add
// CHECK:           %z_o_peep = rnn.add %z_o, %{{.*}}
// CHECK:           %o = rnn.sigmoid
// CHECK-NEXT:      %c_act = rnn.tanh %c_next
// CHECK-NEXT:      %h_next = rnn.mul %o, %c_act
// CHECK-NEXT:      rnn.yield %h_next, %c_next, %h_next
// CHECK:         %[[YH:.*]] = rnn.unsqueeze %h_last_fwd {axes = array<i64: 0>} : tensor<2x1xf32> -> tensor<1x2x1xf32>
// CHECK:         func.return %[[YH]]

// -----

// A bidirectional RNN with sequence lengths: one recurrence per direction, a mask
// sequence, and selects that hold finished states and zero their outputs.
func.func @rnn_bidi(%x: tensor<4x2x3xf32>, %w: tensor<2x5x3xf32>, %r: tensor<2x5x5xf32>, %len: tensor<2xi32>) -> tensor<4x2x2x5xf32> {
  %y, %yh = rnn.rnn %x, %w, %r seq_lens %len {hidden_size = 5 : i64, direction = "bidirectional", activations = ["Relu", "Tanh"]} : (tensor<4x2x3xf32>, tensor<2x5x3xf32>, tensor<2x5x5xf32>, tensor<2xi32>) -> (tensor<4x2x2x5xf32>, tensor<2x2x5xf32>)
  func.return %y : tensor<4x2x2x5xf32>
}

// CHECK-LABEL: func.func @rnn_bidi
// CHECK:         %mask = rnn.sequence_mask %len, %x : (tensor<2xi32>, tensor<4x2x3xf32>) -> tensor<4x2x1xi1>
// CHECK:         %h_last_fwd, %y_fwd = rnn.recurrence seqs(%x, %mask : tensor<4x2x3xf32>, tensor<4x2x1xi1>) inits(%h0_fwd : tensor<2x5xf32>)
// CHECK-NEXT:    ^bb0(%x_t: tensor<2x3xf32>, %valid: tensor<2x1xi1>, %h_prev: tensor<2x5xf32>):
// CHECK:           %h_next = rnn.relu
// CHECK:           %y_t = rnn.select %valid, %h_next, %zero
// CHECK-NEXT:      %h_kept = rnn.select %valid, %h_next, %h_prev
// CHECK-NEXT:      rnn.yield %h_kept, %y_t
// CHECK:         %h_last_rev, %y_rev = rnn.recurrence reverse seqs(%x, %mask
// CHECK:           %h_next{{.*}} = rnn.tanh
// CHECK:         %[[F:.*]] = rnn.unsqueeze %y_fwd {axes = array<i64: 1>}
// CHECK-NEXT:    %[[R:.*]] = rnn.unsqueeze %y_rev {axes = array<i64: 1>}
// CHECK-NEXT:    %[[Y:.*]] = rnn.concat %[[F]], %[[R]] {axis = 1 : i64} : (tensor<4x1x2x5xf32>, tensor<4x1x2x5xf32>) -> tensor<4x2x2x5xf32>
// CHECK:         func.return %[[Y]]

// -----

// A batch-first GRU with linear_before_reset: transposes around the recurrence and
// the reset gate applied after the recurrent mat-vec.
func.func @gru_batch_first(%x: tensor<2x4x3xf32>, %w: tensor<1x6x3xf32>, %r: tensor<1x6x2xf32>, %b: tensor<1x12xf32>) -> tensor<2x1x2xf32> {
  %y, %yh = rnn.gru %x, %w, %r bias %b {hidden_size = 2 : i64, layout = 1 : i64, linear_before_reset = 1 : i64} : (tensor<2x4x3xf32>, tensor<1x6x3xf32>, tensor<1x6x2xf32>, tensor<1x12xf32>) -> (tensor<2x4x1x2xf32>, tensor<2x1x2xf32>)
  func.return %yh : tensor<2x1x2xf32>
}

// CHECK-LABEL: func.func @gru_batch_first
// CHECK:         %x_time_major = rnn.transpose %x {perm = array<i64: 1, 0, 2>} : tensor<2x4x3xf32> -> tensor<4x2x3xf32>
// CHECK:         rnn.recurrence seqs(%x_time_major : tensor<4x2x3xf32>)
// CHECK:           %update = rnn.sigmoid
// CHECK:           %reset = rnn.sigmoid
// CHECK:           %[[RH:.*]] = rnn.matmul %h_prev, %Rh_T
// CHECK-NEXT:      %rh = rnn.add %[[RH]], %Rbh
// CHECK:           rnn.mul %reset, %rh
// CHECK:           %h_cand = rnn.tanh
// CHECK:           %h_next = rnn.add
// CHECK:         rnn.transpose %{{.*}} {perm = array<i64: 1, 0, 2>} : tensor<1x2x2xf32> -> tensor<2x1x2xf32>

// -----

// A reverse RNN with the initial state given: its weights are arguments, so they are
// sliced, not folded; one reverse recurrence starting from the given state, with
// the default Tanh.
func.func @rnn_reverse_initial(%x: tensor<3x1x2xf32>, %w: tensor<1x2x2xf32>, %r: tensor<1x2x2xf32>, %h0: tensor<1x1x2xf32>) -> tensor<1x1x2xf32> {
  %y, %yh = rnn.rnn %x, %w, %r initial_h %h0 {hidden_size = 2 : i64, direction = "reverse"} : (tensor<3x1x2xf32>, tensor<1x2x2xf32>, tensor<1x2x2xf32>, tensor<1x1x2xf32>) -> (tensor<3x1x1x2xf32>, tensor<1x1x2xf32>)
  func.return %yh : tensor<1x1x2xf32>
}

// CHECK-LABEL: func.func @rnn_reverse_initial
// CHECK:         %Wi_T = rnn.transpose %{{.*}} {perm = array<i64: 1, 0>} : tensor<2x2xf32> -> tensor<2x2xf32>
// CHECK:         %[[H0:.*]] = rnn.squeeze %{{.*}} {axes = array<i64: 0>} : tensor<1x1x2xf32> -> tensor<1x2xf32>
// CHECK-NEXT:    %h_last_rev, %y_rev = rnn.recurrence reverse seqs(%x : tensor<3x1x2xf32>) inits(%[[H0]] : tensor<1x2xf32>)
// CHECK:           %z_i = rnn.add
// CHECK-NEXT:      %h_next = rnn.tanh %z_i
// CHECK-NEXT:      rnn.yield %h_next, %h_next
// CHECK:         %yh = rnn.unsqueeze %h_last_rev {axes = array<i64: 0>}
// CHECK-NOT:     rnn.recurrence

// -----

// A bidirectional GRU with constant weights: each direction's gate matrices (ONNX
// order z, r, h) are folded into their own constants, W[0] for forward, W[1] for
// reverse; the last states of both directions are stacked.
func.func @gru_bidi_const(%x: tensor<2x1x1xf32>) -> tensor<2x1x1xf32> {
  %w = rnn.constant dense<[[[1.0], [2.0], [3.0]], [[4.0], [5.0], [6.0]]]> : tensor<2x3x1xf32>
  %r = rnn.constant dense<[[[0.5], [0.25], [0.125]], [[1.5], [1.25], [1.125]]]> : tensor<2x3x1xf32>
  %y, %yh = rnn.gru %x, %w, %r {hidden_size = 1 : i64, direction = "bidirectional"} : (tensor<2x1x1xf32>, tensor<2x3x1xf32>, tensor<2x3x1xf32>) -> (tensor<2x2x1x1xf32>, tensor<2x1x1xf32>)
  func.return %yh : tensor<2x1x1xf32>
}

// CHECK-LABEL: func.func @gru_bidi_const
// CHECK-DAG:     %Wz_T_fwd = rnn.constant dense<1.000000e+00> : tensor<1x1xf32>
// CHECK-DAG:     %Wh_T_fwd = rnn.constant dense<3.000000e+00> : tensor<1x1xf32>
// CHECK-DAG:     %Rr_T_fwd = rnn.constant dense<2.500000e-01> : tensor<1x1xf32>
// CHECK-DAG:     %Wz_T_rev = rnn.constant dense<4.000000e+00> : tensor<1x1xf32>
// CHECK-DAG:     %Rh_T_rev = rnn.constant dense<1.125000e+00> : tensor<1x1xf32>
// CHECK:         %h_last_fwd, %y_fwd = rnn.recurrence seqs(%x : tensor<2x1x1xf32>) inits(%h0_fwd : tensor<1x1xf32>)
// CHECK:           rnn.matmul %x_t, %Wz_T_fwd
// CHECK:         %h_last_rev, %y_rev = rnn.recurrence reverse seqs(%x : tensor<2x1x1xf32>) inits(%h0_rev : tensor<1x1xf32>)
// CHECK:           rnn.matmul %x_t_1, %Wz_T_rev
// CHECK:         %[[F:.*]] = rnn.unsqueeze %h_last_fwd {axes = array<i64: 0>}
// CHECK-NEXT:    %[[R:.*]] = rnn.unsqueeze %h_last_rev {axes = array<i64: 0>}
// CHECK-NEXT:    %yh = rnn.concat %[[F]], %[[R]] {axis = 0 : i64} : (tensor<1x1x1xf32>, tensor<1x1x1xf32>) -> tensor<2x1x1xf32>
