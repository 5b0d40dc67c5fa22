#!/usr/bin/env python3
"""PyTorch CPU peer for `npm run bench`: the same attack step advserve times.

One step, per model, on a batch of user-size images (float, 0..255, NCHW):
  bilinear resize (align_corners=True, as nsfwjs/advserve) to the model's input size,
  scale to [0, 1], forward, cross-entropy of a target class (summed over the batch),
  gradient with respect to the input pixels only (weights are frozen), then a signed step
  clipped to the eps-box and [0, 255].
The ensemble step takes one gradient through each model and steps on the sign of their mean.

Architectures are torchvision's with random weights (nothing is downloaded):
  inception_v3(weights=None, num_classes=5, aux_logits=False, init_weights=False) at 299 px,
  mobilenet_v2(num_classes=5) at 224 px for mobilenet_v2 (nsfwjs' MobileNetV2: width 1.0), and
  mobilenet_v2(num_classes=5, width_mult=1.4) for mobilenet_v2_mid (nsfwjs' MobileNetV2Mid is a
  TF-Hub mobilenet_v2_140_224: first conv 48 filters, 816-wide expansions, 4.3M weights).
Timing only: the weights do not matter for dense convolutions.

With --state-dict PATH, the model id `mobilenet_v2_torch_float` is also known: the trained
torchvision mobilenet_v2() (1000 ImageNet classes) with that state_dict (the PyTorch twin of
shared/onnx/mobilenet_v2_torch_float/model.onnx), preprocessed as advserve preprocesses that
folder model: torchvision's Resize(256) + CenterCrop(224) done as advserve does it (bilinear,
align_corners=False, the whole image resized to cover 256 / 0.875, the middle 224x224 sliced
out), then (p / 255 - mean) / std. --target sets the class (default 3).

With --loop-iters K (and --loop-reps R), also times K consecutive steps at batch 1 on one image
(the network work of a K-iteration attack), R times, for each of --loop-of (default: every model
alone; the name "ensemble" is the ensemble step over all --models, one gradient through each
model, each with its own resize and scaling, stepping on the sign of their mean): "loop" in the JSON.

"sgemm_gflops" in the JSON: the best of 5 products of two 2048x2048 float32 matrices at --threads
(2 x 2048^3 FLOPs each), a practical ceiling for the host's peak in the bench's GFLOP/s table.

"macs" in the JSON: multiply-adds of one image's forward pass per model, counted with forward
hooks on every Conv2d (groups included) and Linear module from the output shapes it produced.

Prints one JSON object on stdout. Exit code 3 with {"skipped": reason} when torch or
torchvision cannot be imported. Not part of CI; nothing requires it.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time

MODEL_SIZES = {"inception_v3": 299, "mobilenet_v2": 224, "mobilenet_v2_mid": 224, "mobilenet_v2_torch_float": 224}
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CROP_FRACTION = 0.875


def js_round(v):
    """JavaScript's Math.round (halves up), which advserve's centre crop uses."""
    import math
    return math.floor(v + 0.5)


def center_crop_box(h_in, w_in, size):
    """advserve's centerCrop (src/models/classifier.ts): resized size and crop offsets."""
    import math
    s = max(js_round(size / CROP_FRACTION) / h_in, js_round(size / CROP_FRACTION) / w_in)
    rh = max(size, math.floor(h_in * s + 1e-9))
    rw = max(size, math.floor(w_in * s + 1e-9))
    return rh, rw, js_round((rh - size) / 2), js_round((rw - size) / 2)


def loaded_blas():
    """Shared libraries in this process that look like BLAS/LAPACK/oneDNN, from /proc/self/maps."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path)
                if any(k in name for k in ("blas", "lapack", "dnnl", "mkl", "omp")):
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(libs)


def machine_busy_s():
    """Busy CPU seconds of the whole machine (all cores) from /proc/stat, or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:9]]
        return (sum(v) - v[3] - v[4]) / 100.0
    except (OSError, ValueError):
        return None


def self_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def other_cpu_probe():
    """Returns a function giving other processes' average CPU use (cores) since the call."""
    m0, s0, t0 = machine_busy_s(), self_s(), time.perf_counter()

    def done():
        m1 = machine_busy_s()
        if m0 is None or m1 is None:
            return None
        wall = time.perf_counter() - t0
        other = m1 - m0 - (self_s() - s0) - 0.02  # two 10 ms ticks of rounding
        return max(0.0, other) / wall if wall > 0 else 0.0

    return done


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="inception_v3,mobilenet_v2,mobilenet_v2_mid")
    ap.add_argument("--batches", default="1,4,8")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--height", type=int, default=384)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--min-reps", type=int, default=3)
    ap.add_argument("--max-reps", type=int, default=10)
    ap.add_argument("--budget-s", type=float, default=6.0, help="timed seconds per configuration after min-reps")
    ap.add_argument("--no-ensemble", action="store_true")
    ap.add_argument("--max-other-cores", type=float, default=0.25,
                    help="redo timed runs during which other processes used more CPU than this (cores)")
    ap.add_argument("--state-dict", default=None, help="state_dict.pt of the trained mobilenet_v2_torch_float")
    ap.add_argument("--target", type=int, default=3)
    ap.add_argument("--loop-iters", type=int, default=0, help="also time this many consecutive batch-1 steps")
    ap.add_argument("--loop-reps", type=int, default=3)
    ap.add_argument("--loop-of", default=None,
                    help="comma-separated models (or 'ensemble') for the --loop-iters loop (default: every model)")
    args = ap.parse_args()

    try:
        import torch
        import torch.nn.functional as F
        import torchvision
        from torchvision.models import inception_v3, mobilenet_v2
    except Exception as e:  # noqa: BLE001 - any import failure means "skip"
        print(json.dumps({"skipped": f"{type(e).__name__}: {e}", "python": sys.executable}))
        sys.exit(3)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    def build(model_id):
        if model_id == "mobilenet_v2_torch_float":
            net = mobilenet_v2()
            net.load_state_dict(torch.load(args.state_dict, map_location="cpu"))
        elif model_id == "inception_v3":
            net = inception_v3(weights=None, num_classes=5, aux_logits=False, init_weights=False)
        elif model_id == "mobilenet_v2_mid":
            net = mobilenet_v2(num_classes=5, width_mult=1.4)
        else:
            net = mobilenet_v2(num_classes=5)
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        return net

    model_ids = [m for m in args.models.split(",") if m]
    for m in model_ids:
        if m not in MODEL_SIZES:
            print(json.dumps({"error": f"unknown model {m}"}))
            sys.exit(2)
        if m == "mobilenet_v2_torch_float" and not args.state_dict:
            print(json.dumps({"error": f"{m} needs --state-dict"}))
            sys.exit(2)
    batches = [int(b) for b in args.batches.split(",") if b]
    loop_of = [m for m in (args.loop_of or args.models).split(",") if m]
    for m in loop_of:
        if m != "ensemble" and m not in model_ids:
            print(json.dumps({"error": f"--loop-of {m}: not one of --models"}))
            sys.exit(2)
    nets = {m: build(m) for m in model_ids}
    target = args.target
    eps, alpha = 16.0, 1.0

    def pattern(n):
        # Deterministic smooth pattern with per-image phase, like the Node side's synthetic image.
        h, w = args.height, args.width
        yy = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1)
        xx = torch.arange(w, dtype=torch.float32).view(1, 1, 1, w)
        c = torch.arange(3, dtype=torch.float32).view(1, 3, 1, 1)
        k = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1)
        v = 127.5 + 100 * torch.sin(xx / 23.0 + c * 2.1 + k) * torch.cos(yy / 17.0 - c + k * 0.5)
        return v.round().clamp(0, 255).contiguous()

    def grad_of(m, x):
        x = x.detach().requires_grad_(True)
        size = MODEL_SIZES[m]
        if m == "mobilenet_v2_torch_float":
            rh, rw, top, left = center_crop_box(x.shape[2], x.shape[3], size)
            xr = F.interpolate(x, size=(rh, rw), mode="bilinear", align_corners=False)
            xr = xr[:, :, top:top + size, left:left + size]
            xr = (xr / 255.0 - mean) / std
        else:
            xr = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=True) / 255.0
        logits = nets[m](xr)
        t = torch.full((x.shape[0],), target, dtype=torch.long)
        loss = F.cross_entropy(logits, t, reduction="sum")
        (g,) = torch.autograd.grad(loss, x)
        return g

    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)

    def step(members, x, lower, upper):
        if len(members) == 1:
            g = grad_of(members[0], x)
        else:
            g = torch.stack([grad_of(m, x) for m in members]).mean(0)
        return torch.minimum(torch.maximum(x - alpha * torch.sign(g), lower), upper)

    def timeit(members, n):
        # Same policy as bench/timing.ts: a timed run during which other processes used more
        # than --max-other-cores is redone, until discards have cost 2x the budget.
        x = pattern(n)
        lower, upper = (x - eps).clamp(min=0), (x + eps).clamp(max=255)
        x = step(members, x, lower, upper)  # warm-up
        times = []
        spent = discarded_s = 0.0
        discarded = contended = 0
        while len(times) < args.max_reps and (len(times) < args.min_reps or spent < args.budget_s):
            probe = other_cpu_probe()
            t0 = time.perf_counter()
            x = step(members, x, lower, upper)
            dt = time.perf_counter() - t0
            others = probe()
            if others is not None and others > args.max_other_cores:
                if discarded_s < 2 * args.budget_s:
                    discarded += 1
                    discarded_s += dt
                    continue
                contended += 1
            times.append(dt * 1000)
            spent += dt
        med = statistics.median(times)
        return {"batch": n, "ms_per_step": med, "image_steps_per_s": n * 1000.0 / med, "reps": len(times),
                "ms_all": [round(t, 1) for t in times], "discarded": discarded, "contended": contended}

    def time_loop(members):
        # K consecutive steps on one image, as a K-iteration attack runs them, after one
        # untimed step (kernel set-up at batch 1).
        x0 = pattern(1)
        lower, upper = (x0 - eps).clamp(min=0), (x0 + eps).clamp(max=255)
        x = step(members, x0, lower, upper)  # warm-up
        times, others = [], []
        for _ in range(args.loop_reps):
            x = x0
            probe = other_cpu_probe()
            t0 = time.perf_counter()
            for _ in range(args.loop_iters):
                x = step(members, x, lower, upper)
            times.append((time.perf_counter() - t0) * 1000)
            o = probe()
            others.append(None if o is None else round(o, 3))
        return {"iters": args.loop_iters, "batch": 1, "ms_median": statistics.median(times),
                "ms_all": [round(t, 1) for t in times], "other_cores": others}

    def count_macs(m):
        # Forward multiply-adds of one image at the model's input size (Conv2d and Linear only).
        size = MODEL_SIZES[m]
        total = [0]

        def hook(mod, _inp, out):
            if isinstance(mod, torch.nn.Conv2d):
                kh, kw = mod.kernel_size
                total[0] += out[0].numel() * (mod.in_channels // mod.groups) * kh * kw
            else:
                total[0] += out[0].numel() * mod.in_features

        handles = [mod.register_forward_hook(hook) for mod in nets[m].modules()
                   if isinstance(mod, (torch.nn.Conv2d, torch.nn.Linear))]
        with torch.no_grad():
            nets[m](torch.zeros(1, 3, size, size))
        for h in handles:
            h.remove()
        return total[0]

    macs = {m: count_macs(m) for m in model_ids}

    def sgemm_gflops(n=2048, reps=5):
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b  # warm-up
        best = min(timed(lambda: a @ b) for _ in range(reps))
        return 2.0 * n ** 3 / best / 1e9

    def timed(f):
        t0 = time.perf_counter()
        f()
        return time.perf_counter() - t0

    results = {}
    loops = {}
    started = time.perf_counter()
    for m in model_ids:
        results[m] = [timeit([m], n) for n in batches]
    if len(model_ids) > 1 and not args.no_ensemble:
        results["ensemble"] = [timeit(model_ids, n) for n in batches]
    if args.loop_iters > 0:
        for name in loop_of:
            loops[name] = time_loop(model_ids if name == "ensemble" else [name])

    print(json.dumps({
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "ld_library_path": os.environ.get("LD_LIBRARY_PATH", ""),
        "blas_libs": loaded_blas(),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "input": [args.height, args.width],
        "target": target,
        "results": results,
        **({"loop": loops} if loops else {}),
        "macs": macs,
        "sgemm_gflops": sgemm_gflops(),
        "seconds": time.perf_counter() - started,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


if __name__ == "__main__":
    main()
