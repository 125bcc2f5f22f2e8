//===- SourceChecksTest.cpp - Pre-parse checks of .mlir text --------------===//
//
// The scan must refuse what crashes MLIR's parser (huge result numbers,
// forward references resolved inside a region) however the text is spaced,
// and must accept every shape of valid IR kdac reads: function and block
// arguments, region arguments, result lists, attributes, strings, comments.
//
//===----------------------------------------------------------------------===//
#include "kdac/Frontend/SourceChecks.h"

#include <gtest/gtest.h>

#include <string>

using namespace kdac;

namespace {

std::string check(llvm::StringRef text) {
  llvm::Error e = checkMlirSource(text, "t.mlir");
  return e ? llvm::toString(std::move(e)) : "";
}

TEST(SourceChecksTest, AcceptsValidIR) {
  EXPECT_EQ(check(R"(
func.func @f(%arg0: tensor<4xf32>, %c: i1) -> tensor<4xf32> attributes {kdac.x = "%y"} {
  %0, %1:2 = "kda.two"(%arg0) : (tensor<4xf32>) -> (f32, f32, f32)
  %2 = scf.for %i = %lb to %ub step %s iter_args(%acc = %arg0) -> (tensor<4xf32>) {
    scf.yield %acc : tensor<4xf32>
  }
  %o = kda.chunk_loop q(%2) : (tensor<4xf32>) -> tensor<4xf32> {
  ^bb0(%arg5: tensor<16x32xf32>, %arg6 : f32):
    %3 = kda.cumsum %arg5 : tensor<16x32xf32>
    kda.yield %3, %1#1 : tensor<16x32xf32>, f32
  }
  // A comment with %undefined and %0 = inside.
  return %o : tensor<4xf32>
}
func.func @g(%arg0: f32) {
  %0 = "x"(%arg0) : (f32) -> f32
  return
})"),
            "");
}

TEST(SourceChecksTest, RefusesLargeResultNumbersHoweverSpaced) {
  EXPECT_NE(check("%1 = arith.addi %0#2147483647, %0 : index").find(
                "result number 2147483647 is over the limit"),
            std::string::npos);
  EXPECT_NE(check("%1 = arith.addi %0 #2147483647, %0 : index").find(
                "result number"),
            std::string::npos);
  // MLIR's lexer skips a NUL byte inside the buffer like a space.
  EXPECT_NE(check(std::string("%1 = arith.addi %0\0#2147483647", 31))
                .find("result number"),
            std::string::npos);
  EXPECT_EQ(check("%1 = \"x\"(%0#65535) : (f32) -> f32"), "");
  EXPECT_EQ(check("%1 = \"x\"() {s = \"%0#2147483647\"} : () -> f32"), "");
}

TEST(SourceChecksTest, CommentsEndAtCarriageReturnToo) {
  EXPECT_NE(check("// note\r%1 = arith.addi %0#2147483647, %0 : index")
                .find("result number"),
            std::string::npos);
}

TEST(SourceChecksTest, RefusesForwardReferenceIntoRegion) {
  std::string message = check(R"("x"(%0) : (f32) -> ()
%o = kda.chunk_loop q(%a) : (f32) -> f32 {
  %0 = kda.cumsum %b : f32
module {)");
  EXPECT_EQ(message, "t.mlir:3:3: '%0' is defined inside a region after a use "
                     "outside it at line 1; kdac refuses forward references "
                     "into a region");
  // Block arguments of the region bind the outer use just the same.
  EXPECT_NE(check(R"("x"(%arg5) : (f32) -> ()
%o = kda.chunk_loop q(%a) : (f32) -> f32 {
^bb0(%arg5: f32):
)")
                .find("'%arg5' is defined inside a region"),
            std::string::npos);
}

TEST(SourceChecksTest, RefusesForwardReferenceFromSiblingRegion) {
  EXPECT_NE(check(R"(func.func @f(%c: i1) {
  scf.if %c {
    "x"(%v) : (index) -> ()
  }
  scf.if %c {
    %v = arith.constant 0 : index
  }
})")
                .find("'%v' is defined inside a region after a use outside "
                      "it at line 3"),
            std::string::npos);
}

TEST(SourceChecksTest, RefusesRedefinitionInsideRegion) {
  EXPECT_NE(check(R"(func.func @f(%c: i1) {
  %v = arith.constant 0 : index
  scf.if %c {
    %v = arith.constant 1 : index
  }
})")
                .find("'%v' is defined again inside a region"),
            std::string::npos);
}

TEST(SourceChecksTest, ForwardReferenceInOneRegionIsLeftToTheParser) {
  // Same-region forward references are MLIR's to diagnose: its parser
  // resolves them safely.
  EXPECT_EQ(check(R"(func.func @f() {
  "x"(%v) : (index) -> ()
  %v = arith.constant 0 : index
})"),
            "");
}

} // namespace
