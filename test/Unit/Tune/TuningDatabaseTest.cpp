//===- TuningDatabaseTest.cpp - The tuning database and sweep candidates --===//
//
// The database round-trips, rejects malformed files with messages that say
// what is wrong, and picks the entry nearest a sequence length; the sweep's
// candidates respect the spec (V tiles divide V, Neumann only for 16; a
// backward spec sweeps the backward's choices).
//
//===----------------------------------------------------------------------===//
#include "kdac/Tune/TuningDatabase.h"

#include <algorithm>

#include <gtest/gtest.h>

using namespace kdac;

namespace {

KernelSpec spec128() {
  KernelSpec s;
  s.H = s.HV = 64;
  s.K = s.V = 128;
  return s;
}

TuningEntry entry(int64_t bucket, int64_t chunk, double ms) {
  TuningEntry e;
  e.arch = "sm_90a";
  e.spec = tuningSpecKey(spec128());
  e.bucket = bucket;
  e.options.chunkSize = chunk;
  e.milliseconds = ms;
  e.measuredOn = "H100, 2026-11-22";
  return e;
}

TEST(TuningDatabase, RoundTripsAndLooksUpTheNearestBucket) {
  TuningDatabase db;
  db.record(entry(1024, 16, 1.0));
  db.record(entry(8192, 32, 5.0));
  db.record(entry(8192, 64, 4.0)); // replaces the 8192 entry
  llvm::Expected<TuningDatabase> back =
      TuningDatabase::parse(db.serialize(), "db.json");
  ASSERT_TRUE(static_cast<bool>(back)) << llvm::toString(back.takeError());
  ASSERT_EQ(back->entries().size(), 2u);
  std::optional<TuningEntry> hit = back->lookup("sm_90a", spec128(), 6000);
  ASSERT_TRUE(hit.has_value());
  EXPECT_EQ(hit->options.chunkSize, 64);
  EXPECT_EQ(hit->milliseconds, 4.0);
  EXPECT_EQ(back->lookup("sm_90a", spec128(), 700)->options.chunkSize, 16);
  EXPECT_FALSE(back->lookup("sm_80", spec128(), 6000).has_value());
  KernelSpec other = spec128();
  other.qkL2Norm = true;
  EXPECT_FALSE(back->lookup("sm_90a", other, 6000).has_value());
}

TEST(TuningDatabase, RoundTripsEveryOption) {
  TuningEntry e = entry(4096, 32, 2.0);
  ChunkedPipelineOptions &o = e.options;
  o.utMethod = "forward-substitution";
  o.diagMethod = "neumann";
  o.anchorBlock = 8;
  o.blockThreads = 128;
  o.recurrenceBlockThreads = 64;
  o.valueTile = 32;
  o.decodeValueTile = 16;
  o.decodeStateIn = "shared";
  o.gradProducts = "tf32";
  o.gradValueTile = 16;
  o.thinBarriers = false;
  o.gradScanPrep = false;
  o.gradMapBlockThreads = 256;
  o.gradMapStatesInPlace = false;
  o.gradScanBlocksPerSM = 0;
  o.gradPrepBlockThreads = 512;
  o.recurrent = true;
  TuningDatabase db;
  db.record(e);
  llvm::Expected<TuningDatabase> back =
      TuningDatabase::parse(db.serialize(), "db.json");
  ASSERT_TRUE(static_cast<bool>(back)) << llvm::toString(back.takeError());
  EXPECT_EQ(optionsKey(back->entries().front().options), optionsKey(o));
  EXPECT_NE(optionsKey(o), optionsKey(ChunkedPipelineOptions{}));
}

TEST(TuningDatabase, MissingOptionsKeepTheirDefaults) {
  // Databases written before an option existed name only the older ones.
  llvm::Expected<TuningDatabase> db = TuningDatabase::parse(
      "{\"format\": \"kdac-tuning\", \"version\": 1, \"entries\": "
      "[{\"arch\": \"sm_90a\", \"spec\": \"x\", \"measured_on\": \"y\", "
      "\"t_bucket\": 64, \"ms\": 1, \"options\": {\"chunk_size\": 32}}]}",
      "t.json");
  ASSERT_TRUE(static_cast<bool>(db)) << llvm::toString(db.takeError());
  ChunkedPipelineOptions expected;
  expected.chunkSize = 32;
  EXPECT_EQ(optionsKey(db->entries().front().options), optionsKey(expected));
}

TEST(TuningDatabase, RejectsMalformedFiles) {
  auto error = [](const char *text) {
    llvm::Expected<TuningDatabase> db = TuningDatabase::parse(text, "t.json");
    return db ? std::string("parsed") : llvm::toString(db.takeError());
  };
  EXPECT_NE(error("{").find("t.json: not valid JSON"), std::string::npos);
  EXPECT_EQ(error("{\"format\": \"other\"}"),
            "t.json: not a kdac tuning database (no \"format\": \"kdac-tuning\")");
  EXPECT_EQ(error("{\"format\": \"kdac-tuning\", \"version\": 2, \"entries\": []}"),
            "t.json: unsupported version (this kdac reads version 1)");
  EXPECT_EQ(error("{\"format\": \"kdac-tuning\", \"version\": 1}"),
            "t.json: needs an array 'entries'");
  auto withOptions = [&](const std::string &options) {
    std::string text =
        "{\"format\": \"kdac-tuning\", \"version\": 1, \"entries\": "
        "[{\"arch\": \"sm_90a\", \"spec\": \"x\", \"measured_on\": "
        "\"y\", \"t_bucket\": 64, \"ms\": 1, \"options\": " +
        options + "}]}";
    return error(text.c_str());
  };
  EXPECT_EQ(withOptions("{\"chunk_size\": -16}"),
            "t.json: entry 0 options: 'chunk_size' must be a non-negative integer");
  EXPECT_EQ(withOptions("{\"ut_method\": 3}"),
            "t.json: entry 0 options: 'ut_method' must be a string");
  EXPECT_EQ(withOptions("{\"recurrent\": \"yes\"}"),
            "t.json: entry 0 options: 'recurrent' must be true or false");
  EXPECT_EQ(withOptions("{\"chunk_sise\": 16}"),
            "t.json: entry 0 options: unknown option 'chunk_sise'");
  EXPECT_EQ(withOptions("{\"decode_v_tile\": 100000}"),
            "t.json: entry 0 options: decode_v_tile must be 0 (all of V) or a "
            "tile of at most 256 columns, got 100000");
  EXPECT_EQ(error("{\"format\": \"kdac-tuning\", \"version\": 1, \"entries\": [3]}"),
            "t.json: entry 0 is not an object");
}

TEST(TuningCandidates, RespectTheSpec) {
  KernelSpec s = spec128();
  s.V = 32;
  std::vector<ChunkedPipelineOptions> candidates = tuningCandidates(s);
  ASSERT_FALSE(candidates.empty());
  for (const ChunkedPipelineOptions &o : candidates) {
    EXPECT_LT(o.valueTile, 32); // 0 stands for all of V
    if (o.valueTile) {
      EXPECT_EQ(32 % o.valueTile, 0);
    }
    if (o.utMethod == "neumann") {
      EXPECT_EQ(o.chunkSize, 16);
    }
  }
  // 3 chunk sizes x 2 inverse choices x V tiles {16, all} x 2 thread counts.
  EXPECT_EQ(candidates.size(), 3u * 2u * 2u * 2u);
  // The defaults' inverse is among the 16-token candidates.
  EXPECT_TRUE(std::any_of(candidates.begin(), candidates.end(),
                          [](const ChunkedPipelineOptions &o) {
                            return o.chunkSize == 16 &&
                                   o.utMethod == "blocked" &&
                                   o.diagMethod == "forward-substitution";
                          }));
  // A V no listed tile divides still gets the whole-V candidates.
  s.V = 24;
  EXPECT_EQ(tuningCandidates(s).size(), 3u * 2u * 1u * 2u);
}

TEST(TuningCandidates, BackwardSweepsItsOwnChoices) {
  KernelSpec s = spec128();
  s.op = KernelOp::Backward;
  std::vector<ChunkedPipelineOptions> candidates = tuningCandidates(s);
  // Prepared scans or not x scans' V tiles {all, 64, 32, 16} x the
  // per-chunk kernels' {256, 512} threads x the map's states in shared
  // memory or in place.
  EXPECT_EQ(candidates.size(), 2u * 4u * 2u * 2u);
  for (const ChunkedPipelineOptions &o : candidates) {
    EXPECT_EQ(o.chunkSize, 0); // the forward's choices keep their defaults
    EXPECT_EQ(o.valueTile, ChunkedPipelineOptions{}.valueTile);
    EXPECT_EQ(o.blockThreads, ChunkedPipelineOptions{}.blockThreads);
    if (o.gradValueTile) {
      EXPECT_EQ(s.V % o.gradValueTile, 0);
    }
  }
  // Products stay auto (tf32 only for 16-bit inputs, which it keeps).
  s.dtype = s.betaDType = DType::F32;
  for (const ChunkedPipelineOptions &o : tuningCandidates(s))
    EXPECT_EQ(o.gradProducts, "auto");
  // A backward entry never serves the forward of the same shape, nor the
  // other way round.
  KernelSpec forward = spec128();
  EXPECT_NE(tuningSpecKey(s), tuningSpecKey(forward));
  ChunkedPipelineOptions tf32;
  tf32.gradProducts = "tf32";
  tf32.gradValueTile = 16;
  EXPECT_EQ(describe(ChunkedPipelineOptions{}).find("backward"),
            std::string::npos);
  EXPECT_NE(describe(tf32).find("backward products tf32, backward scans "
                                "v-tile 16"),
            std::string::npos);
  ChunkedPipelineOptions unsplit;
  unsplit.gradValueTile = 0;
  unsplit.thinBarriers = false;
  unsplit.gradScanPrep = false;
  unsplit.gradMapBlockThreads = 256;
  unsplit.gradMapStatesInPlace = false;
  EXPECT_NE(describe(unsplit).find("backward scans v-tile all of V, every "
                                   "barrier, unprepared scans, backward map "
                                   "threads 256, map states in shared memory"),
            std::string::npos);
}

TEST(TuningCandidates, DecodeSweepsItsOwnChoices) {
  KernelSpec s = spec128();
  s.op = KernelOp::Decode;
  s.T = 1;
  std::vector<ChunkedPipelineOptions> candidates = tuningCandidates(s);
  // State in {auto, registers, shared} x V tiles {chosen, 16, 32, 64} x
  // {64, 128, 256} threads.
  EXPECT_EQ(candidates.size(), 3u * 4u * 3u);
  for (const ChunkedPipelineOptions &o : candidates) {
    EXPECT_TRUE(o.recurrent);
    EXPECT_EQ(o.chunkSize, 0); // the forward's choices keep their defaults
    if (o.decodeValueTile) {
      EXPECT_EQ(s.V % o.decodeValueTile, 0);
    }
  }
  // One token and several are tuned apart (their kernels differ), and a
  // decode entry never serves the forward.
  KernelSpec four = s;
  four.T = 4;
  EXPECT_NE(tuningSpecKey(s), tuningSpecKey(four));
  EXPECT_NE(tuningSpecKey(s), tuningSpecKey(spec128()));
  EXPECT_EQ(tuningSpecKey(s).rfind("T1 ", 0), 0u);
  EXPECT_NE(tuningSpecKey(s).find(" decode"), std::string::npos);
  KernelSpec any = s;
  any.T = kDynamic;
  EXPECT_EQ(tuningSpecKey(any).rfind("H", 0), 0u);
}

TEST(TuningBuckets, ArePowersOfTwoFrom64) {
  EXPECT_EQ(sequenceBucket(1), 64);
  EXPECT_EQ(sequenceBucket(64), 64);
  EXPECT_EQ(sequenceBucket(65), 128);
  EXPECT_EQ(sequenceBucket(8192), 8192);
}

} // namespace
