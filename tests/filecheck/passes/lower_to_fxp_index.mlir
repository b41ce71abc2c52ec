// RUN: rnnc-opt %s -p lower-to-fxp | filecheck %s

// Arithmetic and predicates on token ids are the host's work on the input: they
// stay exact `rnn` ops, with no format and no cast.
func.func @wrap_ids(%ids: tensor<2x3xi64>) -> tensor<2x3xi64> {
  %zero = rnn.constant dense<0> : tensor<i64>
  %v = rnn.constant dense<10> : tensor<i64>
  %neg = rnn.less %ids, %zero : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi1>
  %ok = rnn.not %neg : tensor<2x3xi1>
  %shifted = rnn.add %ids, %v : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi64>
  %wrapped = rnn.select %ok, %ids, %shifted : (tensor<2x3xi1>, tensor<2x3xi64>, tensor<2x3xi64>) -> tensor<2x3xi64>
  func.return %wrapped : tensor<2x3xi64>
}

// CHECK-LABEL: func.func @wrap_ids
// CHECK:         %neg = rnn.less %ids, %zero : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi1>
// CHECK-NEXT:    %ok = rnn.not %neg : tensor<2x3xi1>
// CHECK-NEXT:    %shifted = rnn.add %ids, %v : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi64>
// CHECK-NEXT:    %wrapped = rnn.select %ok, %ids, %shifted
// CHECK-NEXT:    func.return %wrapped
