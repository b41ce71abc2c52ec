# RUN: python %s %t
# RUN: rnnc-opt %t.mlir -p 'expand-cells,range-analysis{calibration="%t.npz"},assign-formats{weight-bits=8 activation-bits=10},approximate-activations,lower-to-fxp' | filecheck %s
# RUN: rnnc-opt %t.mlir -p 'expand-cells,approximate-activations{method="hard"},range-analysis{calibration="%t.npz"},assign-formats,lower-to-fxp' | filecheck %s --check-prefix=HARD
# The whole pipeline on a printed module (a GRU with constant weights), by pass name.
# range-analysis may run before approximate-activations: the tables keep the ranges.

import sys

import numpy as np

from rnnc.dialects.arrays import dense_of

rng = np.random.default_rng(0)
w = dense_of(rng.standard_normal((1, 6, 3)).astype(np.float32))
r = dense_of(rng.standard_normal((1, 6, 2)).astype(np.float32))
b = dense_of(rng.standard_normal((1, 12)).astype(np.float32))
t = "tensor<5x4x3xf32>"
text = f"""func.func @main(%x: {t} {{onnx.name = "x"}}) -> tensor<1x4x2xf32> {{
  %w = rnn.constant {w}
  %r = rnn.constant {r}
  %b = rnn.constant {b}
  %y, %yh = rnn.gru %x, %w, %r bias %b {{hidden_size = 2 : i64}} : ({t}, tensor<1x6x3xf32>, tensor<1x6x2xf32>, tensor<1x12xf32>) -> (tensor<5x1x4x2xf32>, tensor<1x4x2xf32>)
  func.return %yh : tensor<1x4x2xf32>
}}
"""
open(sys.argv[1] + ".mlir", "w").write(text)
np.savez(sys.argv[1] + ".npz", x=rng.standard_normal((5, 4, 3)).astype(np.float32))

# CHECK:       func.func @main(%x: tensor<5x4x3xf32> {onnx.name = "x", rnnc.format = [!fxp.fixed<16, {{[0-9]+}}>]})
# CHECK-NEXT:    %x_q = fxp.quantize %x
# CHECK:         %Wz_T = fxp.constant {{.*}} -> tensor<3x2x!fxp.fixed<8, {{[0-9]+}}>>
# CHECK:         rnn.recurrence seqs(%x_q : tensor<5x4x3x!fxp.fixed<16, {{[0-9]+}}>>)
# CHECK:           fxp.matmul %x_t, %Wz_T
# CHECK:           %update = fxp.lut %z_z {table = dense<{{.*}}> : tensor<256xi64>, shift = {{[0-9]+}} : i64, symmetry = "sigmoid"}
# CHECK:           %h_cand = fxp.lut %z_h {{.*}}symmetry = "odd"
# CHECK:         fxp.dequantize
# CHECK-NOT:     rnn.gru
# CHECK-NOT:     rnn.sigmoid

# HARD:          %update = fxp.pwl %z_z {breakpoints = array<i64: {{.*}}>, slopes = array<i64: 0, {{[0-9]+}}, 0>
# HARD:          %h_cand = fxp.pwl %z_h
