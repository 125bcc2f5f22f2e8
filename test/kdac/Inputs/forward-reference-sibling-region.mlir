// A use left unresolved in one region is still a forward reference when a
// later sibling region defines the name.
func.func @f(%c: i1) {
  scf.if %c {
    "kda.use"(%v) : (index) -> ()
  }
  scf.if %c {
    %v = arith.constant 0 : index
  }
  return
}
