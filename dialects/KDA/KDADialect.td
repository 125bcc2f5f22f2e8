//===- KDADialect.td - The kda dialect definition ----------*- tablegen -*-===//
//
// Declares the `kda` dialect: Kimi Delta Attention at the algorithm level.
//
//===----------------------------------------------------------------------===//
#ifndef KDA_DIALECT_TD
#define KDA_DIALECT_TD

include "mlir/IR/OpBase.td"

def KDA_Dialect : Dialect {
  let name = "kda";
  let summary = "Kimi Delta Attention at the algorithm level";
  let description = [{
    The `kda` dialect expresses the KDA family of linear-attention
    recurrences on tensors: the whole recurrence as one op
    (`kda.recurrence`), and later its chunkwise decomposition.
  }];
  let cppNamespace = "::mlir::kda";
}

class KDA_Op<string mnemonic, list<Trait> traits = []>
    : Op<KDA_Dialect, mnemonic, traits>;

#endif // KDA_DIALECT_TD
