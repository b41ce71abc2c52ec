// RUN: rnnc-opt %s --split-input-file -p 'lower-fxp-to-hw{lanes=2}' | filecheck %s --check-prefixes=CHECK,L2
// RUN: rnnc-opt %s --split-input-file -p 'lower-fxp-to-hw{lanes=1}' | filecheck %s --check-prefixes=CHECK,L1
// RUN: not rnnc-opt %s --split-input-file -p 'lower-fxp-to-hw{lanes=0}' 2>&1 | filecheck %s --check-prefix=LANES
// RUN: rnnc-opt %s --split-input-file -p lower-fxp-to-hw | rnnc-opt --split-input-file | filecheck %s --check-prefix=ROUNDTRIP

// lower-fxp-to-hw = plan-hardware, then build-datapath: the same circuit, also
// when the plan goes through its printed form.
// RUN: rnnc-opt %s --split-input-file -p 'lower-fxp-to-hw{lanes=2}' > %t.direct
// RUN: rnnc-opt %s --split-input-file -p plan-hardware | rnnc-opt --split-input-file -p 'build-datapath{lanes=2}' > %t.two-steps
// RUN: diff %t.direct %t.two-steps

// A 3-step recurrence (mat-vec, bias, cast, LUT, add) and an elementwise head on
// its final state. Two MAC lanes: one weight ROM per lane holding its output
// columns in (group, k) order, exact signed products (`$signed(x) * $signed(w)`,
// registered) into an accumulator of the fxp.matmul width, per-lane result
// memories, one named register per elementwise op (no reset: datapath),
// state/input/output buffers, and the ROM contents as a module attribute for
// the .hex files. The input buffer has two banks (load while computing).
func.func @rnn_head(%x: tensor<3x1x2xf32> {onnx.name = "x", rnnc.format = [!fxp.fixed<8, 6>]}) -> tensor<1x2xf32> {
  %x_q = fxp.quantize %x {rounding = "floor"} : tensor<3x1x2xf32> -> tensor<3x1x2x!fxp.fixed<8, 6>>
  %w = fxp.constant dense<[[32, -16], [96, 48]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 6>>
  %b = fxp.constant dense<[26214, -26214]> : tensor<2xi64> {rnnc.qclass = "bias"} -> tensor<2x!fxp.fixed<16, 18>>
  %h0 = fxp.constant dense<0> : tensor<1x2xi64> {rnnc.qclass = "state"} -> tensor<1x2x!fxp.fixed<8, 7>>
  %0 = fxp.cast %h0 {rounding = "floor"} : tensor<1x2x!fxp.fixed<8, 7>> -> tensor<1x2x!fxp.fixed<8, 6>>
  %h, %ys = rnn.recurrence seqs(%x_q : tensor<3x1x2x!fxp.fixed<8, 6>>) inits(%0 : tensor<1x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<8, 6>>, tensor<3x1x2x!fxp.fixed<8, 6>> {
  ^bb0(%xt: tensor<1x2x!fxp.fixed<8, 6>>, %hp: tensor<1x2x!fxp.fixed<8, 6>>):
    %z = fxp.matmul %xt, %w : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<2x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<17, 12>>
    %1 = fxp.add %z, %b : (tensor<1x2x!fxp.fixed<17, 12>>, tensor<2x!fxp.fixed<16, 18>>) -> tensor<1x2x!fxp.fixed<24, 18>>
    %zb = fxp.cast %1 {rounding = "floor"} : tensor<1x2x!fxp.fixed<24, 18>> -> tensor<1x2x!fxp.fixed<8, 5>>
    %a = fxp.lut %zb {table = dense<[16, 46, 71, 90, 104, 113, 118, 122, 124, 126, 127, 127, 127, 127, 127, 127]> : tensor<16xi64>, shift = 3 : i64, symmetry = "odd"} : tensor<1x2x!fxp.fixed<8, 5>> -> tensor<1x2x!fxp.fixed<8, 7>>
    %2 = fxp.add %a, %hp : (tensor<1x2x!fxp.fixed<8, 7>>, tensor<1x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<10, 7>>
    %hn = fxp.cast %2 {rounding = "floor"} : tensor<1x2x!fxp.fixed<10, 7>> -> tensor<1x2x!fxp.fixed<8, 6>>
    rnn.yield %hn, %hn : tensor<1x2x!fxp.fixed<8, 6>>, tensor<1x2x!fxp.fixed<8, 6>>
  }
  %3 = fxp.mul %h, %h : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<1x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<16, 12>>
  %o = fxp.cast %3 {rounding = "floor"} : tensor<1x2x!fxp.fixed<16, 12>> -> tensor<1x2x!fxp.fixed<10, 7>>
  %o_f = fxp.dequantize %o : tensor<1x2x!fxp.fixed<10, 7>> -> tensor<1x2xf32>
  func.return %o_f : tensor<1x2xf32>
}

// L2:         builtin.module attributes {rnnc.memories = {mac_w = dense<{{\[}}[32, -16], [96, 48]]> : tensor<2x2xi64>}} {
// L1:         builtin.module attributes {rnnc.memories = {mac_w = dense<[32, 96, -16, 48]> : tensor<4xi64>}} {
// CHECK-LABEL:  hw.module @rnnc_top(in %clk: !seq.clock, in %rst: i1, in %in_valid: i1, in %in_data: i8, in %out_ready: i1, out in_ready: i1, out out_valid: i1, out out_data: i10, out out_last: i1) {
// CHECK-NEXT:     sv.verbatim "// verilator lint_off UNUSEDSIGNAL"
// The controller's mode (idle, r0, h1, output), then the buffers.
// CHECK-NEXT:     %{{.*}} = hw.constant 0 : i2
// CHECK-NEXT:     %[[MODE:.*]] = seq.compreg %{{.*}}, %clk reset %rst, %{{[0-9]+}} {name = "mode"} : i2
// CHECK-NEXT:     %buf_input = sv.reg name "buf_input" : !hw.inout<uarray<12xi8>>
// CHECK-NEXT:     %buf_r0_hp = sv.reg name "buf_r0_hp" : !hw.inout<uarray<4xi8>>
// CHECK-NEXT:     %buf_h1_o = sv.reg name "buf_h1_o" : !hw.inout<uarray<2xi10>>
// CHECK:          sv.alwaysff(posedge %{{.*}}) {
// CHECK:            sv.passign %{{.*}}, %in_data : i8
// The MAC array's accumulators, then the stage's result memories.
// CHECK:          seq.compreg %{{.*}}, %clk {name = "mac_acc0"} : i17
// L2-NEXT:        seq.compreg %{{.*}}, %clk {name = "mac_acc1"} : i17
// L1-NOT:         mac_acc1
// The mat-vec operand x_t: the input buffer word registered as it is read (a
// synchronous read) and once more, then the lanes' operand (mac_x_d, below).
// CHECK:          %[[XA:.*]] = sv.array_index_inout %buf_input[%{{.*}}] : !hw.inout<uarray<12xi8>>, i4
// CHECK-NEXT:     %[[XW:.*]] = sv.read_inout %[[XA]] : !hw.inout<i8>
// CHECK-NEXT:     %[[XR:.*]] = seq.compreg %[[XW]], %clk : i8
// CHECK-NEXT:     %[[XQ:.*]] = seq.compreg %[[XR]], %clk : i8
// CHECK:          sv.reg name "r0_acc0_0" : !hw.inout<uarray<2xi17>>
// L2:             sv.reg name "r0_acc1_0" : !hw.inout<uarray<2xi17>>
// L1-NOT:         r0_acc1_0
// CHECK:          seq.compreg %{{.*}}, %clk {name = "r0_v"} : i24
// CHECK:          seq.compreg %{{.*}}, %clk {name = "r0_zb"} : i8
// The LUT in three stages: the index (|x| shifted and clamped, the sign on
// top) registered; the table read at it and registered (a synchronous ROM);
// the op's register. The ROM holds the entries as fxp.lut gives them: y at
// index i, the odd table's reflection -y at 16 + i, saturated to 8 bits.
// CHECK:          %[[NEG:.*]] = comb.sub %{{.*}}, %{{.*}} : i9
// CHECK-NEXT:     comb.mux %[[SGN:.*]], %[[NEG]], %{{.*}} : i9
// CHECK:          %[[I4:.*]] = comb.extract %{{.*}} from 0 : (i7) -> i4
// CHECK-NEXT:     %[[I5:.*]] = comb.concat %[[SGN]], %[[I4]] : i1, i4
// CHECK-NEXT:     hw.constant 16 : i8
// CHECK-NEXT:     hw.constant 46 : i8
// CHECK-COUNT-14: hw.constant {{[0-9]+}} : i8
// CHECK-NEXT:     hw.constant -16 : i8
// CHECK-NEXT:     hw.constant -46 : i8
// CHECK-COUNT-14: hw.constant -{{[0-9]+}} : i8
// CHECK-NEXT:     %[[TAB:.*]] = hw.array_create %{{.*}} : i8
// CHECK-NEXT:     %[[IDX:.*]] = seq.compreg %[[I5]], %clk {name = "r0_a_index"} : i5
// CHECK-NEXT:     %[[Y:.*]] = hw.array_get %[[TAB]][%[[IDX]]] : !hw.array<32xi8>, i5
// CHECK-NEXT:     %[[YQ:.*]] = seq.compreg %[[Y]], %clk {name = "r0_a_entry"{{.*}}} : i8
// CHECK-NEXT:     seq.compreg %[[YQ]], %clk {name = "r0_a"} : i8
// CHECK:          seq.compreg %{{.*}}, %clk {name = "r0_hn"} : i8
// The head's fxp.mul h · h (on the product pool's multiplier, below).
// CHECK:          %{{.*}} = seq.compreg %[[SQ:.*]], %clk {name = "h1_v"} : i16
// CHECK:          seq.compreg %{{.*}}, %clk {name = "h1_o"} : i10
// The lanes: one weight ROM whose word holds both lanes' weights, read
// synchronously and registered twice (the block RAM's register, then the
// fabric's); each lane's field of it; every lane multiplies the operand
// register by its weight register, straight from registers.
// CHECK:          sv.assign %mac_x_d, %[[XQ]] : i8
// CHECK-NEXT:     %[[XD:.*]] = sv.read_inout %mac_x_d : !hw.inout<i8>
// L2:             sv.readmem %mac_w, "mac_w.hex", MemBaseHex : !hw.inout<uarray<2xi16>>
// L2:             %[[RD:.*]] = seq.compreg %{{.*}}, %clk {name = "mac_w_rd"} : i16
// L2-NEXT:        %[[ROW:.*]] = seq.compreg %[[RD]], %clk {name = "mac_w_q"} : i16
// L2-NEXT:        %[[X:.*]] = seq.compreg %[[XD]], %clk {name = "mac_x"} : i8
// L2-NEXT:        %[[F0:.*]] = comb.extract %[[ROW]] from 0 : (i16) -> i8
// L2-NEXT:        %mac_w0 = sv.wire name "mac_w0" : !hw.inout<i8>
// L2-NEXT:        sv.assign %mac_w0, %[[F0]] : i8
// L2-NEXT:        %[[W0:.*]] = sv.read_inout %mac_w0 : !hw.inout<i8>
// L1:             sv.readmem %mac_w, "mac_w.hex", MemBaseHex : !hw.inout<uarray<4xi8>>
// L1:             %[[RD:.*]] = seq.compreg %{{.*}}, %clk {name = "mac_w_rd"} : i8
// L1-NEXT:        %[[W0:.*]] = seq.compreg %[[RD]], %clk {name = "mac_w_q"} : i8
// L1-NEXT:        %[[X:.*]] = seq.compreg %[[XD]], %clk {name = "mac_x"} : i8
// CHECK-NOT:      sv.readmem
// CHECK:          %[[B0:.*]] = seq.compreg %[[W0]], %clk {name = "mac_b0"} : i8
// CHECK-NEXT:     %[[P0:.*]] = sv.verbatim.expr "$signed({{.*}}) * $signed({{.*}})"(%[[X]], %[[B0]]) : (i8, i8) -> i17
// CHECK-NEXT:     %mac_prod0 = sv.wire name "mac_prod0" : !hw.inout<i17>
// CHECK-NEXT:     sv.assign %mac_prod0, %[[P0]] : i17
// CHECK-NEXT:     %[[P0R:.*]] = sv.read_inout %mac_prod0 : !hw.inout<i17>
// CHECK-NEXT:     seq.compreg %[[P0R]], %clk {name = "mac_prod0_q"} : i17
// L2:             %{{.*}} = comb.extract %[[ROW]] from 8 : (i16) -> i8
// L2:             %[[W1:.*]] = sv.read_inout %mac_w1 : !hw.inout<i8>
// L2-NEXT:        %[[B1:.*]] = seq.compreg %[[W1]], %clk {name = "mac_b1"} : i8
// L2-NEXT:        sv.verbatim.expr "$signed({{.*}}) * $signed({{.*}})"(%[[X]], %[[B1]]) : (i8, i8) -> i17
// The product pool: one multiplier (the head's h · h; the recurrence has no
// product), its operands registered, its product into the head's register.
// CHECK:          %[[EA:.*]] = seq.compreg %[[H:.*]], %clk {name = "ew_a0"} : i8
// CHECK-NEXT:     %[[EB:.*]] = seq.compreg %[[H]], %clk {name = "ew_b0"} : i8
// CHECK-NEXT:     %[[EP:.*]] = sv.verbatim.expr "$signed({{.*}}) * $signed({{.*}})"(%[[EA]], %[[EB]]) : (i8, i8) -> i16
// CHECK-NEXT:     %ew_prod0 = sv.wire name "ew_prod0" : !hw.inout<i16>
// CHECK-NEXT:     sv.assign %ew_prod0, %[[EP]] : i16
// CHECK-NEXT:     %[[SQ]] = sv.read_inout %ew_prod0 : !hw.inout<i16>
// CHECK-NOT:      sv.verbatim.expr
// Mode transitions: idle -> r0 -> h1 -> output -> idle.
// CHECK:          comb.icmp eq %[[MODE]], %{{.*}} : i2
// CHECK:          hw.output %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : i1, i1, i10, i1

// -----

// A bidirectional RNN with sequence lengths (hard activations, 8-bit values):
// the `seq_len` port, two stages sharing one MAC array (each lane's ROM holds
// both directions' weights, the reverse one's from address 4 with two lanes),
// length masks, and the output interleaving both directions' buffers.
func.func @bidir_lengths(%x: tensor<3x1x2xf32> {onnx.name = "x", rnnc.format = [!fxp.fixed<8, 6>]}, %lens: tensor<1xi32> {onnx.name = "lens"}) -> (tensor<3x2x1x2xf32> {onnx.name = "Y"}) {
  %x_q = fxp.quantize %x : tensor<3x1x2xf32> -> tensor<3x1x2x!fxp.fixed<8, 6>>
  %mask = rnn.sequence_mask %lens, %x_q : (tensor<1xi32>, tensor<3x1x2x!fxp.fixed<8, 6>>) -> tensor<3x1x1xi1>
  %Wi_T_fwd = fxp.constant dense<[[-51, -16], [-85, 27]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 7>>
  %Ri_T_fwd = fxp.constant dense<[[48, 17], [105, -79]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 7>>
  %h0_fwd = fxp.constant dense<0> : tensor<1x2xi64> {rnnc.qclass = "state"} -> tensor<1x2x!fxp.fixed<8, 7>>
  %Bi_fwd = fxp.constant dense<[-9345, -21643]> : tensor<2xi64> {rnnc.qclass = "bias"} -> tensor<2x!fxp.fixed<16, 16>>
  %Wi_T_rev = fxp.constant dense<[[73, -35], [7, -50]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 7>>
  %Ri_T_rev = fxp.constant dense<[[-61, 13], [102, -111]]> : tensor<2x2xi64> {rnnc.qclass = "weight"} -> tensor<2x2x!fxp.fixed<8, 7>>
  %h0_rev = fxp.constant dense<0> : tensor<1x2xi64> {rnnc.qclass = "state"} -> tensor<1x2x!fxp.fixed<8, 7>>
  %Bi_rev = fxp.constant dense<[-20353, -945]> : tensor<2xi64> {rnnc.qclass = "bias"} -> tensor<2x!fxp.fixed<16, 17>>
  %h_last_fwd, %y_fwd = rnn.recurrence seqs(%x_q, %mask : tensor<3x1x2x!fxp.fixed<8, 6>>, tensor<3x1x1xi1>) inits(%h0_fwd : tensor<1x2x!fxp.fixed<8, 7>>) -> tensor<1x2x!fxp.fixed<8, 7>>, tensor<3x1x2x!fxp.fixed<8, 7>> {
  ^bb0(%x_t: tensor<1x2x!fxp.fixed<8, 6>>, %valid: tensor<1x1xi1>, %h_prev: tensor<1x2x!fxp.fixed<8, 7>>):
    %0 = fxp.matmul %x_t, %Wi_T_fwd : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<2x2x!fxp.fixed<8, 7>>) -> tensor<1x2x!fxp.fixed<17, 13>>
    %1 = fxp.add %0, %Bi_fwd : (tensor<1x2x!fxp.fixed<17, 13>>, tensor<2x!fxp.fixed<16, 16>>) -> tensor<1x2x!fxp.fixed<21, 16>>
    %xz_i = fxp.cast %1 : tensor<1x2x!fxp.fixed<21, 16>> -> tensor<1x2x!fxp.fixed<8, 7>>
    %2 = fxp.matmul %h_prev, %Ri_T_fwd : (tensor<1x2x!fxp.fixed<8, 7>>, tensor<2x2x!fxp.fixed<8, 7>>) -> tensor<1x2x!fxp.fixed<17, 14>>
    %3 = fxp.add %xz_i, %2 : (tensor<1x2x!fxp.fixed<8, 7>>, tensor<1x2x!fxp.fixed<17, 14>>) -> tensor<1x2x!fxp.fixed<18, 14>>
    %z_i = fxp.cast %3 : tensor<1x2x!fxp.fixed<18, 14>> -> tensor<1x2x!fxp.fixed<8, 7>>
    %h_next = fxp.pwl %z_i {breakpoints = array<i64: -128, 128>, slopes = array<i64: 0, 16384, 0>, intercepts = array<i64: -128, 0, 127>, slope_frac = 14 : i64} : tensor<1x2x!fxp.fixed<8, 7>> -> tensor<1x2x!fxp.fixed<8, 7>>
    %zero = fxp.constant dense<0> : tensor<1xi64> {rnnc.qclass = "bias"} -> tensor<1x!fxp.fixed<16, 15>>
    %4 = fxp.cast %zero : tensor<1x!fxp.fixed<16, 15>> -> tensor<1x!fxp.fixed<8, 7>>
    %y_t = rnn.select %valid, %h_next, %4 : (tensor<1x1xi1>, tensor<1x2x!fxp.fixed<8, 7>>, tensor<1x!fxp.fixed<8, 7>>) -> tensor<1x2x!fxp.fixed<8, 7>>
    %h_kept = rnn.select %valid, %h_next, %h_prev : (tensor<1x1xi1>, tensor<1x2x!fxp.fixed<8, 7>>, tensor<1x2x!fxp.fixed<8, 7>>) -> tensor<1x2x!fxp.fixed<8, 7>>
    rnn.yield %h_kept, %y_t : tensor<1x2x!fxp.fixed<8, 7>>, tensor<1x2x!fxp.fixed<8, 7>>
  }
  %5 = fxp.cast %h0_rev : tensor<1x2x!fxp.fixed<8, 7>> -> tensor<1x2x!fxp.fixed<8, 6>>
  %h_last_rev, %y_rev = rnn.recurrence reverse seqs(%x_q, %mask : tensor<3x1x2x!fxp.fixed<8, 6>>, tensor<3x1x1xi1>) inits(%5 : tensor<1x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<8, 6>>, tensor<3x1x2x!fxp.fixed<8, 6>> {
  ^bb0(%x_t_1: tensor<1x2x!fxp.fixed<8, 6>>, %valid_1: tensor<1x1xi1>, %h_prev_1: tensor<1x2x!fxp.fixed<8, 6>>):
    %6 = fxp.matmul %x_t_1, %Wi_T_rev : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<2x2x!fxp.fixed<8, 7>>) -> tensor<1x2x!fxp.fixed<17, 13>>
    %7 = fxp.add %6, %Bi_rev : (tensor<1x2x!fxp.fixed<17, 13>>, tensor<2x!fxp.fixed<16, 17>>) -> tensor<1x2x!fxp.fixed<22, 17>>
    %xz_i_1 = fxp.cast %7 : tensor<1x2x!fxp.fixed<22, 17>> -> tensor<1x2x!fxp.fixed<8, 6>>
    %8 = fxp.matmul %h_prev_1, %Ri_T_rev : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<2x2x!fxp.fixed<8, 7>>) -> tensor<1x2x!fxp.fixed<17, 13>>
    %9 = fxp.add %xz_i_1, %8 : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<1x2x!fxp.fixed<17, 13>>) -> tensor<1x2x!fxp.fixed<18, 13>>
    %z_i_1 = fxp.cast %9 : tensor<1x2x!fxp.fixed<18, 13>> -> tensor<1x2x!fxp.fixed<8, 6>>
    %h_next_1 = fxp.pwl %z_i_1 {breakpoints = array<i64: -64, 64>, slopes = array<i64: 0, 16384, 0>, intercepts = array<i64: -64, 0, 64>, slope_frac = 14 : i64} : tensor<1x2x!fxp.fixed<8, 6>> -> tensor<1x2x!fxp.fixed<8, 6>>
    %zero_1 = fxp.constant dense<0> : tensor<1xi64> {rnnc.qclass = "bias"} -> tensor<1x!fxp.fixed<16, 15>>
    %10 = fxp.cast %zero_1 : tensor<1x!fxp.fixed<16, 15>> -> tensor<1x!fxp.fixed<8, 6>>
    %y_t_1 = rnn.select %valid_1, %h_next_1, %10 : (tensor<1x1xi1>, tensor<1x2x!fxp.fixed<8, 6>>, tensor<1x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<8, 6>>
    %h_kept_1 = rnn.select %valid_1, %h_next_1, %h_prev_1 : (tensor<1x1xi1>, tensor<1x2x!fxp.fixed<8, 6>>, tensor<1x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<8, 6>>
    rnn.yield %h_kept_1, %y_t_1 : tensor<1x2x!fxp.fixed<8, 6>>, tensor<1x2x!fxp.fixed<8, 6>>
  }
  %11 = rnn.unsqueeze %y_fwd {axes = array<i64: 1>} : tensor<3x1x2x!fxp.fixed<8, 7>> -> tensor<3x1x1x2x!fxp.fixed<8, 7>>
  %12 = rnn.unsqueeze %y_rev {axes = array<i64: 1>} : tensor<3x1x2x!fxp.fixed<8, 6>> -> tensor<3x1x1x2x!fxp.fixed<8, 6>>
  %13 = fxp.cast %11 : tensor<3x1x1x2x!fxp.fixed<8, 7>> -> tensor<3x1x1x2x!fxp.fixed<9, 7>>
  %14 = fxp.cast %12 : tensor<3x1x1x2x!fxp.fixed<8, 6>> -> tensor<3x1x1x2x!fxp.fixed<9, 7>>
  %Y = rnn.concat %13, %14 {axis = 1 : i64} : (tensor<3x1x1x2x!fxp.fixed<9, 7>>, tensor<3x1x1x2x!fxp.fixed<9, 7>>) -> tensor<3x2x1x2x!fxp.fixed<9, 7>>
  %Y_f = fxp.dequantize %Y : tensor<3x2x1x2x!fxp.fixed<9, 7>> -> tensor<3x2x1x2xf32>
  func.return %Y_f : tensor<3x2x1x2xf32>
}

// The weights in the order each stage issues them, group after group; in a
// group the state's mat-vec (R) before the input's (W), k after k. (Stages
// whose steps are pipelined issue all groups of R, then all groups of W, which
// run for the next step; these 3-step stages are shorter without.)
// L2:         builtin.module attributes {rnnc.memories = {mac_w = dense<{{\[}}[48, 17], [105, -79], [-51, -16], [-85, 27], [-61, 13], [102, -111], [73, -35], [7, -50]]> : tensor<8x2xi64>}} {
// L1:         builtin.module attributes {rnnc.memories = {mac_w = dense<[48, 105, -51, -85, 17, -79, -16, 27, -61, 102, 73, 7, 13, -111, -35, -50]> : tensor<16xi64>}} {
// CHECK-LABEL:  hw.module @rnnc_top(in %clk: !seq.clock, in %rst: i1, in %in_valid: i1, in %in_data: i8, in %seq_len: i2, in %out_ready: i1, out in_ready: i1, out out_valid: i1, out out_data: i9, out out_last: i1) {
// CHECK-NEXT:     sv.verbatim "// verilator lint_off UNUSEDSIGNAL"
// CHECK-NEXT:     %{{.*}} = hw.constant 0 : i2
// CHECK-NEXT:     %[[MODE:.*]] = seq.compreg %{{.*}}, %clk reset %rst, %{{[0-9]+}} {name = "mode"} : i2
// CHECK-NEXT:     %buf_input = sv.reg name "buf_input" : !hw.inout<uarray<12xi8>>
// CHECK-NEXT:     %buf_r0_h_prev = sv.reg name "buf_r0_h_prev" : !hw.inout<uarray<4xi8>>
// CHECK-NEXT:     %buf_r0_y_fwd = sv.reg name "buf_r0_y_fwd" : !hw.inout<uarray<6xi8>>
// CHECK-NEXT:     %buf_r1_h_prev = sv.reg name "buf_r1_h_prev" : !hw.inout<uarray<4xi8>>
// CHECK-NEXT:     %buf_r1_y_rev = sv.reg name "buf_r1_y_rev" : !hw.inout<uarray<6xi8>>
// Input banks: which bank loads, which one is computed on, and both full flags.
// CHECK-COUNT-4:  seq.compreg %{{.*}}, %clk reset %rst, %{{.*}} : i1
// The sequence length is sampled per bank with the first input beat.
// CHECK:          comb.mux %{{.*}}, %seq_len, %{{.*}} : i2
// CHECK:          sv.reg name "r0_acc0_0" : !hw.inout<uarray<2xi17>>
// CHECK:          sv.reg name "r0_acc0_1" : !hw.inout<uarray<2xi17>>
// L2:             sv.reg name "r0_acc1_0" : !hw.inout<uarray<2xi17>>
// CHECK:          {name = "r0_y_t"} : i8
// CHECK:          {name = "r0_h_kept"} : i8
// CHECK:          sv.reg name "r1_acc0_0" : !hw.inout<uarray<2xi17>>
// L2:             sv.reg name "r1_acc1_0" : !hw.inout<uarray<2xi17>>
// CHECK:          {name = "r1_y_t"} : i8
// CHECK:          {name = "r1_h_kept"} : i8
// One MAC array: the running stage (mode 1 or 2) picks the operand and the
// weight address; one ROM and one signed product per lane.
// CHECK-NOT:      sv.verbatim.expr
// CHECK:          %[[XS:.*]] = hw.array_create %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : i8
// CHECK-NEXT:     %[[XSEL:.*]] = hw.array_get %[[XS]][%[[MODE]]] : !hw.array<4xi8>, i2
// CHECK-NEXT:     %mac_x_d = sv.wire name "mac_x_d" : !hw.inout<i8>
// CHECK-NEXT:     sv.assign %mac_x_d, %[[XSEL]] : i8
// CHECK-NEXT:     %[[XD:.*]] = sv.read_inout %mac_x_d : !hw.inout<i8>
// L2:             sv.readmem %mac_w, "mac_w.hex", MemBaseHex : !hw.inout<uarray<8xi16>>
// L1:             sv.readmem %mac_w, "mac_w.hex", MemBaseHex : !hw.inout<uarray<16xi8>>
// CHECK-NOT:      sv.readmem
// CHECK:          %[[X:.*]] = seq.compreg %[[XD]], %clk {name = "mac_x"} : i8
// CHECK:          sv.verbatim.expr "$signed({{.*}}) * $signed({{.*}})"(%[[X]], %{{.*}}) : (i8, i8) -> i17
// L2:             sv.verbatim.expr "$signed({{.*}}) * $signed({{.*}})"(%[[X]], %{{.*}}) : (i8, i8) -> i17
// The product pool's one multiplier computes each direction's PWL slope
// product (modes 1 and 2), the running stage's operands chosen before its
// operand registers.
// CHECK:          %[[AS:.*]] = hw.array_create %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : i8
// CHECK-NEXT:     hw.array_get %[[AS]][%[[MODE]]] : !hw.array<4xi8>, i2
// CHECK:          %[[AR:.*]] = seq.compreg %{{.*}}, %clk {name = "ew_a0"} : i8
// CHECK-NEXT:     %[[BR:.*]] = seq.compreg %{{.*}}, %clk {name = "ew_b0"} : i16
// CHECK-NEXT:     sv.verbatim.expr "$signed({{.*}}) * $signed({{.*}})"(%[[AR]], %[[BR]]) : (i8, i16) -> i24
// CHECK-NOT:      sv.verbatim.expr
// CHECK:          hw.output %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : i1, i1, i9, i1

// LANES: hardware lanes must be in [1, 1024] (got 0)

// ROUNDTRIP: hw.module @rnnc_top
// ROUNDTRIP: seq.from_clock %clk
// ROUNDTRIP: hw.module @rnnc_top
// ROUNDTRIP: seq.from_clock %clk
