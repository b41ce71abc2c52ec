// RUN: RNNC_ROUNDTRIP
// RUN: RNNC_GENERIC_ROUNDTRIP
// RUN: rnnc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// A plan with every hwplan op: a reverse recurrence over a masked input stream
// (state, fetch, mat-vec, elementwise ops, select by the length mask, update,
// write), a head whose operand is fetched from two buffers (re-scaled by lossless
// casts), and an output of two runs for a batch of two sequences.
hwplan.design @main batch 2 {
  %input = hwplan.buffer "input" : !hwplan.buffer<3x2x!fxp.fixed<8, 6>>
  %r0_h = hwplan.buffer "r0_h" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %r0_ys = hwplan.buffer "r0_ys" : !hwplan.buffer<3x2x!fxp.fixed<8, 6>>
  %h1_o = hwplan.buffer "h1_o" : !hwplan.buffer<1x2x!fxp.fixed<10, 7>>
  hwplan.input %input seq_len : !hwplan.buffer<3x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 3 units 2 reverse {
    %xt = hwplan.fetch %input[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %hp = hwplan.state %r0_h init [0, -3] : tensor<1x2x!fxp.fixed<8, 6>>
    %live = hwplan.mask : tensor<1x1xi1>
    %b = hwplan.constant [26214, -26214] : tensor<2x!fxp.fixed<16, 18>>
    %z = hwplan.matvec %xt, dense<[[32, -16], [96, 48]]> : tensor<2x2xi64> as !fxp.fixed<8, 6> : tensor<1x2x!fxp.fixed<8, 6>> -> tensor<1x2x!fxp.fixed<17, 12>>
    %1 = fxp.add %z, %b : (tensor<1x2x!fxp.fixed<17, 12>>, tensor<2x!fxp.fixed<16, 18>>) -> tensor<1x2x!fxp.fixed<24, 18>>
    %hn = fxp.cast %1 {rounding = "floor"} : tensor<1x2x!fxp.fixed<24, 18>> -> tensor<1x2x!fxp.fixed<8, 6>>
    %hk = rnn.select %live, %hn, %hp : (tensor<1x1xi1>, tensor<1x2x!fxp.fixed<8, 6>>, tensor<1x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.update %hp, %hk : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %hk, %r0_ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.stage "h1" steps 1 units 2 {
    %v = hwplan.fetch %r0_h[1][0 +: 2] shl 1, %r0_ys[2][0 +: 2] shl 1 : tensor<2x4x!fxp.fixed<9, 7>>
    %one = hwplan.constant [64] : tensor<1x!fxp.fixed<8, 6>>
    %y = hwplan.matvec %v, dense<[[1, 2], [3, 4], [5, 6], [7, -8]]> : tensor<4x2xi64> as !fxp.fixed<4, 2> : tensor<2x4x!fxp.fixed<9, 7>> -> tensor<2x2x!fxp.fixed<15, 9>>
    %2 = fxp.cast %y : tensor<2x2x!fxp.fixed<15, 9>> -> tensor<2x2x!fxp.fixed<8, 6>>
    %3 = fxp.sub %2, %one : (tensor<2x2x!fxp.fixed<8, 6>>, tensor<1x!fxp.fixed<8, 6>>) -> tensor<2x2x!fxp.fixed<9, 6>>
    %o = fxp.cast %3 : tensor<2x2x!fxp.fixed<9, 6>> -> tensor<2x2x!fxp.fixed<10, 7>>
    hwplan.write %o, %h1_o : tensor<2x2x!fxp.fixed<10, 7>>
  }
  hwplan.output "o" %h1_o[1 +: 1] shl 2, %h1_o[0 +: 1] positions [1, 0] stride 2
}

// CHECK:      hwplan.design @main batch 2 {
// CHECK-NEXT:   %input = hwplan.buffer "input" : !hwplan.buffer<3x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:   %r0_h = hwplan.buffer "r0_h" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:   %r0_ys = hwplan.buffer "r0_ys" : !hwplan.buffer<3x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:   %h1_o = hwplan.buffer "h1_o" : !hwplan.buffer<1x2x!fxp.fixed<10, 7>>
// CHECK-NEXT:   hwplan.input %input seq_len : !hwplan.buffer<3x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:   hwplan.stage "r0" steps 3 units 2 reverse {
// CHECK-NEXT:     %xt = hwplan.fetch %input[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:     %hp = hwplan.state %r0_h init [0, -3] : tensor<1x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:     %live = hwplan.mask : tensor<1x1xi1>
// CHECK-NEXT:     %b = hwplan.constant [26214, -26214] : tensor<2x!fxp.fixed<16, 18>>
// CHECK-NEXT:     %z = hwplan.matvec %xt, dense<{{\[\[}}32, -16], [96, 48]]> : tensor<2x2xi64> as !fxp.fixed<8, 6> : tensor<1x2x!fxp.fixed<8, 6>> -> tensor<1x2x!fxp.fixed<17, 12>>
// CHECK-NEXT:     %0 = fxp.add %z, %b
// CHECK-NEXT:     %hn = fxp.cast %0 {rounding = "floor"}
// CHECK-NEXT:     %hk = rnn.select %live, %hn, %hp
// CHECK-NEXT:     hwplan.update %hp, %hk : tensor<1x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:     hwplan.write %hk, %r0_ys : tensor<1x2x!fxp.fixed<8, 6>>
// CHECK-NEXT:   }
// CHECK-NEXT:   hwplan.stage "h1" steps 1 units 2 {
// CHECK-NEXT:     %v = hwplan.fetch %r0_h[1][0 +: 2] shl 1, %r0_ys[2][0 +: 2] shl 1 : tensor<2x4x!fxp.fixed<9, 7>>
// CHECK-NEXT:     %one = hwplan.constant [64] : tensor<1x!fxp.fixed<8, 6>>
// CHECK-NEXT:     %y = hwplan.matvec %v, dense<{{\[\[}}1, 2], [3, 4], [5, 6], [7, -8]]> : tensor<4x2xi64> as !fxp.fixed<4, 2> : tensor<2x4x!fxp.fixed<9, 7>> -> tensor<2x2x!fxp.fixed<15, 9>>
// CHECK:          hwplan.write %o, %h1_o : tensor<2x2x!fxp.fixed<10, 7>>
// CHECK-NEXT:   }
// CHECK-NEXT:   hwplan.output "o" %h1_o[1 +: 1] shl 2, %h1_o[0 +: 1] positions [1, 0] stride 2
// CHECK-NEXT: }

// GENERIC:      "hwplan.design"() <{batch = 2 : i64}> ({
// GENERIC:        %xt = "hwplan.fetch"(%input) <{rows = array<i64: -1>, starts = array<i64: 0>, sizes = array<i64: 2>, shifts = array<i64: 0>}> : (!hwplan.buffer<3x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<8, 6>>
// GENERIC:        %v = "hwplan.fetch"(%r0_h, %r0_ys) <{rows = array<i64: 1, 2>, starts = array<i64: 0, 0>, sizes = array<i64: 2, 2>, shifts = array<i64: 1, 1>}>
// GENERIC:      "hwplan.output"(%h1_o, %h1_o) <{starts = array<i64: 1, 0>, lengths = array<i64: 1, 1>, shifts = array<i64: 2, 0>, positions = array<i64: 1, 0>, stride = 2 : i64}> {name = "o"}
// GENERIC:      }) {sym_name = "main"} : () -> ()

// -----

// A state whose initial vector the host gives: loaded with each sequence into
// its one-row buffer (the input stream's preamble).
hwplan.design @stateful batch 1 {
  %in = hwplan.buffer "input" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %h = hwplan.buffer "r0_h" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %h0 = hwplan.buffer "r0_h_init" : !hwplan.buffer<1x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %hp = hwplan.state %h loaded %h0 : tensor<1x2x!fxp.fixed<8, 6>>
    %s = fxp.add %x, %hp : (tensor<1x2x!fxp.fixed<8, 6>>, tensor<1x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<9, 6>>
    %hn = fxp.cast %s : tensor<1x2x!fxp.fixed<9, 6>> -> tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.update %hp, %hn : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "h" %h[2 +: 2] positions [0, 1] stride 0
}

// CHECK-LABEL: hwplan.design @stateful batch 1 {
// CHECK:         %hp = hwplan.state %h loaded %h0 : tensor<1x2x!fxp.fixed<8, 6>>
// GENERIC-LABEL: "hwplan.design"() <{batch = 1 : i64}> ({
// GENERIC:         %hp = "hwplan.state"(%h, %h0) <{init = array<i64>}> : (!hwplan.buffer<2x2x!fxp.fixed<8, 6>>, !hwplan.buffer<1x2x!fxp.fixed<8, 6>>) -> tensor<1x2x!fxp.fixed<8, 6>>
