// RUN: rnnc-opt %s -p 'lower-fxp-to-hw{lanes=2}' | filecheck %s
// RUN: not rnnc-opt %s -p 'lower-fxp-to-hw{lanes=0}' 2>&1 | filecheck %s --check-prefix=LANES
// RUN: rnnc-opt %s -p lower-fxp-to-hw | rnnc-opt | filecheck %s --check-prefix=ROUNDTRIP

// A 3-step recurrence (mat-vec, bias, cast, LUT, add) and an elementwise head on
// its final state. Two MAC lanes: one weight ROM per lane holding its output
// columns in (group, k) order, exact products into an accumulator of the
// fxp.matmul width, per-lane result memories, one named register per
// elementwise op, state/input/output buffers, and the ROM contents as a module
// attribute for the .hex files. The input buffer has two banks (load while computing).
func.func @main(%x: tensor<3x1x2xf32> {onnx.name = "x", rnnc.format = [!fxp.fixed<8, 6>]}) -> tensor<1x2xf32> {
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

// CHECK:      builtin.module attributes {rnnc.memories = {r0_w0 = dense<[32, 96]> : tensor<2xi64>, r0_w1 = dense<[-16, 48]> : tensor<2xi64>}} {
// CHECK-NEXT:   hw.module @rnnc_top(in %clk: !seq.clock, in %rst: i1, in %in_valid: i1, in %in_data: i8, in %out_ready: i1, out in_ready: i1, out out_valid: i1, out out_data: i10, out out_last: i1) {
// CHECK-NEXT:     sv.verbatim "// verilator lint_off UNUSEDSIGNAL"
// CHECK-DAG:      %buf_input = sv.reg name "buf_input" : !hw.inout<uarray<12xi8>>
// CHECK-DAG:      %buf_r0_hp = sv.reg name "buf_r0_hp" : !hw.inout<uarray<4xi8>>
// CHECK-DAG:      %buf_h1_o = sv.reg name "buf_h1_o" : !hw.inout<uarray<2xi10>>
// CHECK:          sv.alwaysff(posedge %{{.*}}) {
// CHECK:            sv.passign %{{.*}}, %in_data : i8
// CHECK:          sv.readmem %r0_w0, "r0_w0.hex", MemBaseHex : !hw.inout<uarray<2xi8>>
// CHECK-NEXT:     sv.readmem %r0_w1, "r0_w1.hex", MemBaseHex : !hw.inout<uarray<2xi8>>
// CHECK:          %{{.*}} = comb.mul %{{.*}}, %{{.*}} : i16
// CHECK:          sv.reg name "r0_acc0_0" : !hw.inout<uarray<2xi17>>
// CHECK:          %{{.*}} = comb.mul %{{.*}}, %{{.*}} : i16
// CHECK:          sv.reg name "r0_acc1_0" : !hw.inout<uarray<2xi17>>
// CHECK:          seq.compreg %{{.*}}, %clk reset %rst, %{{.*}} {name = "r0_v"} : i24
// CHECK:          seq.compreg %{{.*}}, %clk reset %rst, %{{.*}} {name = "r0_zb"} : i8
// CHECK:          seq.compreg %{{.*}}, %clk reset %rst, %{{.*}} {name = "r0_a"} : i8
// CHECK:          seq.compreg %{{.*}}, %clk reset %rst, %{{.*}} {name = "r0_hn"} : i8
// CHECK:          seq.compreg %{{.*}}, %clk reset %rst, %{{.*}} {name = "h1_o"} : i10
// CHECK:          hw.output %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : i1, i1, i10, i1

// LANES: hardware lanes must be at least 1 (got 0)

// ROUNDTRIP: hw.module @rnnc_top
// ROUNDTRIP: seq.from_clock %clk
