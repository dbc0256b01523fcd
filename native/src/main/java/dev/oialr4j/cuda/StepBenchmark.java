package dev.oialr4j.cuda;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Tape;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.backend.Backend;
import dev.oialr4j.backend.Backends;
import dev.oialr4j.lowrank.LowRankConv2d;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.Conv2d;
import dev.oialr4j.nn.Module;
import dev.oialr4j.nn.models.Mlp;
import dev.oialr4j.nn.models.Models;
import dev.oialr4j.oialr.Oialr;
import dev.oialr4j.oialr.OialrConfig;
import dev.oialr4j.optim.AdamW;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.optim.ParamGroup;
import dev.oialr4j.tensor.Device;
import dev.oialr4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;

/**
 * Times training steps (forward, label-smoothed cross-entropy, backward, AdamW, loss to the host: what
 * {@code Trainer} does per batch) of registered models, dense and after a low-rank conversion at a
 * fraction of each converted layer's full rank, on one device. Used by native/gpu-check.sh; prints one
 * tab-separated {@code RESULT} line per (model, variant):
 * {@code RESULT model variant device batch median_ms p10_ms p90_ms trainable_params collect_ms_per_step}
 * (the last: time of the JVM collections the harness runs between steps on CUDA, see {@link #COLLECT_EVERY}).
 *
 * <p>Usage: {@code StepBenchmark --device cuda --batch 256 --warmup 20 --steps 50 --fractions 0,0.25,0.1
 * --models mlp}; {@code --list-models} prints the registry. Fraction 0 means dense.
 *
 * <p>Models are registered in {@link #MODELS}, one line each: a factory and the input shape of one example.
 * The conversion follows OIALR's default layer selection ({@link Oialr#select}: the classifier stays dense)
 * with random factors of rank {@code max(1, round(fraction · min(m, n)))}: values do not change the time.
 */
public final class StepBenchmark {

    /** A model for the benchmark: a seeded factory, the shape of one input example, and the class count. */
    public record ModelSpec(Supplier<Module> factory, int[] exampleShape, int classes) {
    }

    /** The registry; a model of another branch (e.g. {@code vit-small}) is added here with one line. */
    public static final Map<String, ModelSpec> MODELS = new LinkedHashMap<>();

    static {
        MODELS.put("mlp", new ModelSpec(() -> Mlp.builder().inputs(784).hidden(1024, 1024, 1024).outputs(10)
                .dropout(0.2f).seed(0).build(), new int[] {784}, 10));
        // CIFAR-10-shaped inputs (3 × 32 × 32): vit-small has 8 × 8 patches of 4 plus the class token.
        MODELS.put("resnet20", new ModelSpec(() -> Models.byName("resnet20", new int[] {3, 32, 32}, 10, 0),
                new int[] {3, 32, 32}, 10));
        MODELS.put("vit-small", new ModelSpec(() -> Models.byName("vit-small", new int[] {3, 32, 32}, 10, 0),
                new int[] {3, 32, 32}, 10));
    }

    private StepBenchmark() {
    }

    public static void main(String[] args) {
        Map<String, String> opts = new LinkedHashMap<>(Map.of("--device", "cuda", "--batch", "256", "--warmup", "20",
                "--steps", "50", "--fractions", "0,0.25,0.1", "--models", String.join(",", MODELS.keySet())));
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--list-models")) {
                System.out.println(String.join(" ", MODELS.keySet()));
                return;
            }
            if (!opts.containsKey(args[i]) || i + 1 == args.length) {
                System.err.println("usage: StepBenchmark [--device D] [--batch N] [--warmup N] [--steps N]"
                        + " [--fractions f,...] [--models m,...] | --list-models");
                System.exit(2);
            }
            opts.put(args[i], args[++i]);
        }
        Device device = Device.parse(opts.get("--device"));
        int batch = Integer.parseInt(opts.get("--batch"));
        int warmup = Integer.parseInt(opts.get("--warmup"));
        int steps = Integer.parseInt(opts.get("--steps"));
        double[] fractions = Arrays.stream(opts.get("--fractions").split(",")).mapToDouble(Double::parseDouble).toArray();
        try (Backend backend = Backends.create(device, Runtime.getRuntime().availableProcessors())) {
            System.out.println("backend: " + backend + (backend instanceof CudaBackend c ? " " + c.deviceName() : ""));
            for (String name : opts.get("--models").split(",")) {
                ModelSpec spec = MODELS.get(name);
                if (spec == null) {
                    throw new IllegalArgumentException("unknown model '" + name + "' (registered: " + MODELS.keySet() + ")");
                }
                for (double f : fractions) {
                    double[] ms = time(spec, backend, batch, f, warmup, steps);
                    System.out.printf(Locale.ROOT, "RESULT\t%s\t%s\t%s\t%d\t%.3f\t%.3f\t%.3f\t%d\t%.3f%n", name,
                            f == 0 ? "dense" : "r=" + f, device, batch, ms[0], ms[1], ms[2], (long) ms[3], ms[4]);
                }
            }
        }
    }

    /** Steps between the collections the harness runs on CUDA (outside the timed region). */
    static final int COLLECT_EVERY = 10;

    /** {median, p10, p90, trainable parameters, collection ms per step}. */
    static double[] time(ModelSpec spec, Backend backend, int batch, double fraction, int warmup, int steps) {
        Module net = spec.factory().get();
        if (fraction > 0) {
            convert(net, fraction);
        }
        net.to(backend);
        net.train(true);
        List<Parameter> trainable = net.parameters().stream().filter(Parameter::requiresGrad).toList();
        Optimizer opt = new AdamW(backend, ParamGroup.decayMatricesOnly(trainable, 0.05), 2e-3);
        int features = Arrays.stream(spec.exampleShape()).reduce(1, (a, b) -> a * b);
        int[] dims = new int[spec.exampleShape().length + 1];
        dims[0] = batch;
        System.arraycopy(spec.exampleShape(), 0, dims, 1, spec.exampleShape().length);
        SplittableRandom rng = new SplittableRandom(1);
        float[] x = new float[batch * features];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rng.nextDouble(-1, 1);
        }
        int[] labels = rng.ints(batch, 0, spec.classes()).toArray();
        long[] nanos = new long[steps];
        long collectNanos = 0;
        for (int s = 0; s < warmup + steps; s++) {
            if (backend instanceof CudaBackend && s % COLLECT_EVERY == 0) {
                // Device blocks return to the cache only when the JVM collects their dead tensors (see
                // CachingAllocator); collect outside the timed step, as often as a caching allocator that
                // frees at scope exit (PyTorch's) would recycle, and report the cost separately.
                long g0 = System.nanoTime();
                System.gc();
                collectNanos += s >= warmup ? System.nanoTime() - g0 : 0;
            }
            Tape tape = new Tape(backend);
            Ops ops = new Ops(tape);
            long t0 = System.nanoTime();
            for (Parameter p : net.parameters()) {
                p.zeroGrad();
            }
            opt.zeroGrad();
            Variable in = Variable.constant(backend.fromHost(x, dims));
            Variable loss = ops.crossEntropy(net.forward(ops, in), labels, 0.1f);
            tape.backward(loss);
            opt.step();
            double l = backend.toHost(loss.value())[0];
            long t1 = System.nanoTime();
            if (!Double.isFinite(l)) {
                throw new IllegalStateException("loss is " + l + " at step " + s);
            }
            if (s >= warmup) {
                nanos[s - warmup] = t1 - t0;
            }
        }
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        long count = trainable.stream().mapToLong(p -> p.value().size()).sum();
        return new double[] {sorted[steps / 2] / 1e6, sorted[steps / 10] / 1e6, sorted[(steps * 9) / 10] / 1e6, count,
            collectNanos / 1e6 / steps};
    }

    /**
     * Replaces OIALR's default selection of Linear and Conv2d layers by LowRankLinear / LowRankConv2d with
     * random factors.
     */
    static void convert(Module net, double fraction) {
        SplittableRandom rng = new SplittableRandom(2);
        List<Oialr.Candidate> chosen = new ArrayList<>(Oialr.select(net, OialrConfig.builder().build()));
        for (Oialr.Candidate c : chosen) {
            int m = c.rows();
            int n = c.cols();
            int k = Math.max(1, (int) Math.round(fraction * Math.min(m, n)));
            Tensor u = gaussian(rng, 1 / Math.sqrt(m), m, k);
            Tensor s = diagonal(rng, k);
            Tensor v = gaussian(rng, 1 / Math.sqrt(n), n, k);
            Module low = c.layer() instanceof Conv2d conv
                    ? new LowRankConv2d(u, s, v, c.bias(), conv.inChannels(), conv.kernelH(), conv.kernelW(),
                            conv.options())
                    : new LowRankLinear(u, s, v, c.bias());
            c.parent().replaceChild(c.childName(), low);
        }
    }

    private static Tensor gaussian(SplittableRandom rng, double scale, int rows, int cols) {
        float[] a = new float[rows * cols];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (scale * rng.nextDouble(-1.7, 1.7));
        }
        return Tensor.of(a, rows, cols);
    }

    private static Tensor diagonal(SplittableRandom rng, int k) {
        float[] a = new float[k * k];
        for (int i = 0; i < k; i++) {
            a[i * k + i] = (float) rng.nextDouble(0.5, 2);
        }
        return Tensor.of(a, k, k);
    }
}
