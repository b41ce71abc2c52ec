// RUN: RNNC_ROUNDTRIP
// RUN: RNNC_GENERIC_ROUNDTRIP
// RUN: rnnc-opt %s --print-op-generic | filecheck %s --check-prefix=GENERIC

// Memories with synchronous writes: `always_ff` with `if` and non-blocking
// assignments, a named wire for an index, a verbatim pragma, and CIRCT's
// `seq.from_clock` (missing from xDSL's seq dialect).
hw.module @ram(in %clk: !seq.clock, in %we: i1, in %a: i2, in %d: i8, out q: i8) {
  sv.verbatim "// verilator lint_off UNUSEDSIGNAL"
  %c = seq.from_clock %clk
  %w = sv.wire name "addr" : !hw.inout<i2>
  sv.assign %w, %a : i2
  %addr = sv.read_inout %w : !hw.inout<i2>
  %mem = sv.reg : !hw.inout<uarray<4xi8>>
  sv.alwaysff(posedge %c) {
    sv.if %we {
      %s = sv.array_index_inout %mem[%addr] : !hw.inout<uarray<4xi8>>, i2
      sv.passign %s, %d : i8
    }
  }
  %r = sv.array_index_inout %mem[%addr] : !hw.inout<uarray<4xi8>>, i2
  %v = sv.read_inout %r : !hw.inout<i8>
  hw.output %v : i8
}

// CHECK-LABEL: hw.module @ram(in %clk: !seq.clock, in %we: i1, in %a: i2, in %d: i8, out q: i8) {
// CHECK-NEXT:    sv.verbatim "// verilator lint_off UNUSEDSIGNAL"
// CHECK-NEXT:    %c = seq.from_clock %clk
// CHECK-NEXT:    %w = sv.wire name "addr" : !hw.inout<i2>
// CHECK-NEXT:    sv.assign %w, %a : i2
// CHECK-NEXT:    %addr = sv.read_inout %w : !hw.inout<i2>
// CHECK-NEXT:    %mem = sv.reg : !hw.inout<uarray<4xi8>>
// CHECK-NEXT:    sv.alwaysff(posedge %c) {
// CHECK-NEXT:      sv.if %we {
// CHECK-NEXT:        %s = sv.array_index_inout %mem[%addr] : !hw.inout<uarray<4xi8>>, i2
// CHECK-NEXT:        sv.passign %s, %d : i8
// CHECK-NEXT:      }
// CHECK-NEXT:    }

// GENERIC:      "sv.verbatim"() {format_string = "// verilator lint_off UNUSEDSIGNAL"} : () -> ()
// GENERIC-NEXT: %c = "seq.from_clock"(%clk) : (!seq.clock) -> i1
// GENERIC-NEXT: %w = "sv.wire"() {name = "addr"} : () -> !hw.inout<i2>
// GENERIC-NEXT: "sv.assign"(%w, %a) : (!hw.inout<i2>, i2) -> ()
// GENERIC:      "sv.alwaysff"(%c) ({
// GENERIC-NEXT:   "sv.if"(%we) ({
// GENERIC:          "sv.passign"(%s, %d) : (!hw.inout<i8>, i8) -> ()
