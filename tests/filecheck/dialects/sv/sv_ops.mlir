// RUN: RNNC_ROUNDTRIP
// RUN: RNNC_GENERIC_ROUNDTRIP
// RUN: rnnc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// A signed 8x8 multiply-accumulate with a ROM, in hw / comb / seq / sv: the syntax
// CIRCT 1.62 parses (and prints, up to `name "..."` which CIRCT elides when it
// equals the SSA name).

hw.module @mac(in %clk : !seq.clock, in %rst : i1, in %addr : i4, in %x : i8, out acc : i20, out w : i8) {
  %mem = sv.reg : !hw.inout<uarray<16xi8>>
  sv.initial {
    sv.readmem %mem, "weights.hex", MemBaseHex : !hw.inout<uarray<16xi8>>
  }
  %slot = sv.array_index_inout %mem[%addr] : !hw.inout<uarray<16xi8>>, i4
  %w = sv.read_inout %slot : !hw.inout<i8>
  %xs = comb.extract %x from 7 : (i8) -> i1
  %xf = comb.replicate %xs : (i1) -> i12
  %xe = comb.concat %xf, %x : i12, i8
  %ws = comb.extract %w from 7 : (i8) -> i1
  %wf = comb.replicate %ws : (i1) -> i12
  %we = comb.concat %wf, %w : i12, i8
  %p = comb.mul %xe, %we : i20
  %sum = comb.add %acc, %p : i20
  %c0 = hw.constant 0 : i20
  %acc = seq.compreg %sum, %clk reset %rst, %c0 : i20
  hw.output %acc, %w : i20, i8
}

// CHECK-LABEL: hw.module @mac(in %clk: !seq.clock, in %rst: i1, in %addr: i4, in %x: i8, out acc: i20, out w: i8) {
// CHECK-NEXT:    %mem = sv.reg : !hw.inout<uarray<16xi8>>
// CHECK-NEXT:    sv.initial {
// CHECK-NEXT:      sv.readmem %mem, "weights.hex", MemBaseHex : !hw.inout<uarray<16xi8>>
// CHECK-NEXT:    }
// CHECK-NEXT:    %slot = sv.array_index_inout %mem[%addr] : !hw.inout<uarray<16xi8>>, i4
// CHECK-NEXT:    %w = sv.read_inout %slot : !hw.inout<i8>
// CHECK:         %sum = comb.add %acc, %p : i20
// CHECK:         %acc = seq.compreg %sum, %clk reset %rst, %c0 : i20
// CHECK-NEXT:    hw.output %acc, %w : i20, i8

// GENERIC-LABEL: "hw.module"()
// GENERIC:         %mem = "sv.reg"() : () -> !hw.inout<uarray<16xi8>>
// GENERIC-NEXT:    "sv.initial"() ({
// GENERIC-NEXT:      "sv.readmem"(%mem) {filename = "weights.hex", base = 1 : i32} : (!hw.inout<uarray<16xi8>>) -> ()
// GENERIC-NEXT:    }) : () -> ()
// GENERIC-NEXT:    %slot = "sv.array_index_inout"(%mem, %addr) : (!hw.inout<uarray<16xi8>>, i4) -> !hw.inout<i8>
// GENERIC-NEXT:    %w = "sv.read_inout"(%slot) : (!hw.inout<i8>) -> i8

// Named and initialised registers, nested arrays (long form in, CIRCT's short form
// out), $readmemb, an empty initial block, discardable attributes.

hw.module @regs(in %a : i8, in %i : i2, out y : i16) {
  %c = hw.constant 5 : i8
  %r = sv.reg init %c name "state" {keep} : !hw.inout<i8>
  %m = sv.reg name "table" : !hw.inout<!hw.uarray<4x!hw.array<2xi8>>>
  sv.initial {
    sv.readmem %m, "table.bin", MemBaseBin : !hw.inout<uarray<4xarray<2xi8>>>
  }
  sv.initial {
  }
  %e = sv.array_index_inout %m[%i] {note = "row"} : !hw.inout<uarray<4xarray<2xi8>>>, i2
  %row = sv.read_inout %e : !hw.inout<!hw.array<2xi8>>
  %y = hw.bitcast %row : (!hw.array<2xi8>) -> i16
  hw.output %y : i16
}

// CHECK-LABEL: hw.module @regs(in %a: i8, in %i: i2, out y: i16) {
// CHECK-NEXT:    %c = hw.constant 5 : i8
// CHECK-NEXT:    %r = sv.reg init %c name "state" {keep} : !hw.inout<i8>
// CHECK-NEXT:    %m = sv.reg name "table" : !hw.inout<uarray<4xarray<2xi8>>>
// CHECK-NEXT:    sv.initial {
// CHECK-NEXT:      sv.readmem %m, "table.bin", MemBaseBin : !hw.inout<uarray<4xarray<2xi8>>>
// CHECK-NEXT:    }
// CHECK-NEXT:    sv.initial {
// CHECK-NEXT:    }
// CHECK-NEXT:    %e = sv.array_index_inout %m[%i] {note = "row"} : !hw.inout<uarray<4xarray<2xi8>>>, i2
// CHECK-NEXT:    %row = sv.read_inout %e : !hw.inout<array<2xi8>>
// CHECK-NEXT:    %y = hw.bitcast %row : (!hw.array<2xi8>) -> i16

// GENERIC-LABEL: "hw.module"()
// GENERIC:         %r = "sv.reg"(%c) {name = "state", keep} : (i8) -> !hw.inout<i8>
// GENERIC-NEXT:    %m = "sv.reg"() {name = "table"} : () -> !hw.inout<uarray<4xarray<2xi8>>>
// GENERIC:           "sv.readmem"(%m) {filename = "table.bin", base = 0 : i32}

// A signed product as a verbatim expression (what the datapath emits for every
// multiply), one without operands, and a discardable attribute after the type.

hw.module @signed_mul(in %a : i16, in %b : i8, out p : i24, out k : i4) {
  %p = sv.verbatim.expr "$signed({{0}}) * $signed({{1}})"(%a, %b) : (i16, i8) -> i24 {note = "mac"}
  %k = sv.verbatim.expr "4'd3" : () -> i4
  hw.output %p, %k : i24, i4
}

// CHECK-LABEL: hw.module @signed_mul(in %a: i16, in %b: i8, out p: i24, out k: i4) {
// CHECK-NEXT:    %p = sv.verbatim.expr "$signed({{[{][{]}}0{{[}][}]}}) * $signed({{[{][{]}}1{{[}][}]}})"(%a, %b) : (i16, i8) -> i24 {note = "mac"}
// CHECK-NEXT:    %k = sv.verbatim.expr "4'd3" : () -> i4
// CHECK-NEXT:    hw.output %p, %k : i24, i4

// GENERIC-LABEL: "hw.module"()
// GENERIC:         %p = "sv.verbatim.expr"(%a, %b) {format_string = "$signed({{[{][{]}}0{{[}][}]}}) * $signed({{[{][{]}}1{{[}][}]}})", note = "mac"} : (i16, i8) -> i24
// GENERIC-NEXT:    %k = "sv.verbatim.expr"() {format_string = "4'd3"} : () -> i4
