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
import dev.oialr4j.lowrank.LowRankLayer;
import dev.oialr4j.linalg.Svd;
import dev.oialr4j.oialr.DeviceSigmaRound;
import dev.oialr4j.tensor.Tensor;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.function.Supplier;

/**
 * Times training steps (forward, label-smoothed cross-entropy, backward, AdamW, loss to the host: what
 * {@code Trainer} does per batch) of registered models, dense and after a low-rank conversion at a
 * fraction of each converted layer's full rank, on one device. Used by native/gpu-check.sh; prints one
 * tab-separated {@code RESULT} line per (model, variant):
 * {@code RESULT model variant device batch median_ms p10_ms p90_ms trainable_params collect_ms_per_step
 * enqueue_ms}: the collection column is the time of the JVM collections the harness runs between steps on
 * CUDA (see {@link #COLLECT_EVERY}); the enqueue column is the median time from the start of a step until
 * the loss is requested, i.e. the host's time to issue the step's work. An enqueue time close to the step
 * time means the step is bound by the host (launches, allocation), not by the device.
 *
 * <p>Usage: {@code StepBenchmark --device cuda --batch 256 --warmup 20 --steps 50 --fractions 0,0.25,0.1
 * --models mlp [--profile N] [--rounds N]}; {@code --list-models} prints the registry. Fraction 0 means
 * dense. {@code --profile N} then runs N more steps through a backend wrapper that waits for the device
 * after every backend call and prints one {@code PROFILE model variant op calls_per_step ms_per_step} line
 * per op (the slowest first; the waits remove the overlap of host and device, so these times add up to
 * more than a step). {@code --rounds N} times N update rounds of the converted layers on the backend's
 * {@link DeviceSigmaRound} with random dense Σ's (every layer keeps 90 % of its rank), against the host's
 * double SVDs of the same Σ's one after another: {@code ROUND model variant layers rank_sum device_ms
 * host_svd_ms} (medians).
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
                "--steps", "50", "--fractions", "0,0.25,0.1", "--models", String.join(",", MODELS.keySet()),
                "--profile", "0", "--rounds", "0"));
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--list-models")) {
                System.out.println(String.join(" ", MODELS.keySet()));
                return;
            }
            if (!opts.containsKey(args[i]) || i + 1 == args.length) {
                System.err.println("usage: StepBenchmark [--device D] [--batch N] [--warmup N] [--steps N]"
                        + " [--fractions f,...] [--models m,...] [--profile N] [--rounds N] | --list-models");
                System.exit(2);
            }
            opts.put(args[i], args[++i]);
        }
        Device device = Device.parse(opts.get("--device"));
        int batch = Integer.parseInt(opts.get("--batch"));
        int warmup = Integer.parseInt(opts.get("--warmup"));
        int steps = Integer.parseInt(opts.get("--steps"));
        double[] fractions = Arrays.stream(opts.get("--fractions").split(",")).mapToDouble(Double::parseDouble).toArray();
        int profileSteps = Integer.parseInt(opts.get("--profile"));
        int rounds = Integer.parseInt(opts.get("--rounds"));
        try (Backend backend = Backends.create(device, Runtime.getRuntime().availableProcessors())) {
            System.out.println("backend: " + backend + (backend instanceof CudaBackend c ? " " + c.deviceName() : ""));
            for (String name : opts.get("--models").split(",")) {
                ModelSpec spec = MODELS.get(name);
                if (spec == null) {
                    throw new IllegalArgumentException("unknown model '" + name + "' (registered: " + MODELS.keySet() + ")");
                }
                for (double f : fractions) {
                    double[] ms = time(spec, backend, batch, f, warmup, steps);
                    String variant = f == 0 ? "dense" : "r=" + f;
                    System.out.printf(Locale.ROOT, "RESULT\t%s\t%s\t%s\t%d\t%.3f\t%.3f\t%.3f\t%d\t%.3f\t%.3f%n", name,
                            variant, device, batch, ms[0], ms[1], ms[2], (long) ms[3], ms[4], ms[5]);
                    if (profileSteps > 0) {
                        profile(spec, backend, batch, f, profileSteps).print(name, variant);
                    }
                    if (rounds > 0 && f > 0) {
                        double[] r = roundTimes(spec, backend, f, rounds);
                        System.out.printf(Locale.ROOT, "ROUND\t%s\t%s\t%d\t%d\t%.3f\t%.3f%n", name, variant,
                                (int) r[0], (int) r[1], r[2], r[3]);
                    }
                }
            }
        }
    }

    /** Steps between the collections the harness runs on CUDA (outside the timed region). */
    static final int COLLECT_EVERY = 10;

    /** {median, p10, p90, trainable parameters, collection ms per step, median enqueue ms}. */
    static double[] time(ModelSpec spec, Backend backend, int batch, double fraction, int warmup, int steps) {
        Session run = new Session(spec, backend, batch, fraction);
        long[] nanos = new long[steps];
        long[] enqueue = new long[steps];
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
            long[] t = run.step(s);
            if (s >= warmup) {
                nanos[s - warmup] = t[0];
                enqueue[s - warmup] = t[1];
            }
        }
        long[] sorted = nanos.clone();
        Arrays.sort(sorted);
        Arrays.sort(enqueue);
        return new double[] {sorted[steps / 2] / 1e6, sorted[steps / 10] / 1e6, sorted[(steps * 9) / 10] / 1e6,
            run.trainableCount(), collectNanos / 1e6 / steps, enqueue[steps / 2] / 1e6};
    }

    /** A model (converted at a rank fraction, or dense), its optimizer and one fixed random batch. */
    private static final class Session {
        final Module net;
        final Backend backend;
        final List<Parameter> trainable;
        final Optimizer opt;
        final float[] x;
        final int[] dims;
        final int[] labels;

        Session(ModelSpec spec, Backend backend, int batch, double fraction) {
            this.backend = backend;
            net = spec.factory().get();
            if (fraction > 0) {
                convert(net, fraction);
            }
            net.to(backend);
            net.train(true);
            trainable = net.parameters().stream().filter(Parameter::requiresGrad).toList();
            opt = new AdamW(backend, ParamGroup.decayMatricesOnly(trainable, 0.05), 2e-3);
            int features = Arrays.stream(spec.exampleShape()).reduce(1, (a, b) -> a * b);
            dims = new int[spec.exampleShape().length + 1];
            dims[0] = batch;
            System.arraycopy(spec.exampleShape(), 0, dims, 1, spec.exampleShape().length);
            SplittableRandom rng = new SplittableRandom(1);
            x = new float[batch * features];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rng.nextDouble(-1, 1);
            }
            labels = rng.ints(batch, 0, spec.classes()).toArray();
        }

        /** One training step; {total ns, ns until the loss is requested}. */
        long[] step(int index) {
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
            long issued = System.nanoTime();
            double l = backend.toHost(loss.value())[0];
            long t1 = System.nanoTime();
            if (!Double.isFinite(l)) {
                throw new IllegalStateException("loss is " + l + " at step " + index);
            }
            return new long[] {t1 - t0, issued - t0};
        }

        long trainableCount() {
            return trainable.stream().mapToLong(p -> p.value().size()).sum();
        }
    }

    /**
     * Per-op times of {@code steps} training steps run through {@link OpTimer} (three unprofiled steps
     * first, so the allocator's cache and the kernels are warm).
     */
    static OpTimer profile(ModelSpec spec, Backend backend, int batch, double fraction, int steps) {
        OpTimer timer = new OpTimer(backend);
        Backend timed = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                timer);
        Session run = new Session(spec, timed, batch, fraction);
        for (int s = 0; s < 3; s++) {
            run.step(s);
        }
        System.gc();
        timer.on = true;
        for (int s = 0; s < steps; s++) {
            run.step(s);
        }
        timer.on = false;
        timer.steps = steps;
        return timer;
    }

    /**
     * A backend wrapper that, while on, waits for the device after every call and adds the call's time to
     * its method's total. Calls the backend makes to itself are inside the outer call's time.
     */
    static final class OpTimer implements InvocationHandler {
        private final Backend target;
        private final Map<String, long[]> totals = new TreeMap<>();
        volatile boolean on;
        int steps = 1;

        OpTimer(Backend target) {
            this.target = target;
        }

        @Override
        public Object invoke(Object proxy, Method method, Object[] args) throws Throwable {
            if (method.getDeclaringClass() == Object.class && method.getName().equals("equals")) {
                return proxy == args[0];
            }
            if (method.getDeclaringClass() == Object.class && method.getName().equals("hashCode")) {
                return System.identityHashCode(proxy);
            }
            if (method.getName().equals("close")) {
                throw new UnsupportedOperationException("the profiled backend is closed by its owner");
            }
            boolean timing = on && method.getDeclaringClass() != Object.class;
            if (timing) {
                synchronize();
            }
            long t0 = System.nanoTime();
            Object result;
            try {
                result = method.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
            if (timing) {
                synchronize();
                long[] t = totals.computeIfAbsent(method.getName(), k -> new long[2]);
                t[0]++;
                t[1] += System.nanoTime() - t0;
            }
            return result;
        }

        private void synchronize() {
            if (target instanceof CudaBackend cuda) {
                cuda.synchronize();
            }
        }

        /** Calls of {@code op} per profiled step (0 for an op never called). */
        double callsPerStep(String op) {
            long[] t = totals.get(op);
            return t == null ? 0 : t[0] / (double) steps;
        }

        /** One PROFILE line per op, the slowest first, then the totals. */
        void print(String model, String variant) {
            long calls = 0;
            long nanos = 0;
            List<Map.Entry<String, long[]>> ops = new ArrayList<>(totals.entrySet());
            ops.sort((a, b) -> Long.compare(b.getValue()[1], a.getValue()[1]));
            for (Map.Entry<String, long[]> e : ops) {
                calls += e.getValue()[0];
                nanos += e.getValue()[1];
                System.out.printf(Locale.ROOT, "PROFILE\t%s\t%s\t%s\t%.1f\t%.3f%n", model, variant, e.getKey(),
                        e.getValue()[0] / (double) steps, e.getValue()[1] / 1e6 / steps);
            }
            System.out.printf(Locale.ROOT, "PROFILE\t%s\t%s\t(all ops)\t%.1f\t%.3f%n", model, variant,
                    calls / (double) steps, nanos / 1e6 / steps);
        }
    }

    /**
     * {layers, sum of ranks, median device round ms, median host SVD ms} of {@code repeats} update rounds
     * over the converted layers with random dense Σ's, each layer keeping 90 % of its rank (the factors
     * are not replaced, so every round sees the same shapes).
     */
    static double[] roundTimes(ModelSpec spec, Backend backend, double fraction, int repeats) {
        if (!(backend instanceof DeviceSigmaRound.Provider provider)) {
            throw new IllegalArgumentException("--rounds needs a backend with device update rounds, not " + backend);
        }
        Module net = spec.factory().get();
        convert(net, fraction);
        net.to(backend);
        List<LowRankLayer> layers = net.namedModules().values().stream().filter(LowRankLayer.class::isInstance)
                .map(LowRankLayer.class::cast).toList();
        SplittableRandom rng = new SplittableRandom(3);
        long[] device = new long[repeats];
        long[] host = new long[repeats];
        int rankSum = layers.stream().mapToInt(LowRankLayer::rank).sum();
        for (int rep = 0; rep < repeats; rep++) {
            List<DeviceSigmaRound.Factors> factors = new ArrayList<>();
            List<float[]> sigmas = new ArrayList<>();
            for (LowRankLayer l : layers) {
                int r = l.rank();
                float[] s = gaussian(rng, 1 / Math.sqrt(r), r, r).data();
                sigmas.add(s);
                factors.add(new DeviceSigmaRound.Factors(l.u().value(), backend.fromHost(s, r, r), l.v().value()));
            }
            long t0 = System.nanoTime();
            try (DeviceSigmaRound round = provider.openSigmaRound()) {
                DeviceSigmaRound.Decomposed svd = round.decompose(factors);
                for (int i = 0; i < layers.size(); i++) {
                    double[] sigma = svd.singularValues(i);
                    DeviceSigmaRound.Factors f = svd.truncate(i, Math.max(1, sigma.length * 9 / 10));
                    backend.toHost(f.sigma());
                }
            }
            device[rep] = System.nanoTime() - t0;
            long h0 = System.nanoTime();
            for (int i = 0; i < layers.size(); i++) {
                Svd.decompose(sigmas.get(i), layers.get(i).rank(), layers.get(i).rank());
            }
            host[rep] = System.nanoTime() - h0;
        }
        Arrays.sort(device);
        Arrays.sort(host);
        return new double[] {layers.size(), rankSum, device[repeats / 2] / 1e6, host[repeats / 2] / 1e6};
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
