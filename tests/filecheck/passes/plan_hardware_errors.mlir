// RUN: not rnnc-opt %s -p plan-hardware 2>&1 | filecheck %s

// GRU with linear_before_reset=0: the recurrent product of the candidate reads
// r ⊙ h of the same step, a computed vector, which the mat-vec unit cannot fetch.
func.func @main(%x: tensor<2x1x2xf32> {onnx.name = "x", rnnc.format = [!fxp.fixed<16, 15>]}) -> (tensor<2x1x1x2xf32> {onnx.name = "Y"}) {
  %x_q = fxp.quantize %x : tensor<2x1x2xf32> -> tensor<2x1x2x!fxp.fixed<16, 15>>
  %Wz_T = fxp.constant dense<[[-42, 106], [-11, 42]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 7>>
  %Rz_T = fxp.constant dense<[[10, -48], [16, 72]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 6>>
  %Wr_T = fxp.constant dense<[[-105, -40], [0, 10]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 7>>
  %Rr_T = fxp.constant dense<[[-123, -21], [71, -56]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 7>>
  %Wh_T = fxp.constant dense<[[-103, 15], [15, 101]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 7>>
  %Rh_T = fxp.constant dense<[[-84, 49], [-86, -14]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 8>>
  %h0 = fxp.constant dense<0> : tensor<1x2xi64> {rnnc.qclass = "state"} -> tensor<1x2x!fxp.fixed<16, 15>>
  %Bz = fxp.constant dense<[14927, -21226]> : tensor<2xi64> {rnnc.qclass = "bias"} -> tensor<2x!fxp.fixed<16, 16>>
  %Br = fxp.constant dense<[-19495, 1221]> : tensor<2xi64> {rnnc.qclass = "bias"} -> tensor<2x!fxp.fixed<16, 16>>
  %Bh = fxp.constant dense<[25024, -29130]> : tensor<2xi64> {rnnc.qclass = "bias"} -> tensor<2x!fxp.fixed<16, 17>>
  %0 = fxp.cast %h0 : tensor<1x2x!fxp.fixed<16, 15>> -> tensor<1x2x!fxp.fixed<16, 16>>
  %h_last_fwd, %y_fwd = rnn.recurrence seqs(%x_q : tensor<2x1x2x!fxp.fixed<16, 15>>) inits(%0 : tensor<1x2x!fxp.fixed<16, 16>>) -> tensor<1x2x!fxp.fixed<16, 16>>, tensor<2x1x2x!fxp.fixed<16, 16>> {
  ^bb0(%x_t: tensor<1x2x!fxp.fixed<16, 15>>, %h_prev: tensor<1x2x!fxp.fixed<16, 16>>):
    %1 = fxp.matmul %x_t, %Wz_T : (tensor<1x2x!fxp.fixed<16, 15>>, tensor<2x2x!fxp.fixed<8, 7>>) -> tensor<1x2x!fxp.fixed<25, 22>>
    %2 = fxp.add %1, %Bz : (tensor<1x2x!fxp.fixed<25, 22>>, tensor<2x!fxp.fixed<16, 16>>) -> tensor<1x2x!fxp.fixed<26, 22>>
    %xz_z = fxp.cast %2 : tensor<1x2x!fxp.fixed<26, 22>> -> tensor<1x2x!fxp.fixed<16, 14>>
    %3 = fxp.matmul %h_prev, %Rz_T : (tensor<1x2x!fxp.fixed<16, 16>>, tensor<2x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<25, 22>>
    %4 = fxp.add %xz_z, %3 : (tensor<1x2x!fxp.fixed<16, 14>>, tensor<1x2x!fxp.fixed<25, 22>>) -> tensor<1x2x!fxp.fixed<26, 22>>
    %z_z = fxp.cast %4 : tensor<1x2x!fxp.fixed<26, 22>> -> tensor<1x2x!fxp.fixed<16, 14>>
    %update = fxp.lut %z_z {table = dense<[18421, 22255, 25471, 27917, 29644, 30799, 31545, 32015, 32307, 32487, 32597, 32664, 32705, 32730, 32745, 32754]> : tensor<16xi64>, shift = 13 : i64, symmetry = "sigmoid"} : tensor<1x2x!fxp.fixed<16, 14>> -> tensor<1x2x!fxp.fixed<16, 15>>
    %5 = fxp.matmul %x_t, %Wr_T : (tensor<1x2x!fxp.fixed<16, 15>>, tensor<2x2x!fxp.fixed<8, 7>>) -> tensor<1x2x!fxp.fixed<25, 22>>
    %6 = fxp.add %5, %Br : (tensor<1x2x!fxp.fixed<25, 22>>, tensor<2x!fxp.fixed<16, 16>>) -> tensor<1x2x!fxp.fixed<26, 22>>
    %xz_r = fxp.cast %6 : tensor<1x2x!fxp.fixed<26, 22>> -> tensor<1x2x!fxp.fixed<16, 14>>
    %7 = fxp.matmul %h_prev, %Rr_T : (tensor<1x2x!fxp.fixed<16, 16>>, tensor<2x2x!fxp.fixed<8, 7>>) -> tensor<1x2x!fxp.fixed<25, 23>>
    %8 = fxp.add %xz_r, %7 : (tensor<1x2x!fxp.fixed<16, 14>>, tensor<1x2x!fxp.fixed<25, 23>>) -> tensor<1x2x!fxp.fixed<26, 23>>
    %z_r = fxp.cast %8 : tensor<1x2x!fxp.fixed<26, 23>> -> tensor<1x2x!fxp.fixed<16, 14>>
    %reset = fxp.lut %z_r {table = dense<[18421, 22255, 25471, 27917, 29644, 30799, 31545, 32015, 32307, 32487, 32597, 32664, 32705, 32730, 32745, 32754]> : tensor<16xi64>, shift = 13 : i64, symmetry = "sigmoid"} : tensor<1x2x!fxp.fixed<16, 14>> -> tensor<1x2x!fxp.fixed<16, 15>>
    %9 = fxp.mul %reset, %h_prev : (tensor<1x2x!fxp.fixed<16, 15>>, tensor<1x2x!fxp.fixed<16, 16>>) -> tensor<1x2x!fxp.fixed<32, 31>>
    %reset_h = fxp.cast %9 : tensor<1x2x!fxp.fixed<32, 31>> -> tensor<1x2x!fxp.fixed<16, 17>>
    %10 = fxp.matmul %x_t, %Wh_T : (tensor<1x2x!fxp.fixed<16, 15>>, tensor<2x2x!fxp.fixed<8, 7>>) -> tensor<1x2x!fxp.fixed<25, 22>>
    %11 = fxp.add %10, %Bh : (tensor<1x2x!fxp.fixed<25, 22>>, tensor<2x!fxp.fixed<16, 17>>) -> tensor<1x2x!fxp.fixed<26, 22>>
    %xz_h = fxp.cast %11 : tensor<1x2x!fxp.fixed<26, 22>> -> tensor<1x2x!fxp.fixed<16, 15>>
    %12 = fxp.matmul %reset_h, %Rh_T : (tensor<1x2x!fxp.fixed<16, 17>>, tensor<2x2x!fxp.fixed<8, 8>>) -> tensor<1x2x!fxp.fixed<25, 25>>
    %13 = fxp.add %xz_h, %12 : (tensor<1x2x!fxp.fixed<16, 15>>, tensor<1x2x!fxp.fixed<25, 25>>) -> tensor<1x2x!fxp.fixed<27, 25>>
    %z_h = fxp.cast %13 : tensor<1x2x!fxp.fixed<27, 25>> -> tensor<1x2x!fxp.fixed<16, 15>>
    %h_cand = fxp.lut %z_h {table = dense<[4075, 11743, 18173, 23066, 26519, 28830, 30322, 31262, 31846, 32206, 32426, 32560, 32642, 32691, 32721, 32740]> : tensor<16xi64>, shift = 13 : i64, symmetry = "odd"} : tensor<1x2x!fxp.fixed<16, 15>> -> tensor<1x2x!fxp.fixed<16, 15>>
    %one = fxp.constant dense<16384> : tensor<1xi64> {rnnc.qclass = "bias"} -> tensor<1x!fxp.fixed<16, 14>>
    %14 = fxp.sub %one, %update : (tensor<1x!fxp.fixed<16, 14>>, tensor<1x2x!fxp.fixed<16, 15>>) -> tensor<1x2x!fxp.fixed<18, 15>>
    %15 = fxp.cast %14 : tensor<1x2x!fxp.fixed<18, 15>> -> tensor<1x2x!fxp.fixed<16, 15>>
    %16 = fxp.mul %15, %h_cand : (tensor<1x2x!fxp.fixed<16, 15>>, tensor<1x2x!fxp.fixed<16, 15>>) -> tensor<1x2x!fxp.fixed<32, 30>>
    %17 = fxp.cast %16 : tensor<1x2x!fxp.fixed<32, 30>> -> tensor<1x2x!fxp.fixed<16, 16>>
    %18 = fxp.mul %update, %h_prev : (tensor<1x2x!fxp.fixed<16, 15>>, tensor<1x2x!fxp.fixed<16, 16>>) -> tensor<1x2x!fxp.fixed<32, 31>>
    %19 = fxp.cast %18 : tensor<1x2x!fxp.fixed<32, 31>> -> tensor<1x2x!fxp.fixed<16, 17>>
    %20 = fxp.add %17, %19 : (tensor<1x2x!fxp.fixed<16, 16>>, tensor<1x2x!fxp.fixed<16, 17>>) -> tensor<1x2x!fxp.fixed<18, 17>>
    %h_next = fxp.cast %20 : tensor<1x2x!fxp.fixed<18, 17>> -> tensor<1x2x!fxp.fixed<16, 16>>
    rnn.yield %h_next, %h_next : tensor<1x2x!fxp.fixed<16, 16>>, tensor<1x2x!fxp.fixed<16, 16>>
  }
  %Y = rnn.unsqueeze %y_fwd {axes = array<i64: 1>} : tensor<2x1x2x!fxp.fixed<16, 16>> -> tensor<2x1x1x2x!fxp.fixed<16, 16>>
  %Y_f = fxp.dequantize %Y : tensor<2x1x1x2x!fxp.fixed<16, 16>> -> tensor<2x1x1x2xf32>
  func.return %Y_f : tensor<2x1x1x2xf32>
}

// CHECK: rnnc-opt: error: hardware backend does not support a matrix product of a computed vector (%reset_h): e.g. GRU with linear_before_reset=0
