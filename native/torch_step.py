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


def rank_of(fraction, m, n):
    return max(1, int(round(fraction * min(m, n))))


def conv(torch, c_in, c_out, k, stride, pad, fraction):
    """Conv2d without bias (ResNet's), or LowRankConv2d's two convolutions: the r filters V^T with the
    layer's stride and padding, then a 1x1 convolution with U Sigma; like the Java layer it forms the dense
    kernel (U Sigma) V^T instead when that costs fewer multiply-adds for the batch's output positions."""
    nn = torch.nn
    F = torch.nn.functional
    if fraction == 0:
        return nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, bias=False)
    patch = c_in * k * k
    r = rank_of(fraction, c_out, patch)

    class LowRankConv2d(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("u", torch.randn(c_out, r) / math.sqrt(c_out))
            self.register_buffer("v", torch.randn(patch, r) / math.sqrt(patch))
            self.sigma = nn.Parameter(torch.diag(torch.rand(r) + 0.5))

        def forward(self, x):
            n, _, h, w = x.shape
            oh = (h + 2 * pad - k) // stride + 1
            ow = (w + 2 * pad - k) // stride + 1
            pixels = n * oh * ow
            factored = 2 * pixels * patch * r + 3 * pixels * r * c_out + 2 * c_out * r * r
            materialised = 3 * pixels * patch * c_out + 2 * c_out * patch * r + 2 * c_out * r * r
            us = self.u @ self.sigma
            if factored <= materialised:
                t = F.conv2d(x, self.v.t().reshape(r, c_in, k, k), stride=stride, padding=pad)
                return F.conv2d(t, us.reshape(c_out, r, 1, 1))
            return F.conv2d(x, (us @ self.v.t()).reshape(c_out, c_in, k, k), stride=stride, padding=pad)

    return LowRankConv2d()


def build_resnet20(torch, fraction):
    """ResNet.resnet20 on 3x32x32: 3x3 stem conv (16) + BN + ReLU, three stages of three BasicBlocks
    (widths 16, 32, 64; stride 2 at the first block of stages 2 and 3; conv-BN-ReLU-conv-BN plus a 1x1
    conv + BN shortcut where the shape changes, then ReLU), global average pooling, Linear(64, 10).
    Every convolution is converted (OIALR's default selection: aspect ratio below 10), the classifier stays
    dense. BatchNorm eps 1e-5, momentum 0.1."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = conv(torch, c_in, c_out, 3, stride, 1, fraction)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = conv(torch, c_out, c_out, 3, 1, 1, fraction)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.shortcut = None
            if stride != 1 or c_in != c_out:
                self.shortcut = nn.Sequential(conv(torch, c_in, c_out, 1, stride, 0, fraction), nn.BatchNorm2d(c_out))

        def forward(self, x):
            h = torch.relu(self.bn1(self.conv1(x)))
            h = self.bn2(self.conv2(h))
            return torch.relu(h + (x if self.shortcut is None else self.shortcut(x)))

    layers = [conv(torch, 3, 16, 3, 1, 1, fraction), nn.BatchNorm2d(16), nn.ReLU()]
    c_in = 16
    for s, width in enumerate((16, 32, 64)):
        for i in range(3):
            layers.append(Block(c_in, width, 2 if s > 0 and i == 0 else 1))
            c_in = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers), (3, 32, 32), 10


def build_vit_small(torch, fraction):
    """VisionTransformer.small() on 3x32x32: patch 4 (64 patches, flattened in (c, ki, kj) order and
    projected by a Linear), a class token, learned positions, depth 4 of pre-norm blocks x + attn(LN(x)),
    h + fc2(GELU_tanh(fc1(LN(h)))) with a fused qkv Linear(128, 384), 4 heads of 32, proj Linear(128, 128),
    MLP ratio 2 (256); no dropout or drop path; final LayerNorm on the class token, Linear(128, 10).
    LayerNorm eps 1e-6. Every Linear but the head is converted."""
    nn = torch.nn
    F = torch.nn.functional
    dim, heads, depth, patch, hidden = 128, 4, 4, 4, 256

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.qkv = linear(torch, dim, 3 * dim, fraction)
            self.proj = linear(torch, dim, dim, fraction)
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.fc1 = linear(torch, dim, hidden, fraction)
            self.fc2 = linear(torch, hidden, dim, fraction)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
            scores = (q @ k.transpose(-2, -1)) * (dim // heads) ** -0.5
            a = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, dim)
            h = x + self.proj(a)
            return h + self.fc2(F.gelu(self.fc1(self.norm2(h)), approximate="tanh"))

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = linear(torch, 3 * patch * patch, dim, fraction)
            self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
            self.pos = nn.Parameter(torch.randn(1, 65, dim) * 0.02)
            self.blocks = nn.Sequential(*[Block() for _ in range(depth)])
            self.norm = nn.LayerNorm(dim, eps=1e-6)
            self.head = nn.Linear(dim, 10)

        def forward(self, x):
            b = x.shape[0]
            tiles = x.unfold(2, patch, patch).unfold(3, patch, patch)  # b, c, 8, 8, p, p
            tiles = tiles.permute(0, 2, 3, 1, 4, 5).reshape(b, 64, 3 * patch * patch)
            h = torch.cat([self.cls.expand(b, 1, dim), self.embed(tiles)], dim=1) + self.pos
            h = self.blocks(h)
            return self.head(self.norm(h[:, 0]))

    return ViT(), (3, 32, 32), 10


MODELS = {"mlp": build_mlp, "resnet20": build_resnet20, "vit-small": build_vit_small}



def linear(torch, n_in, n_out, fraction):
    nn = torch.nn
    if fraction == 0:
        return nn.Linear(n_in, n_out)
    k = rank_of(fraction, n_in, n_out)

    class LowRankLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("u", torch.randn(n_out, k) / math.sqrt(n_out))
            self.register_buffer("v", torch.randn(n_in, k) / math.sqrt(n_in))
            self.sigma = nn.Parameter(torch.diag(torch.rand(k) + 0.5))
            self.bias = nn.Parameter(torch.zeros(n_out))

        def forward(self, x):
            # x V Sigma^T U^T + b: the factored order, as LowRankLinear uses for batches larger than r
            # (3-D token batches multiply on their last dimension).
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
