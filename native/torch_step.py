#!/usr/bin/env python3
"""PyTorch eager fp32 reference for native/gpu-check.sh: times the same training step as
dev.oialr4j.cuda.StepBenchmark (forward, cross-entropy with label smoothing 0.1, backward, AdamW with
weight decay 0.05 on matrices, loss.item()) on the same models, dense and with the converted layers
as U diag-trainable-Sigma V^T factors (U, V frozen, Sigma trainable, the classifier dense), and prints
tab-separated RESULT lines in the same format:
  RESULT model variant device batch median_ms p10_ms p90_ms trainable_params
A model missing from MODELS prints a 'SKIP model reason' line instead (its builder is to be added here).
"""
import argparse
import math
import sys
import time


def build_mlp(torch, fraction):
    nn = torch.nn
    sizes = [784, 1024, 1024, 1024]
    layers = []
    for i in range(3):
        m, n = sizes[i + 1], sizes[i]
        # OIALR's default selection converts every hidden layer with aspect ratio below 10 (all three
        # here) and keeps the classifier dense.
        layers.append(linear(torch, n, m, fraction))
        layers.append(nn.ReLU())
        layers.append(nn.Dropout(0.2))
    layers.append(nn.Linear(1024, 10))
    return nn.Sequential(*layers), (784,), 10


MODELS = {"mlp": build_mlp}




def linear(torch, n_in, n_out, fraction):
    nn = torch.nn
    if fraction == 0:
        return nn.Linear(n_in, n_out)
    k = max(1, int(round(fraction * min(n_in, n_out))))

    class LowRankLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("u", torch.randn(n_out, k) / math.sqrt(n_out))
            self.register_buffer("v", torch.randn(n_in, k) / math.sqrt(n_in))
            self.sigma = nn.Parameter(torch.diag(torch.rand(k) + 0.5))
            self.bias = nn.Parameter(torch.zeros(n_out))

        def forward(self, x):
            # x V Sigma^T U^T + b: the factored order, as LowRankLinear uses for batches larger than r.
            return ((x @ self.v) @ self.sigma.t()) @ self.u.t() + self.bias

    return LowRankLinear()


def time_steps(torch, model_name, fraction, device, batch, warmup, steps):
    net, example, classes = MODELS[model_name](torch, fraction)
    net = net.to(device).train()
    decay = [p for p in net.parameters() if p.requires_grad and p.dim() >= 2]
    other = [p for p in net.parameters() if p.requires_grad and p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}],
                            lr=2e-3)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    gen = torch.Generator().manual_seed(1)
    x_host = torch.rand((batch,) + example, generator=gen) * 2 - 1
    y_host = torch.randint(0, classes, (batch,), generator=gen)
    times = []
    for s in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        x = x_host.to(device)
        y = y_host.to(device)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        value = loss.item()  # synchronises, like the Java step reading its loss
        t1 = time.perf_counter()
        if not math.isfinite(value):
            raise RuntimeError("loss is %s at step %d" % (value, s))
        if s >= warmup:
            times.append((t1 - t0) * 1e3)
    times.sort()
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    return times[steps // 2], times[steps // 10], times[(steps * 9) // 10], params


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="mlp")
    ap.add_argument("--fractions", default="0,0.25,0.1")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    try:
        import torch
    except ImportError as e:
        print("SKIP\tall\tPyTorch is not installed (%s)" % e)
        return 0
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("SKIP\tall\tPyTorch sees no GPU")
        return 0
    # Plain fp32 everywhere: no TF32 tensor cores, like oialr4j's default GEMMs.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        print("torch %s on %s" % (torch.__version__, torch.cuda.get_device_name(dev)))
    for name in args.models.split(","):
        if name not in MODELS:
            print("SKIP\t%s\tno PyTorch builder for this model in native/torch_step.py" % name)
            continue
        for f in (float(v) for v in args.fractions.split(",")):
            med, p10, p90, params = time_steps(torch, name, f, dev, args.batch, args.warmup, args.steps)
            variant = "dense" if f == 0 else "r=%s" % f
            print("RESULT\t%s\t%s\ttorch-%s\t%d\t%.3f\t%.3f\t%.3f\t%d" % (name, variant, args.device, args.batch, med,
                                                                       p10, p90, params))
    return 0


if __name__ == "__main__":
    sys.exit(main())
