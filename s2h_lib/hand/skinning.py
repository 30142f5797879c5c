"""Linear blend skinning as one autograd function, written for memory rather than brevity.

The MANO layer (`hand_model.ManoLayer`) poses its vertices through `LinearBlendSkinning`; the
blend shapes come before it, the joint transforms from the layer's kinematic chain.
"""

import torch
from torch import Tensor


class LinearBlendSkinning(torch.autograd.Function):
    """Skinned vertices (B, n, 3) from the columns of the per-joint 3x4 transforms
    (4, B, 3, 16), skinning weights (n, 16), rest vertices channels first (B, 3, n), and a
    translation (B, 3) or None added to every vertex.

    Column k of a vertex's blended transform is T_k = columns[k] @ weightsᵀ, and
    v = T_0 x + T_1 y + T_2 z + T_3 + shift. Written out, one column at a time through one
    scratch buffer (recomputed in the backward rather than stored), because autograd's
    version of the broadcast product allocates several (B, 3, 4, n) temporaries, and on CPU
    fresh memory (page faults) dominated the layer's time. The weights get no gradient, and
    there is no double backward (it raises).
    """

    @staticmethod
    def forward(
        ctx, columns: Tensor, weights: Tensor, verts: Tensor, shift: Tensor | None
    ) -> Tensor:
        ctx.save_for_backward(columns, weights, verts)
        B, n = verts.shape[0], verts.shape[-1]
        out = verts.new_empty(B, n, 3)
        result = out.transpose(1, 2)  # written channels first, laid out (B, n, 3)
        blended = verts.new_empty(B, 3, n)
        for k in range(4):
            torch.mm(columns[k].reshape(B * 3, -1), weights.T, out=blended.view(B * 3, n))
            if k == 0:
                torch.mul(blended, verts[:, None, 0], out=result)
            elif k < 3:
                result.addcmul_(blended, verts[:, None, k])
            elif shift is None:
                result.add_(blended)
            else:
                result.add_(blended.add_(shift[:, :, None]))
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, Tensor | None, Tensor | None]:
        columns, weights, verts = ctx.saved_tensors
        B, n = verts.shape[0], verts.shape[-1]
        grad = grad.transpose(1, 2)  # (B, 3, n), a strided view
        scratch = torch.empty_like(verts)
        grad_columns = grad_verts = grad_shift = None
        if ctx.needs_input_grad[0]:
            grad_columns = columns.new_empty(4, B, 3, columns.shape[-1])
            for k in range(3):
                torch.mul(grad, verts[:, None, k], out=scratch)
                torch.matmul(scratch, weights, out=grad_columns[k])
            torch.matmul(grad, weights, out=grad_columns[3])
        if ctx.needs_input_grad[2]:
            grad_verts = torch.empty_like(verts)
            for k in range(3):
                torch.mm(columns[k].reshape(B * 3, -1), weights.T, out=scratch.view(B * 3, n))
                torch.mul(scratch[:, 0], grad[:, 0], out=grad_verts[:, k])
                grad_verts[:, k].addcmul_(scratch[:, 1], grad[:, 1])
                grad_verts[:, k].addcmul_(scratch[:, 2], grad[:, 2])
        if ctx.needs_input_grad[3]:
            grad_shift = grad.sum(-1)
        return grad_columns, None, grad_verts, grad_shift
