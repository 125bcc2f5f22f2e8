/*===- Kdac.h - A C interface to kdac's JIT, for Python and other FFIs ----===*
 *
 * A stable C surface over kdac::Jit and KdaKernel so that a language binding
 * (the Python package loads it with ctypes) needs no C++ ABI, no Python
 * headers and no MLIR: it fills a kdac_spec and kdac_tensor descriptors of
 * device memory it owns, asks for the workspace sizes, allocates them from
 * its own allocator and launches on its own stream. Every function returns
 * 0 on success and a non-zero code with kdac_last_error() set otherwise;
 * nothing aborts on bad input.
 *
 *===----------------------------------------------------------------------===*/
#ifndef KDAC_C_KDAC_H
#define KDAC_C_KDAC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a struct below changes; the binding checks it. */
#define KDAC_C_API_VERSION 3

enum kdac_dtype {
  KDAC_F64 = 0, KDAC_F32 = 1, KDAC_F16 = 2, KDAC_BF16 = 3, KDAC_I64 = 4,
  KDAC_I32 = 5
};

/* The problem (kdac::KernelSpec). B and T < 0 mean "any at run time". */
typedef struct kdac_spec {
  int64_t B, T, H, HV, K, V;
  int32_t varlen;
  int32_t dtype, gate_dtype, beta_dtype, state_dtype; /* F32, F16 or BF16 */
  int32_t gate;       /* 0 none, 1 scalar, 2 channel */
  int32_t update;     /* 0 delta, 1 additive */
  int32_t activation; /* 0 none, 1 softplus, 2 lowerbound */
  int32_t has_lower_bound;
  double lower_bound;
  int32_t has_a_log, has_dt_bias, qk_l2norm, beta_sigmoid;
  int32_t has_initial_state, has_final_state, state_v_first;
  int32_t has_scale;
  double scale;
  int32_t decode, state_pool, per_token_states, accepted_counts;
  int32_t backward; /* the gradients' kernels (not with decode) */
  /* Speculative decoding by records (kdac::KernelSpec::tokenRecords): a
   * decode spec writes token_records and leaves the pool as it was; a
   * commit spec (commit = 1, not with decode or backward) rebuilds each
   * sequence's state after its accepted prefix. */
  int32_t token_records, commit;
} kdac_spec;

#define KDAC_MAX_RANK 8

/* Device memory described by the caller; data == 0 means absent. Tensors
 * must be contiguous (row-major). */
typedef struct kdac_tensor {
  uint64_t data;
  int32_t dtype;
  int32_t rank;
  int64_t shape[KDAC_MAX_RANK];
} kdac_tensor;

typedef struct kdac_launch_args {
  kdac_tensor q, k, v, g, beta, a_log, dt_bias, initial_state, cu_seqlens;
  kdac_tensor o, final_state;
  kdac_tensor state_pool, state_indices, num_accepted;
  /* The backward's cotangents (f32, o's and final_state's shapes) and the
   * gradients it writes (f32, their inputs' shapes). */
  kdac_tensor d_o, dht, dq, dk, dv, dg, dbeta, da_log, ddt_bias, dh0;
  /* [B, T, HV, 2K + V] f32: written by a token-records decode, read by a
   * commit. */
  kdac_tensor token_records;
} kdac_launch_args;

typedef struct kdac_kernel kdac_kernel;

int kdac_api_version(void);
/* The message of the last failure on this thread ("" if none). */
const char *kdac_last_error(void);

/* One line naming what is inconsistent in the spec, or 0 when it is valid
 * (needs no GPU). */
int kdac_validate_spec(const kdac_spec *spec);
/* Checks launch arguments against a spec as a launch would (needs no GPU). */
int kdac_check_launch(const kdac_spec *spec, const kdac_launch_args *args);

/* Generates, compiles (or loads from the disk cache) and loads the kernels
 * for a spec on a device (its primary context, which PyTorch shares), for
 * the device's target (sm_90a on compute capability 9.0, sm_80 on 8.x; other
 * devices are refused with a message); the same spec returns the same
 * kernel, valid until the process exits. */
int kdac_get_kernel(const kdac_spec *spec, int64_t typical_t, int device,
                    kdac_kernel **kernel);
/* Where the kernel's configuration came from and how it was obtained
 * (compiled, memory or disk cache), one line. */
const char *kdac_kernel_description(const kdac_kernel *kernel);
int kdac_kernel_num_workspaces(const kdac_kernel *kernel);
/* bytes[i] for workspace i, for a launch with args. */
int kdac_kernel_workspace_bytes(const kdac_kernel *kernel,
                                const kdac_launch_args *args, size_t *bytes,
                                int num_workspaces);
/* Enqueues the kernels on stream (a CUstream; 0 is the legacy default)
 * with caller-owned workspaces of the given sizes. */
int kdac_kernel_launch(kdac_kernel *kernel, void *stream,
                       const kdac_launch_args *args,
                       const uint64_t *workspaces,
                       const size_t *workspace_bytes, int num_workspaces);

#ifdef __cplusplus
}
#endif

#endif /* KDAC_C_KDAC_H */
