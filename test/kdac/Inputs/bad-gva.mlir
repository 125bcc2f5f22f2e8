// A spec file with HV % H != 0, for kdac's located-diagnostic test.
func.func @kda_forward(%q: tensor<1x8x2x16xf32>, %v: tensor<1x8x3x16xf32>,
                       %g: tensor<1x8x3x16xf32>, %beta: tensor<1x8x3xf32>)
    -> tensor<1x8x3x16xf32> {
  %o = kda.recurrence q(%q) k(%q) v(%v) g(%g) beta(%beta) gate = channel update = delta
      : (tensor<1x8x2x16xf32>, tensor<1x8x2x16xf32>, tensor<1x8x3x16xf32>,
         tensor<1x8x3x16xf32>, tensor<1x8x3xf32>) -> tensor<1x8x3x16xf32>
  return %o : tensor<1x8x3x16xf32>
}
