func.func @f() {
  %0 = arith.constant 0 : index
  %1 = arith.addi %0#2147483647, %0 : index
  return
}
