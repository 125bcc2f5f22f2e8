"""An fp64 KDA recurrence in torch (DESIGN.md section 1) for the GPU tests:
the fused prologue, then S = (I - b k k^T) Diag(a) S + b k v^T per token."""

import torch
import torch.nn.functional as F


def kda_reference(q, k, v, g, beta, scale=None, initial_state=None, cu_seqlens=None,
                  use_qk_l2norm_in_kernel=False, use_gate_in_kernel=False,
                  use_beta_sigmoid_in_kernel=False, lower_bound=None, A_log=None,
                  dt_bias=None, state_v_first=False):
    q, k, v, g, beta = (t.double().cpu() for t in (q, k, v, g, beta))
    B, T, H, K = q.shape
    HV, V = v.shape[2], v.shape[3]
    scale = K ** -0.5 if scale is None else scale
    if use_qk_l2norm_in_kernel:
        q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        k = k / k.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    if use_gate_in_kernel:
        x = g + (dt_bias.double().cpu().view(HV, K) if dt_bias is not None else 0)
        a = A_log.double().cpu().view(HV, 1).exp() if A_log is not None else None
        if lower_bound is not None:
            g = lower_bound * torch.sigmoid(x * a if a is not None else x)
        else:
            g = -a * F.softplus(x)
    if use_beta_sigmoid_in_kernel:
        beta = torch.sigmoid(beta)
    seqs = ([(b, 0, T) for b in range(B)] if cu_seqlens is None else
            [(0, int(s), int(e)) for s, e in zip(cu_seqlens[:-1].tolist(), cu_seqlens[1:].tolist())])
    o = torch.zeros(B, T, HV, V, dtype=torch.float64)
    states = torch.zeros(len(seqs), HV, K, V, dtype=torch.float64)
    for n, (b, start, end) in enumerate(seqs):
        for hv in range(HV):
            h = hv // (HV // H)
            S = torch.zeros(K, V, dtype=torch.float64)
            if initial_state is not None:
                s0 = initial_state[n, hv].double().cpu()
                S = s0.T.clone() if state_v_first else s0.clone()
            for t in range(start, end):
                kt, qt = k[b, t, h], q[b, t, h]
                S = S * g[b, t, hv].exp()[:, None]
                u = beta[b, t, hv] * (v[b, t, hv] - kt @ S)
                S = S + torch.outer(kt, u)
                o[b, t, hv] = scale * (qt @ S)
            states[n, hv] = S
    if state_v_first:
        states = states.transpose(-1, -2).contiguous()
    return o, states
