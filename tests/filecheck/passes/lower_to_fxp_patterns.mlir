// RUN: rnnc-opt %s --split-input-file -p 'lower-to-fxp{rounding="half-up" overflow="wrap"}' | filecheck %s

// lower-to-fxp alone, on IR whose formats are given (as assign-formats writes them).

// An add is exact in fxp, then cast to its assigned format; inputs and outputs
// cross with quantize (the pass's modes) and dequantize; arguments keep only their
// ONNX name and format.
func.func @add(%x: tensor<2xf32> {onnx.name = "x", rnnc.calib = [array<f64: -1.0, 1.0>], rnnc.format = [!fxp.fixed<8, 6>]}, %y: tensor<2xf32> {rnnc.format = [!fxp.fixed<8, 4>]}) -> tensor<2xf32> {
  %s = rnn.add %x, %y {rnnc.format = [!fxp.fixed<8, 5>]} : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  func.return %s : tensor<2xf32>
}

// CHECK-LABEL: func.func @add(%x: tensor<2xf32> {onnx.name = "x", rnnc.format = [!fxp.fixed<8, 6>]}, %y: tensor<2xf32> {rnnc.format = [!fxp.fixed<8, 4>]}) -> tensor<2xf32> {
// CHECK-NEXT:  %x_q = fxp.quantize %x {rounding = "half-up", overflow = "wrap"} : tensor<2xf32> -> tensor<2x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %y_q = fxp.quantize %y {rounding = "half-up", overflow = "wrap"} : tensor<2xf32> -> tensor<2x!fxp.fixed<8, 4>>
// CHECK-NEXT:  %[[V0:[0-9]+]] = fxp.add %x_q, %y_q : (tensor<2x!fxp.fixed<8, 6>>, tensor<2x!fxp.fixed<8, 4>>) -> tensor<2x!fxp.fixed<11, 6>>
// CHECK-NEXT:  %s = fxp.cast %[[V0]] {rounding = "half-up", overflow = "wrap"} : tensor<2x!fxp.fixed<11, 6>> -> tensor<2x!fxp.fixed<8, 5>>
// CHECK-NEXT:  %s_f = fxp.dequantize %s : tensor<2x!fxp.fixed<8, 5>> -> tensor<2xf32>
// CHECK-NEXT:  func.return %s_f : tensor<2xf32>

// -----

// A sub whose exact format is the assigned one needs no cast; a mul does.
func.func @sub_mul(%x: tensor<2xf32> {rnnc.format = [!fxp.fixed<8, 6>]}) -> tensor<2xf32> {
  %d = rnn.sub %x, %x {rnnc.format = [!fxp.fixed<9, 6>]} : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %p = rnn.mul %d, %d {rnnc.format = [!fxp.fixed<8, 4>]} : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  func.return %p : tensor<2xf32>
}

// CHECK-LABEL: func.func @sub_mul
// CHECK-NEXT:  %x_q = fxp.quantize %x {rounding = "half-up", overflow = "wrap"} : tensor<2xf32> -> tensor<2x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %d = fxp.sub %x_q, %x_q : (tensor<2x!fxp.fixed<8, 6>>, tensor<2x!fxp.fixed<8, 6>>) -> tensor<2x!fxp.fixed<9, 6>>
// CHECK-NEXT:  %[[V0:[0-9]+]] = fxp.mul %d, %d : (tensor<2x!fxp.fixed<9, 6>>, tensor<2x!fxp.fixed<9, 6>>) -> tensor<2x!fxp.fixed<18, 12>>
// CHECK-NEXT:  %p = fxp.cast %[[V0]] {rounding = "half-up", overflow = "wrap"} : tensor<2x!fxp.fixed<18, 12>> -> tensor<2x!fxp.fixed<8, 4>>
// CHECK-NEXT:  %p_f = fxp.dequantize %p : tensor<2x!fxp.fixed<8, 4>> -> tensor<2xf32>
// CHECK-NEXT:  func.return %p_f : tensor<2xf32>

// -----

// Weights are quantized half-even and saturating whatever the pass's modes, and
// keep their class; a mat-vec whose exact sum fits the accumulator is not cast,
// one that does not fit is.
func.func @matmul(%x: tensor<1x2xf32> {rnnc.format = [!fxp.fixed<8, 6>]}) -> (tensor<1x2xf32>, tensor<1x2xf32>) {
  %w = rnn.constant dense<[[0.5, -0.25], [1.5, 0.75]]> : tensor<2x2xf32> {rnnc.format = [!fxp.fixed<8, 6>], rnnc.qclass = "weight"}
  %fits = rnn.matmul %x, %w {rnnc.format = [!fxp.fixed<32, 12>]} : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  %narrow = rnn.matmul %x, %w {rnnc.format = [!fxp.fixed<8, 4>]} : (tensor<1x2xf32>, tensor<2x2xf32>) -> tensor<1x2xf32>
  func.return %fits, %narrow : tensor<1x2xf32>, tensor<1x2xf32>
}

// CHECK-LABEL: func.func @matmul
// CHECK-NEXT:  %x_q = fxp.quantize %x {rounding = "half-up", overflow = "wrap"} : tensor<1x2xf32> -> tensor<1x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %w = fxp.constant dense<{{\[}}[32, -16], [96, 48]]> : tensor<2x2xi8> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %fits = fxp.matmul %x_q, %w : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<2x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<17, 12>>
// CHECK-NEXT:  %[[V0:[0-9]+]] = fxp.matmul %x_q, %w : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<2x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<17, 12>>
// CHECK-NEXT:  %narrow = fxp.cast %[[V0]] {rounding = "half-up", overflow = "wrap"} : tensor<1x2x!fxp.fixed<17, 12>> -> tensor<1x2x!fxp.fixed<8, 4>>
// CHECK-NEXT:  %fits_f = fxp.dequantize %fits : tensor<1x2x!fxp.fixed<17, 12>> -> tensor<1x2xf32>
// CHECK-NEXT:  %narrow_f = fxp.dequantize %narrow : tensor<1x2x!fxp.fixed<8, 4>> -> tensor<1x2xf32>
// CHECK-NEXT:  func.return %fits_f, %narrow_f : tensor<1x2xf32>, tensor<1x2xf32>

// -----

// Gemm: the transposes, the exact product and bias, one cast.
func.func @gemm(%a: tensor<1x2xf32> {rnnc.format = [!fxp.fixed<8, 6>]}) -> tensor<1x3xf32> {
  %w = rnn.constant dense<[[0.5, -0.25], [1.0, 0.75], [0.0, 0.125]]> : tensor<3x2xf32> {rnnc.format = [!fxp.fixed<8, 6>], rnnc.qclass = "weight"}
  %b = rnn.constant dense<[0.5, 0.25, -0.5]> : tensor<3xf32> {rnnc.format = [!fxp.fixed<8, 7>], rnnc.qclass = "bias"}
  %g = rnn.gemm %a, %w, %b {trans_b = 1 : i64, rnnc.format = [!fxp.fixed<10, 6>]} : (tensor<1x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<1x3xf32>
  func.return %g : tensor<1x3xf32>
}

// CHECK-LABEL: func.func @gemm
// CHECK-NEXT:  %a_q = fxp.quantize %a {rounding = "half-up", overflow = "wrap"} : tensor<1x2xf32> -> tensor<1x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %w = fxp.constant dense<{{\[}}[32, -16], [64, 48], [0, 8]]> : tensor<3x2xi8> {rnnc.qclass = "weight"} -> tensor<3x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %b = fxp.constant dense<[64, 32, -64]> : tensor<3xi8> {rnnc.qclass = "bias"} -> tensor<3x!fxp.fixed<8, 7>>
// CHECK-NEXT:  %[[V0:[0-9]+]] = rnn.transpose %w {perm = array<i64: 1, 0>} : tensor<3x2x!fxp.fixed<8, 6>> -> tensor<2x3x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %[[V1:[0-9]+]] = fxp.matmul %a_q, %[[V0]] : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<2x3x!fxp.fixed<8, 6>>) -> tensor<1x3x!fxp.fixed<17, 12>>
// CHECK-NEXT:  %[[V2:[0-9]+]] = fxp.add %[[V1]], %b : (tensor<1x3x!fxp.fixed<17, 12>>, tensor<3x!fxp.fixed<8, 7>>) -> tensor<1x3x!fxp.fixed<18, 12>>
// CHECK-NEXT:  %g = fxp.cast %[[V2]] {rounding = "half-up", overflow = "wrap"} : tensor<1x3x!fxp.fixed<18, 12>> -> tensor<1x3x!fxp.fixed<10, 6>>
// CHECK-NEXT:  %g_f = fxp.dequantize %g : tensor<1x3x!fxp.fixed<10, 6>> -> tensor<1x3xf32>
// CHECK-NEXT:  func.return %g_f : tensor<1x3xf32>

// -----

// Relu clips at raw 0; clip bounds become the raw values of the input format
// inside them (ceil of the lower, floor of the upper).
func.func @relu_clip(%x: tensor<4xf32> {rnnc.format = [!fxp.fixed<8, 4>]}) -> (tensor<4xf32>, tensor<4xf32>) {
  %r = rnn.relu %x {rnnc.format = [!fxp.fixed<8, 4>]} : tensor<4xf32>
  %c = rnn.clip %x {min = -1.03 : f32, max = 2.5 : f32, rnnc.format = [!fxp.fixed<6, 3>]} : tensor<4xf32>
  func.return %r, %c : tensor<4xf32>, tensor<4xf32>
}

// CHECK-LABEL: func.func @relu_clip
// CHECK-NEXT:  %x_q = fxp.quantize %x {rounding = "half-up", overflow = "wrap"} : tensor<4xf32> -> tensor<4x!fxp.fixed<8, 4>>
// CHECK-NEXT:  %r = fxp.clip %x_q {min = 0 : i64, max = 127 : i64} : tensor<4x!fxp.fixed<8, 4>>
// CHECK-NEXT:  %[[V0:[0-9]+]] = fxp.clip %x_q {min = -16 : i64, max = 40 : i64} : tensor<4x!fxp.fixed<8, 4>>
// CHECK-NEXT:  %c = fxp.cast %[[V0]] {rounding = "half-up", overflow = "wrap"} : tensor<4x!fxp.fixed<8, 4>> -> tensor<4x!fxp.fixed<6, 3>>
// CHECK-NEXT:  %r_f = fxp.dequantize %r : tensor<4x!fxp.fixed<8, 4>> -> tensor<4xf32>
// CHECK-NEXT:  %c_f = fxp.dequantize %c : tensor<4x!fxp.fixed<6, 3>> -> tensor<4xf32>
// CHECK-NEXT:  func.return %r_f, %c_f : tensor<4xf32>, tensor<4xf32>

// -----

// A sigmoid table over |x|: entries at the bins' centres in the output format,
// the index shift from the input's fractional bits.
func.func @lut(%x: tensor<2xf32> {rnnc.format = [!fxp.fixed<8, 4>]}) -> tensor<2xf32> {
  %s = rnn.lut "Sigmoid" %x {log2_range = 3 : i64, log2_entries = 3 : i64, rnnc.format = [!fxp.fixed<8, 7>]} : tensor<2xf32>
  func.return %s : tensor<2xf32>
}

// CHECK-LABEL: func.func @lut
// CHECK-NEXT:  %x_q = fxp.quantize %x {rounding = "half-up", overflow = "wrap"} : tensor<2xf32> -> tensor<2x!fxp.fixed<8, 4>>
// CHECK-NEXT:  %s = fxp.lut %x_q {table = dense<[80, 105, 118, 124, 127, 127, 127, 127]> : tensor<8xi64>, shift = 4 : i64, symmetry = "sigmoid"} : tensor<2x!fxp.fixed<8, 4>> -> tensor<2x!fxp.fixed<8, 7>>
// CHECK-NEXT:  %s_f = fxp.dequantize %s : tensor<2x!fxp.fixed<8, 7>> -> tensor<2xf32>
// CHECK-NEXT:  func.return %s_f : tensor<2xf32>

// -----

// PWL: breakpoints on the input grid, slopes in 16 bits, intercepts in the output
// format; the pass's rounding, always saturating.
func.func @pwl(%x: tensor<2xf32> {rnnc.format = [!fxp.fixed<8, 4>]}) -> tensor<2xf32> {
  %p = rnn.pwl %x {breakpoints = array<f64: -1.0, 1.0>, slopes = array<f64: 0.0, 0.5, 0.0>, intercepts = array<f64: -0.5, 0.0, 0.5>, rnnc.format = [!fxp.fixed<8, 6>]} : tensor<2xf32>
  func.return %p : tensor<2xf32>
}

// CHECK-LABEL: func.func @pwl
// CHECK-NEXT:  %x_q = fxp.quantize %x {rounding = "half-up", overflow = "wrap"} : tensor<2xf32> -> tensor<2x!fxp.fixed<8, 4>>
// CHECK-NEXT:  %p = fxp.pwl %x_q {breakpoints = array<i64: -16, 16>, slopes = array<i64: 0, 16384, 0>, intercepts = array<i64: -32, 0, 32>, slope_frac = 15 : i64, rounding = "half-up"} : tensor<2x!fxp.fixed<8, 4>> -> tensor<2x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %p_f = fxp.dequantize %p : tensor<2x!fxp.fixed<8, 6>> -> tensor<2xf32>
// CHECK-NEXT:  func.return %p_f : tensor<2xf32>

// -----

// Select casts the false branch to the true branch's format; concat casts every
// part to the smallest format holding them all; layout ops only change types.
func.func @select_concat(%m: tensor<2x1xi1>, %x: tensor<2x1xf32> {rnnc.format = [!fxp.fixed<8, 6>]}, %y: tensor<2x1xf32> {rnnc.format = [!fxp.fixed<8, 4>]}) -> (tensor<2x1xf32>, tensor<2x2xf32>) {
  %s = rnn.select %m, %x, %y : (tensor<2x1xi1>, tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<2x1xf32>
  %c = rnn.concat %x, %y {axis = 1 : i64} : (tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<2x2xf32>
  %t = rnn.transpose %c {perm = array<i64: 1, 0>} : tensor<2x2xf32> -> tensor<2x2xf32>
  func.return %s, %t : tensor<2x1xf32>, tensor<2x2xf32>
}

// CHECK-LABEL: func.func @select_concat
// CHECK-NEXT:  %x_q = fxp.quantize %x {rounding = "half-up", overflow = "wrap"} : tensor<2x1xf32> -> tensor<2x1x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %y_q = fxp.quantize %y {rounding = "half-up", overflow = "wrap"} : tensor<2x1xf32> -> tensor<2x1x!fxp.fixed<8, 4>>
// CHECK-NEXT:  %[[V0:[0-9]+]] = fxp.cast %y_q {rounding = "half-up", overflow = "wrap"} : tensor<2x1x!fxp.fixed<8, 4>> -> tensor<2x1x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %s = rnn.select %m, %x_q, %[[V0]] : (tensor<2x1xi1>, tensor<2x1x!fxp.fixed<8, 6>>, tensor<2x1x!fxp.fixed<8, 6>>) -> tensor<2x1x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %[[V1:[0-9]+]] = fxp.cast %x_q {rounding = "half-up", overflow = "wrap"} : tensor<2x1x!fxp.fixed<8, 6>> -> tensor<2x1x!fxp.fixed<10, 6>>
// CHECK-NEXT:  %[[V2:[0-9]+]] = fxp.cast %y_q {rounding = "half-up", overflow = "wrap"} : tensor<2x1x!fxp.fixed<8, 4>> -> tensor<2x1x!fxp.fixed<10, 6>>
// CHECK-NEXT:  %c = rnn.concat %[[V1]], %[[V2]] {axis = 1 : i64} : (tensor<2x1x!fxp.fixed<10, 6>>, tensor<2x1x!fxp.fixed<10, 6>>) -> tensor<2x2x!fxp.fixed<10, 6>>
// CHECK-NEXT:  %t = rnn.transpose %c {perm = array<i64: 1, 0>} : tensor<2x2x!fxp.fixed<10, 6>> -> tensor<2x2x!fxp.fixed<10, 6>>
// CHECK-NEXT:  %s_f = fxp.dequantize %s : tensor<2x1x!fxp.fixed<8, 6>> -> tensor<2x1xf32>
// CHECK-NEXT:  %t_f = fxp.dequantize %t : tensor<2x2x!fxp.fixed<10, 6>> -> tensor<2x2xf32>
// CHECK-NEXT:  func.return %s_f, %t_f : tensor<2x1xf32>, tensor<2x2xf32>

// -----

// A softmax head in fixed point (passes/softmax.py): the maximum subtracted,
// exp table, exact sum, log table, log-probabilities, exp table again. Internal
// widths are the output's + 2; a table has 2^12 entries or one per input lsb.
func.func @softmax(%x: tensor<1x3xf32> {rnnc.format = [!fxp.fixed<8, 4>]}) -> tensor<1x3xf32> {
  %s = rnn.softmax %x {axis = 1 : i64, rnnc.format = [!fxp.fixed<8, 6>]} : tensor<1x3xf32>
  func.return %s : tensor<1x3xf32>
}

// CHECK-LABEL: func.func @softmax
// CHECK-NEXT:  %x_q = fxp.quantize %x {rounding = "half-up", overflow = "wrap"} : tensor<1x3xf32> -> tensor<1x3x!fxp.fixed<8, 4>>
// CHECK-NEXT:  %s_max = fxp.reduce_max %x_q : tensor<1x3x!fxp.fixed<8, 4>> -> tensor<1x1x!fxp.fixed<8, 4>>
// CHECK-NEXT:  %s_shifted = fxp.sub %x_q, %s_max : (tensor<1x3x!fxp.fixed<8, 4>>, tensor<1x1x!fxp.fixed<8, 4>>) -> tensor<1x3x!fxp.fixed<9, 4>>
// CHECK-NEXT:  %s_exp = fxp.lut %s_shifted {rnnc.softmax_table = "exp", table = dense<{{.*}}> : tensor<512xi64>, shift = 0 : i64, symmetry = "none"} : tensor<1x3x!fxp.fixed<9, 4>> -> tensor<1x3x!fxp.fixed<10, 8>>
// CHECK-NEXT:  %s_sum = fxp.reduce_sum %s_exp : tensor<1x3x!fxp.fixed<10, 8>> -> tensor<1x1x!fxp.fixed<12, 8>>
// CHECK-NEXT:  %s_log = fxp.lut %s_sum {rnnc.softmax_table = "log", table = dense<{{.*}}> : tensor<2048xi64>, shift = 0 : i64, symmetry = "none"} : tensor<1x1x!fxp.fixed<12, 8>> -> tensor<1x1x!fxp.fixed<10, 8>>
// CHECK-NEXT:  %s_logp = fxp.sub %s_shifted, %s_log : (tensor<1x3x!fxp.fixed<9, 4>>, tensor<1x1x!fxp.fixed<10, 8>>) -> tensor<1x3x!fxp.fixed<14, 8>>
// CHECK-NEXT:  %s = fxp.lut %s_logp {rnnc.softmax_table = "exp", table = dense<{{.*}}> : tensor<4096xi64>, shift = 1 : i64, symmetry = "none"} : tensor<1x3x!fxp.fixed<14, 8>> -> tensor<1x3x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %s_f = fxp.dequantize %s : tensor<1x3x!fxp.fixed<8, 6>> -> tensor<1x3xf32>
// CHECK-NEXT:  func.return %s_f : tensor<1x3xf32>

// -----

// A log-softmax ends with a cast of the log-probabilities: the policy's rounding,
// saturating (a log-probability below the range is its minimum, never wrapped).
func.func @log_softmax(%x: tensor<2x4xf32> {rnnc.format = [!fxp.fixed<8, 4>]}) -> tensor<2x4xf32> {
  %s = rnn.log_softmax %x {rnnc.format = [!fxp.fixed<8, 4>]} : tensor<2x4xf32>
  func.return %s : tensor<2x4xf32>
}

// CHECK-LABEL: func.func @log_softmax
// CHECK:       %s_log = fxp.lut %s_sum {rnnc.softmax_table = "log", table = dense<{{.*}}> : tensor<4096xi64>, shift = 0 : i64, symmetry = "none"} : tensor<2x1x!fxp.fixed<12, 8>> -> tensor<2x1x!fxp.fixed<10, 8>>
// CHECK-NEXT:  %s_logp = fxp.sub %s_shifted, %s_log
// CHECK-NEXT:  %s = fxp.cast %s_logp {rounding = "half-up"} : tensor<2x4x!fxp.fixed<14, 8>> -> tensor<2x4x!fxp.fixed<8, 4>>
// CHECK-NEXT:  %s_f = fxp.dequantize %s

// -----

// A recurrence: its initial state cast to the state format, the body's arguments
// retyped, the next state cast back to it before the yield.
func.func @recurrence(%x: tensor<3x1x2xf32> {rnnc.format = [!fxp.fixed<8, 6>]}) -> tensor<1x2xf32> {
  %h0 = rnn.constant dense<0.0> : tensor<1x2xf32> {rnnc.format = [!fxp.fixed<8, 7>], rnnc.qclass = "state"}
  %h, %ys = rnn.recurrence seqs(%x : tensor<3x1x2xf32>) inits(%h0 : tensor<1x2xf32>) {state_formats = [!fxp.fixed<8, 5>]} -> tensor<1x2xf32>, tensor<3x1x2xf32> {
  ^bb0(%xt: tensor<1x2xf32>, %hp: tensor<1x2xf32>):
    %hn = rnn.add %xt, %hp {rnnc.format = [!fxp.fixed<10, 6>]} : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<1x2xf32>
    rnn.yield %hn, %hn : tensor<1x2xf32>, tensor<1x2xf32>
  }
  func.return %h : tensor<1x2xf32>
}

// CHECK-LABEL: func.func @recurrence
// CHECK-NEXT:  %x_q = fxp.quantize %x {rounding = "half-up", overflow = "wrap"} : tensor<3x1x2xf32> -> tensor<3x1x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:  %h0 = fxp.constant dense<0> : tensor<1x2xi8> {rnnc.qclass = "state"} -> tensor<1x2x!fxp.fixed<8, 7>>
// CHECK-NEXT:  %[[V0:[0-9]+]] = fxp.cast %h0 {rounding = "half-up", overflow = "wrap"} : tensor<1x2x!fxp.fixed<8, 7>> -> tensor<1x2x!fxp.fixed<8, 5>>
// CHECK-NEXT:  %h, %ys = rnn.recurrence seqs(%x_q : tensor<3x1x2x!fxp.fixed<8, 6>>) inits(%[[V0]] : tensor<1x2x!fxp.fixed<8, 5>>) -> tensor<1x2x!fxp.fixed<8, 5>>, tensor<3x1x2x!fxp.fixed<10, 6>> {
// CHECK-NEXT:  ^bb0(%xt: tensor<1x2x!fxp.fixed<8, 6>>, %hp: tensor<1x2x!fxp.fixed<8, 5>>):
// CHECK-NEXT:  %hn = fxp.add %xt, %hp : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<1x2x!fxp.fixed<8, 5>>) -> tensor<1x2x!fxp.fixed<10, 6>>
// CHECK-NEXT:  %[[V1:[0-9]+]] = fxp.cast %hn {rounding = "half-up", overflow = "wrap"} : tensor<1x2x!fxp.fixed<10, 6>> -> tensor<1x2x!fxp.fixed<8, 5>>
// CHECK-NEXT:  rnn.yield %[[V1]], %hn : tensor<1x2x!fxp.fixed<8, 5>>, tensor<1x2x!fxp.fixed<10, 6>>
// CHECK-NEXT:  }
// CHECK-NEXT:  %h_f = fxp.dequantize %h : tensor<1x2x!fxp.fixed<8, 5>> -> tensor<1x2xf32>
// CHECK-NEXT:  func.return %h_f : tensor<1x2xf32>
