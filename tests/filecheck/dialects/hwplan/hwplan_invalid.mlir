// RUN: RNNC_VERIFY_DIAG

// A design needs its input stream.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.design: expected exactly one hwplan.input

// -----

// A segment must lie in its buffer.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][1 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.fetch: segment [t][1 +: 2] outside the 2x2 buffer

// -----

// A fetch re-scales its words exactly (a lossless cast).
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] shl 1 : tensor<1x2x!fxp.fixed<8, 6>>
    %w = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %w, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.fetch: fixed<8,6> shifted by 1 is not exactly fixed<8,6>

// -----

// The segments hold the whole vector.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 1] : tensor<1x2x!fxp.fixed<8, 6>>
    %w = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %w, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.fetch: segments hold 1 elements, the result 2

// -----

// A state buffer has two rows (ping-pong).
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %s = hwplan.buffer "s" : !hwplan.buffer<3x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %h = hwplan.state %s init [0, 0] : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.state: the buffer must have two rows

// -----

// One initial value per unit.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %s = hwplan.buffer "s" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %h = hwplan.state %s init [0] : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.state: 1 initial values for 2 columns

// -----

// A constant is one value or one per unit.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %c = hwplan.constant [1, 2, 3] : tensor<3x!fxp.fixed<8, 6>>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.constant: 3 values in a stage of 2 units

// -----

// Constants fit their format.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %c = hwplan.constant [128] : tensor<1x!fxp.fixed<8, 6>>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.constant: raw values outside the range of fixed<8,6>

// -----

// The mask needs sequence lengths on the input stream.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %m = hwplan.mask : tensor<1x1xi1>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.mask: the input stream has no seq_len

// -----

// A mat-vec's result has the exact fxp.matmul format.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %z = hwplan.matvec %x, dense<[[1, 2], [3, 4]]> : tensor<2x2xi64> as !fxp.fixed<8, 6> : tensor<1x2x!fxp.fixed<8, 6>> -> tensor<1x2x!fxp.fixed<16, 12>>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.matvec: result format fixed<16,12> is not the exact format fixed<17,12>

// -----

// A mat-vec multiplies a fetched vector or a state.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %c = hwplan.constant [1, 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %z = hwplan.matvec %c, dense<[[1, 2], [3, 4]]> : tensor<2x2xi64> as !fxp.fixed<8, 6> : tensor<1x2x!fxp.fixed<8, 6>> -> tensor<1x2x!fxp.fixed<17, 12>>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.matvec: the vector must be an hwplan.fetch or hwplan.state

// -----

// One weight row per vector element.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %z = hwplan.matvec %x, dense<[[1, 2]]> : tensor<1x2xi64> as !fxp.fixed<8, 6> : tensor<1x2x!fxp.fixed<8, 6>> -> tensor<1x2x!fxp.fixed<17, 12>>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.matvec: 1 weight rows for a vector of 2 elements

// -----

// Sources come before the computation and the sinks.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %w = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
    %v = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.stage: 'hwplan.fetch' after the stage's sinks

// -----

// A write has the buffer's format.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    %c = fxp.cast %x : tensor<1x2x!fxp.fixed<8, 6>> -> tensor<1x2x!fxp.fixed<8, 5>>
    hwplan.write %c, %ys : tensor<1x2x!fxp.fixed<8, 5>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.write: value format fixed<8,5> is not the buffer's fixed<8,6>

// -----

// A write fills one buffer row per step (or the one row of a one-row buffer).
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %three = hwplan.buffer "three" : !hwplan.buffer<3x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %x, %three : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %three[0 +: 2] positions [0, 1] stride 0
}
// CHECK: hwplan.write: a buffer of 3 rows in a stage of 2 steps

// -----

// Only the last phase of a split step updates the states.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %h = hwplan.buffer "h" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0p0" steps 2 units 2 phase 0 of 2 {
    %hp = hwplan.state %h init [0, 0] : tensor<1x2x!fxp.fixed<8, 6>>
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.update %hp, %x : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %h[0 +: 2] positions [0, 1] stride 0
}
// CHECK: hwplan.stage: only the last phase updates the states

// -----

// One position per output element.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1] stride 0
}
// CHECK: hwplan.output: 2 positions for 4 elements

// -----

// Runs lie in their buffer.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %x = hwplan.fetch %in[t][0 +: 2] : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %x, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[2 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.output: run [2 +: 4] outside the 2x2 buffer

// -----

// A state without its next value.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %ys = hwplan.buffer "ys" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %s = hwplan.buffer "s" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %h = hwplan.state %s init [0, 0] : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.write %h, %ys : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "y" %ys[0 +: 4] positions [0, 1, 2, 3] stride 0
}
// CHECK: hwplan.stage: each state has exactly one hwplan.update

// -----

// A loaded initial state is one row of the state's columns.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %s = hwplan.buffer "s" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %s0 = hwplan.buffer "s0" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %h = hwplan.state %s loaded %s0 : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.update %h, %h : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "h" %s[0 +: 2] positions [0, 1] stride 0
}
// CHECK: hwplan.state: a loaded state needs one row of 2 columns and no init values

// -----

// ... of the state's format.
hwplan.design @m batch 1 {
  %in = hwplan.buffer "in" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %s = hwplan.buffer "s" : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  %s0 = hwplan.buffer "s0" : !hwplan.buffer<1x2x!fxp.fixed<8, 5>>
  hwplan.input %in : !hwplan.buffer<2x2x!fxp.fixed<8, 6>>
  hwplan.stage "r0" steps 2 units 2 {
    %h = hwplan.state %s loaded %s0 : tensor<1x2x!fxp.fixed<8, 6>>
    hwplan.update %h, %h : tensor<1x2x!fxp.fixed<8, 6>>
  }
  hwplan.output "h" %s[0 +: 2] positions [0, 1] stride 0
}
// CHECK: hwplan.state: loaded format is not the buffer's
