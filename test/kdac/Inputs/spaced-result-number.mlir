// The lexer reads `%0 #N` like `%0#N`: the same table size, after a space.
func.func @f() {
  %0 = arith.constant 0 : index
  %1 = arith.addi %0 #2147483647, %0 : index
  return
}
