// RUN: RNNC_ROUNDTRIP
// RUN: RNNC_GENERIC_ROUNDTRIP
// RUN: rnnc-opt %s -p fold-constants | filecheck %s --check-prefix=FOLD

// Comparisons and logic on token ids and masks, as Keras and tf2onnx put them
// before an embedding: `where(ids < 0, ids + V, ids)`.
func.func @wrap_ids(%ids: tensor<2x3xi64>, %m: tensor<2x3xi1>) -> (tensor<2x3xi64>, tensor<2x3xi1>) {
  %zero = rnn.constant dense<0> : tensor<i64>
  %v = rnn.constant dense<10> : tensor<i64>
  %neg = rnn.less %ids, %zero : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi1>
  %big = rnn.greater %ids, %v : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi1>
  %eq = rnn.equal %ids, %zero : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi1>
  %any = rnn.or %neg, %big : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  %ok = rnn.not %any : tensor<2x3xi1>
  %both = rnn.and %ok, %m : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
  %shifted = rnn.add %ids, %v : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi64>
  %wrapped = rnn.select %neg, %shifted, %ids : (tensor<2x3xi1>, tensor<2x3xi64>, tensor<2x3xi64>) -> tensor<2x3xi64>
  func.return %wrapped, %both : tensor<2x3xi64>, tensor<2x3xi1>
}

// CHECK-LABEL: func.func @wrap_ids
// CHECK:         %neg = rnn.less %ids, %zero : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi1>
// CHECK-NEXT:    %big = rnn.greater %ids, %v : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi1>
// CHECK-NEXT:    %eq = rnn.equal %ids, %zero : (tensor<2x3xi64>, tensor<i64>) -> tensor<2x3xi1>
// CHECK-NEXT:    %any = rnn.or %neg, %big : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>
// CHECK-NEXT:    %ok = rnn.not %any : tensor<2x3xi1>
// CHECK-NEXT:    %both = rnn.and %ok, %m : (tensor<2x3xi1>, tensor<2x3xi1>) -> tensor<2x3xi1>

// Ops on constants fold by the reference semantics (numpy's comparisons).
func.func @fold() -> (tensor<4xi1>, tensor<4xi1>, tensor<4xi64>) {
  %ids = rnn.constant dense<[-2, 0, 3, 12]> : tensor<4xi64>
  %zero = rnn.constant dense<0> : tensor<i64>
  %v = rnn.constant dense<10> : tensor<i64>
  %neg = rnn.less %ids, %zero : (tensor<4xi64>, tensor<i64>) -> tensor<4xi1>
  %big = rnn.greater %ids, %v : (tensor<4xi64>, tensor<i64>) -> tensor<4xi1>
  %eq = rnn.equal %ids, %zero : (tensor<4xi64>, tensor<i64>) -> tensor<4xi1>
  %bad = rnn.or %neg, %big : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
  %ok = rnn.not %bad : tensor<4xi1>
  %okz = rnn.and %ok, %eq : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
  %shifted = rnn.add %ids, %v : (tensor<4xi64>, tensor<i64>) -> tensor<4xi64>
  %wrapped = rnn.select %neg, %shifted, %ids : (tensor<4xi1>, tensor<4xi64>, tensor<4xi64>) -> tensor<4xi64>
  func.return %ok, %okz, %wrapped : tensor<4xi1>, tensor<4xi1>, tensor<4xi64>
}

// FOLD-LABEL: func.func @fold
// FOLD-NEXT:    %ok = rnn.constant dense<[false, true, true, false]> : tensor<4xi1>
// FOLD-NEXT:    %okz = rnn.constant dense<[false, true, false, false]> : tensor<4xi1>
// FOLD-NEXT:    %wrapped = rnn.constant dense<[8, 0, 3, 12]> : tensor<4xi64>
// FOLD-NEXT:    func.return %ok, %okz, %wrapped
