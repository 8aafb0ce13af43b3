"""Where the learner's network lives: `--device auto|cpu|cuda` resolved to a torch.device, and
the precision of its pass in the loss (`loss_precision`) resolved for that device.

Only the GA3C engine uses an accelerator: its predictors and trainers run batched passes
in the main process. The A3C engine's workers are CPU processes by design.
"""

from __future__ import annotations

import torch

from a3c.errors import UserError


def resolve_device(cfg) -> torch.device:
    """cfg.device as a torch.device: "auto" is CUDA when PyTorch sees a GPU, else the CPU."""
    if cfg.device == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if cfg.device == "cuda":
        build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "a CPU-only build"
        raise UserError(
            f"--device cuda was asked for, but PyTorch ({torch.__version__}, {build}) sees no CUDA device. "
            "Allowed: --device cpu, or --device auto to use a GPU only when one is present."
        )
    return torch.device("cpu")


def move_to_device(model: torch.nn.Module, optimizer, device: torch.device) -> None:
    """Move a model and its optimizer's statistics to device, in place: the optimizer keeps
    its references to the same Parameter objects, whose data moves."""
    model.to(device)
    for state in optimizer.state.values():
        for name, tensor in state.items():
            # The step count stays on the CPU: it is read as a Python number every step.
            if isinstance(tensor, torch.Tensor) and name != "step":
                state[name] = tensor.to(device)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor on device; on CUDA through pinned memory so the copy can run asynchronously."""
    if device.type == "cpu":
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)


def cpu_has_bfloat16_units() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX): without them torch
    emulates it, and a bfloat16 pass is slower than a float32 one."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def loss_in_bfloat16(loss_precision: str, device_type: str = "cpu") -> bool:
    """Whether the loss's network pass runs under bfloat16 autocast. auto chooses it only on a CPU
    with bfloat16 units, where it was measured to pay; on CUDA it has not been measured, so auto
    keeps float32 there."""
    if loss_precision == "auto":
        return device_type == "cpu" and cpu_has_bfloat16_units()
    return loss_precision == "bfloat16"
