"""Checkpoints: safetensors tensors + a JSON sidecar; no pickle, so loading runs no code.

A checkpoint is two files in <run_dir>/checkpoints/: `ckpt-<env_steps>.safetensors`
(model parameters under "model.", optimizer statistics under "optim.") and
`ckpt-<env_steps>.json` (config, counters, monitor state, RNG states, and the SHA-256
of the tensor file). Each is written to a temporary file and renamed, the JSON last, so
a crash at any point leaves the previous checkpoint whole and the new one invisible.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from a3c.errors import CheckpointError

FORMAT_VERSION = 1
KEEP = 3
BEST = "best"  # checkpoints/best.{safetensors,json}: the weights of the run's best mean so far
WHICH = ("best", "latest")  # what eval, export and load may ask a run directory for


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def rng_states() -> dict[str, Any]:
    """The main process's RNG states (workers reseed from seed, rank and counters)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "python": [version, list(internal), gauss],
        "numpy": [kind, np.asarray(keys).tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.random.get_rng_state().tolist(),
    }


def restore_rng(states: dict[str, Any]) -> None:
    if "python" in states:
        version, internal, gauss = states["python"]
        random.setstate((version, tuple(internal), gauss))
    if "numpy" in states:
        kind, keys, pos, has_gauss, cached = states["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
    if "torch" in states:
        torch.random.set_rng_state(torch.tensor(states["torch"], dtype=torch.uint8))


def save_checkpoint(
    run_dir: str | Path,
    model: torch.nn.Module | dict[str, torch.Tensor],
    optim_tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    env_steps: int,
    name: str | None = None,
) -> Path:
    """Write a checkpoint and keep the newest KEEP; returns the JSON sidecar's path. model: a module
    or its state_dict. name: a named checkpoint (BEST) written in place of the previous one of that
    name, outside the rotation (resume never picks it)."""
    folder = Path(run_dir) / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    stem = name or f"ckpt-{env_steps:012d}"
    state = model.state_dict() if isinstance(model, torch.nn.Module) else model
    tensors = {f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in state.items()}
    tensors.update({f"optim.{k}": v.detach().cpu().contiguous().clone() for k, v in optim_tensors.items()})
    weights = folder / f"{stem}.safetensors"
    tmp = weights.with_name(weights.name + ".tmp")
    path = folder / f"{stem}.json"
    try:
        save_file(tensors, str(tmp))
        if name is not None:
            # The old sidecar goes first: a crash in between leaves no sidecar naming the new weights
            # by the old checksum (the named checkpoint is then missing, never corrupt).
            path.unlink(missing_ok=True)
        os.replace(tmp, weights)
        sidecar = dict(
            meta, format_version=FORMAT_VERSION, weights=weights.name, sha256=_sha256(weights), rng=rng_states()
        )
        _atomic_write_bytes(path, json.dumps(sidecar, indent=1).encode())
    except OSError:
        # Disk full, or the folder gone: take the pieces of this one away (they may be what fills the
        # disk); the checkpoints before it were never touched and stay loadable.
        for piece in (tmp, path.with_name(path.name + ".tmp")):
            piece.unlink(missing_ok=True)
        if not path.exists():
            weights.unlink(missing_ok=True)
        raise
    if name is not None:
        return path
    for old in sorted(folder.glob("ckpt-*.json"))[:-KEEP]:
        old.unlink(missing_ok=True)
        (folder / old.name.replace(".json", ".safetensors")).unlink(missing_ok=True)
    # A process killed between the weights and the sidecar leaves weights nothing points to.
    for orphan in folder.glob("ckpt-*.safetensors*"):
        if orphan.name != weights.name and not (folder / (orphan.name.split(".")[0] + ".json")).exists():
            orphan.unlink(missing_ok=True)
    return path


def find_checkpoint(path: str | Path) -> Path:
    """The newest rotating checkpoint's sidecar for a run directory, checkpoints folder or checkpoint file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no such run directory or checkpoint: {path}")
    if path.is_file():
        if path.suffix == ".safetensors":
            path = path.with_suffix(".json")
        if path.suffix != ".json" or not path.is_file():
            raise CheckpointError(
                f"{path} is not a checkpoint. Allowed: a run directory, or a ckpt-*.json / ckpt-*.safetensors file."
            )
        return path
    candidates = sorted(_checkpoints_folder(path).glob("ckpt-*.json"), reverse=True)
    if not candidates:
        raise CheckpointError(f"no checkpoint found in {path} (expected {_checkpoints_folder(path)}/ckpt-*.json)")
    return candidates[0]


def _checkpoints_folder(path: Path) -> Path:
    # A run directory keeps them in checkpoints/ (which a run killed in its first seconds may not
    # have made yet); a checkpoints folder named directly holds them itself.
    return path if path.name == "checkpoints" or any(path.glob("ckpt-*.json")) else path / "checkpoints"


def load_checkpoint(
    path: str | Path, which: str = "latest"
) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(sidecar, model tensors, optimizer tensors) of a checkpoint at path.

    A file named directly must be intact. For a run directory, which="latest" is the newest intact
    rotating checkpoint: a newest one that is corrupt is passed over for the one before it, with
    the reason kept in sidecar["skipped"]. which="best" is the weights of the run's best mean, or,
    for a run that has none yet (or a corrupt one), the latest, with the reason in "skipped".
    sidecar["which"] says which kind was loaded: best, latest, or file.
    """
    if which not in WHICH:
        raise CheckpointError(f"unknown checkpoint {which!r}. Allowed: {' or '.join(WHICH)}.")
    problems: list[str] = []
    note = None
    if Path(path).is_file():
        candidates, kinds = [find_checkpoint(path)], ["file"]
    else:
        latest = find_checkpoint(path)
        rotating = sorted(latest.parent.glob("ckpt-*.json"), reverse=True)
        candidates, kinds = rotating, ["latest"] * len(rotating)
        if which == BEST:
            best = latest.parent / f"{BEST}.json"
            if best.is_file():
                candidates, kinds = [best, *candidates], [BEST, *kinds]
            else:
                note = "the run has no best checkpoint yet (no full window of episodes): took the latest"
    for sidecar_path, kind in zip(candidates, kinds, strict=True):
        try:
            sidecar, model, optim = _load_one(sidecar_path)
        except CheckpointError as exc:
            problems.append(str(exc))
            continue
        sidecar["skipped"] = problems
        sidecar["path"] = str(sidecar_path)
        sidecar["which"] = kind
        if kind == "latest" and which == BEST and note is None:
            note = "the best checkpoint could not be read: took the latest"
        sidecar["fallback"] = note
        return sidecar, model, optim
    raise CheckpointError("; ".join(problems))


def _load_one(sidecar_path: Path):
    try:
        sidecar = json.loads(sidecar_path.read_text())
        weights = sidecar_path.parent / sidecar["weights"]
        expected = sidecar["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"checkpoint {sidecar_path} is corrupt or incomplete ({exc.__class__.__name__}: {exc})"
        ) from None
    if not weights.is_file():
        raise CheckpointError(f"checkpoint {sidecar_path} names missing weights file {weights.name}")
    if _sha256(weights) != expected:
        raise CheckpointError(f"checkpoint weights {weights} are corrupt (checksum mismatch)")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint weights {weights} cannot be read: {exc}") from None
    model = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
    optim = {k[len("optim.") :]: v for k, v in tensors.items() if k.startswith("optim.")}
    return sidecar, model, optim
