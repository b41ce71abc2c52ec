// RUN: rnnc-opt %s --parsing-diagnostics --split-input-file | filecheck %s

// sv.reg and sv.wire take their name as `name "..."` (CIRCT reads no other form)
// and declare an !hw.inout.

hw.module @m() {
  %r = sv.reg {name = "r"} : !hw.inout<i4>
  hw.output
}
// CHECK: sv.reg: give the name as `name "..."`, not in the attribute dict

// -----

hw.module @m() {
  %w = sv.wire name "w" : i4
  hw.output
}
// CHECK: sv.wire: expected an !hw.inout type

// -----

// sv.verbatim.expr has one result, given by a function type.
hw.module @verbatim_type(in %a : i8) {
  %p = sv.verbatim.expr "{{0}}"(%a) : i8
}

// CHECK: sv.verbatim.expr: expected a function type with one result
