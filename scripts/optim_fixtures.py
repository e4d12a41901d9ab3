"""Optimizer, LR-schedule and gradient-clipping fixtures from torch (and Lion, which torch lacks).

optim/<case>.safetensors: param.0, then grad.<t> and param.<t+1> for t = 0..<steps on one 1-D
parameter; hyperparameters in __metadata__. optim/schedules.safetensors: the LR the optimizer sees at
each step for each schedule. optim/clip.safetensors: clip_grad_norm_ below and above the total norm.
"""
import warnings

import torch
import torch.nn as nn
from torch.optim import lr_scheduler

from safetensors_io import write_safetensors

N = 1003  # not a multiple of any SIMD width, so vectorised loops must handle a tail
STEPS = 6


def lion_step(p, grad, exp_avg, *, lr, beta1, beta2, weight_decay):
    """One Lion step (Chen et al. 2023; lucidrains/lion-pytorch), exp_avg starting at zero."""
    p.mul_(1 - lr * weight_decay)
    update = (exp_avg * beta1 + grad * (1 - beta1)).sign()
    p.add_(update, alpha=-lr)
    exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)


def make_stepper(kind, p, hp):
    """A function that applies one step of optimizer `kind` (hyperparameters hp) to p, given a grad."""
    if kind == "lion":
        exp_avg = torch.zeros_like(p)

        def lion(g):
            with torch.no_grad():
                lion_step(p, g, exp_avg, lr=hp["lr"], beta1=hp["beta1"], beta2=hp["beta2"],
                          weight_decay=hp["weight_decay"])
        return lion
    if kind == "adamw":
        opt = torch.optim.AdamW([p], lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                                weight_decay=hp["weight_decay"])
    else:
        opt = torch.optim.SGD([p], lr=hp["lr"], momentum=hp["momentum"], dampening=hp["dampening"],
                              nesterov=hp["nesterov"], weight_decay=hp["weight_decay"])

    def torch_step(g):
        p.grad = g.clone()
        opt.step()
    return torch_step


def run_optimizer(kind, hp, seed):
    """param.0, grad.<t>, param.<t+1> for STEPS steps of optimizer `kind` on one random tensor."""
    torch.manual_seed(seed)
    p = nn.Parameter(torch.randn(N))
    grads = [torch.randn(N) for _ in range(STEPS)]
    step = make_stepper(kind, p, hp)
    out = {"param.0": p.detach().clone()}
    for t, g in enumerate(grads):
        step(g)
        out[f"grad.{t}"] = g
        out[f"param.{t + 1}"] = p.detach().clone()
    return out


def metadata_of(kind, hp):
    md = {"optimizer": kind, "steps": repr(STEPS)}
    for k, v in hp.items():
        md[k] = ("true" if v else "false") if isinstance(v, bool) else repr(float(v))
    return md


OPTIM_CASES = {  # name: (optimizer, hyperparameters, seed)
    "adamw": ("adamw", dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01), 301),
    "adamw_big": ("adamw", dict(lr=3e-2, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1), 302),
    "sgd_plain": ("sgd", dict(lr=0.1, momentum=0.0, dampening=0.0, nesterov=False,
                              weight_decay=0.0), 303),
    "sgd_momentum": ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.0, nesterov=False,
                                 weight_decay=1e-4), 304),
    "sgd_nesterov": ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.0, nesterov=True,
                                 weight_decay=5e-4), 305),
    "sgd_dampening": ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.1, nesterov=False,
                                  weight_decay=0.0), 306),
    "lion": ("lion", dict(lr=1e-3, beta1=0.9, beta2=0.99, weight_decay=0.1), 307),
}

BASE_LR = 0.1
WARMUP, WARMUP_TOTAL = 5, 30


SCHEDULES = {  # name: (T, parameters for the metadata, factory: optimizer -> scheduler)
    "constant": (20, {}, lambda opt: lr_scheduler.LambdaLR(opt, lambda t: 1.0)),
    "step": (30, {"step_size": 7, "gamma": 0.5},
             lambda opt: lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)),
    "cosine": (25, {"t_max": 25, "eta_min": 0.0},
               lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=25, eta_min=0.0)),
    "cosine_min": (25, {"t_max": 25, "eta_min": BASE_LR / 100},
                   lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=25, eta_min=BASE_LR / 100)),
    "warmup_cosine": (
        WARMUP_TOTAL,
        {"warmup": WARMUP, "start_factor": 0.01, "end_factor": 1.0, "total": WARMUP_TOTAL,
         "t_max": WARMUP_TOTAL - WARMUP, "eta_min": 0.0},
        lambda opt: lr_scheduler.SequentialLR(opt, milestones=[WARMUP], schedulers=[
            lr_scheduler.LinearLR(opt, start_factor=0.01, end_factor=1.0, total_iters=WARMUP),
            lr_scheduler.CosineAnnealingLR(opt, T_max=WARMUP_TOTAL - WARMUP, eta_min=0.0)])),
}


def write_schedules(path):
    tensors, md = {}, {"base_lr": repr(BASE_LR)}
    for name, (T, params, make) in SCHEDULES.items():
        opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=BASE_LR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # some torch versions warn from inside SequentialLR
            sched = make(opt)
            lrs = []
            for _ in range(T):
                lrs.append(opt.param_groups[0]["lr"])
                opt.step()  # no gradient, so a no-op; keeps torch's "scheduler before optimizer" check quiet
                sched.step()
        tensors[name] = torch.tensor(lrs, dtype=torch.float32).numpy()
        md[f"T.{name}"] = repr(T)
        md.update({f"{name}.{k}": repr(v) for k, v in params.items()})
    write_safetensors(path, tensors, md)


def write_clip(path, seed=401):
    """clip_grad_norm_ over two tensors: once with max_norm below the total norm, once above."""
    torch.manual_seed(seed)
    tensors, md = {}, {}
    for prefix, max_norm in (("", 5.0), ("noclip.", 100.0)):
        a, b = nn.Parameter(torch.zeros(300)), nn.Parameter(torch.zeros(50))
        a.grad, b.grad = torch.randn(300), torch.randn(50)
        tensors[f"{prefix}grad.a"], tensors[f"{prefix}grad.b"] = a.grad.clone(), b.grad.clone()
        total = torch.nn.utils.clip_grad_norm_([a, b], max_norm)
        assert (total > max_norm) == (prefix == ""), "max_norm is on the wrong side of the norm"
        tensors[f"{prefix}clipped.a"], tensors[f"{prefix}clipped.b"] = a.grad, b.grad
        tensors[f"{prefix}total_norm"] = total
        md[f"{prefix}max_norm"] = repr(max_norm)
    write_safetensors(path, {k: v.detach().numpy() for k, v in tensors.items()}, md)


def write_optim_fixtures(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (kind, hp, seed) in OPTIM_CASES.items():
        tensors = run_optimizer(kind, hp, seed)
        write_safetensors(out_dir / f"{name}.safetensors", {k: v.numpy() for k, v in tensors.items()},
                          metadata_of(kind, hp))
    write_schedules(out_dir / "schedules.safetensors")
    write_clip(out_dir / "clip.safetensors")
    print(f"{out_dir}: {len(OPTIM_CASES)} optimizer cases, schedules, clip")
