// RUN: not rnnc-opt %s -p lower-to-fxp 2>&1 | filecheck %s

// Activations must be approximated (tables or PWL) before lowering.
func.func @exact_sigmoid(%x: tensor<2xf32> {rnnc.format = [!fxp.fixed<8, 6>]}) -> tensor<2xf32> {
  %s = rnn.sigmoid %x {rnnc.format = [!fxp.fixed<8, 7>]} : tensor<2xf32>
  func.return %s : tensor<2xf32>
}
// CHECK: rnnc-opt: error: rnn.sigmoid %s has no fixed-point form: run approximate-activations before lower-to-fxp
