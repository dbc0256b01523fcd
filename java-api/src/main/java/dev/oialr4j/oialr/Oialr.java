package dev.oialr4j.oialr;

import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.backend.Backend;
import dev.oialr4j.backend.Parallel;
import dev.oialr4j.linalg.Qr;
import dev.oialr4j.linalg.Svd;
import dev.oialr4j.lowrank.LowRankConv2d;
import dev.oialr4j.lowrank.LowRankLayer;
import dev.oialr4j.lowrank.LowRankLinear;
import dev.oialr4j.nn.Conv2d;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Module;
import dev.oialr4j.optim.Optimizer;
import dev.oialr4j.optim.ParamState;
import dev.oialr4j.tensor.Tensor;
import dev.oialr4j.train.Trainer;
import dev.oialr4j.train.TrainerCallback;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

/**
 * The OIALR method as a training callback (OIALR.md §3). After {@code delay} optimizer steps it converts
 * the selected Linear and Conv2d layers to {@link LowRankLinear} / {@link LowRankConv2d} (W = U diag(s) Vᵀ of
 * the weight's matrix view, U and V frozen, Σ trainable in
 * the dense weight's optimizer slot) and runs an update round at once; then one round every
 * {@code updateEvery} steps. A round re-diagonalises Σ = P diag(σ) Qᵀ, rotates U ← U P and V ← V Q,
 * cuts the rank and re-shapes Σ's optimizer state by the configured policy.
 *
 * <p>The bases are kept in double on the host (the tensors the layers compute with are float copies),
 * so rounding does not accumulate over rounds; orthonormality is checked each round and restored by QR
 * when it drifts beyond the tolerance.
 */
public final class Oialr implements TrainerCallback {

    /**
     * A layer chosen for conversion (a {@link Linear} or a {@link Conv2d} with groups = 1), located by its
     * parent so it can be swapped in place.
     */
    public record Candidate(String name, Module parent, String childName, Module layer) {

        /** Rows of the weight's matrix view: output features or channels. */
        public int rows() {
            return layer instanceof Conv2d c ? c.outChannels() : ((Linear) layer).outFeatures();
        }

        /** Columns of the weight's matrix view: input features, or in · kh · kw for a convolution. */
        public int cols() {
            return layer instanceof Conv2d c ? c.patchSize() : ((Linear) layer).inFeatures();
        }

        /** The dense weight ([out, in] or [out, in, kh, kw]). */
        public Parameter weight() {
            return layer instanceof Conv2d c ? c.weight() : ((Linear) layer).weight();
        }

        /** The dense layer's bias, or null. */
        public Parameter bias() {
            return layer instanceof Conv2d c ? c.bias() : ((Linear) layer).bias();
        }
    }

    /** A converted layer with double-precision masters of its bases. */
    private static final class Converted {
        final String name;
        final LowRankLayer layer;
        final int fullRank;
        double[] u; // m × r
        double[] v; // n × r

        Converted(String name, LowRankLayer layer, int fullRank, double[] u, double[] v) {
            this.name = name;
            this.layer = layer;
            this.fullRank = fullRank;
            this.u = u;
            this.v = v;
        }
    }

    private final OialrConfig config;
    private final List<Converted> layers = new ArrayList<>();
    private long denseTrainable = -1;
    private long denseStored = -1;
    private int rounds;
    private long roundNanos;
    private long conversionNanos;
    private int reorthonormalisations;
    private boolean converted;
    private final List<Double> roundMillis = new ArrayList<>();

    public Oialr(OialrConfig config) {
        this.config = config;
    }

    public OialrConfig config() {
        return config;
    }

    // ---- selection ------------------------------------------------------------------------------

    /**
     * The layers the configuration converts, input side first: every Linear and every Conv2d with one group
     * whose weight's matrix view (out, in · kh · kw) has an aspect ratio below
     * the limit, except the last one (the classifier) and optionally the first, plus explicit includes,
     * minus excludes; a layer that could not save parameters even at its rank floor is refused.
     */
    public static List<Candidate> select(Module model, OialrConfig config) {
        List<Candidate> all = new ArrayList<>();
        collect(model, "", all);
        List<Candidate> out = new ArrayList<>();
        for (int i = 0; i < all.size(); i++) {
            Candidate c = all.get(i);
            boolean included = config.include().contains(c.name());
            boolean eligible = i < all.size() - 1
                    && !(config.keepFirstDense() && i == 0)
                    && aspect(c) < config.maxAspectRatio();
            if ((eligible || included) && !config.exclude().contains(c.name())
                    && canSave(c.rows(), c.cols(), config.rankRule())) {
                out.add(c);
            }
        }
        for (String name : config.include()) {
            if (all.stream().noneMatch(c -> c.name().equals(name))) {
                throw new IllegalArgumentException("include names no Linear or Conv2d layer: '" + name + "'; they are "
                        + all.stream().map(Candidate::name).toList());
            }
        }
        return out;
    }

    private static void collect(Module m, String prefix, List<Candidate> out) {
        for (Map.Entry<String, Module> e : m.children().entrySet()) {
            String name = prefix.isEmpty() ? e.getKey() : prefix + "." + e.getKey();
            if (e.getValue() instanceof Linear || (e.getValue() instanceof Conv2d c && c.groups() == 1)) {
                out.add(new Candidate(name, m, e.getKey(), e.getValue()));
            } else {
                collect(e.getValue(), name, out);
            }
        }
    }

    private static double aspect(Candidate c) {
        int a = c.cols();
        int b = c.rows();
        return (double) Math.max(a, b) / Math.min(a, b);
    }

    /** Whether storing U, Σ, V of an m × n weight at the rank floor takes fewer numbers than the dense weight. */
    static boolean canSave(long m, long n, RankRule rule) {
        long r = rule.floor((int) Math.min(m, n));
        return r * (m + n + r) < m * n;
    }

    // ---- the schedule ---------------------------------------------------------------------------

    @Override
    public void afterOptimizerStep(Trainer trainer, long step) {
        if (denseTrainable < 0) {
            captureDenseCounts(trainer.model());
        }
        if (!converted && step == config.delay()) {
            convert(trainer.model(), trainer.optimizer(), trainer.backend());
            updateRound(trainer.optimizer(), trainer.backend());
        } else if (converted && step > config.delay() && (step - config.delay()) % config.updateEvery() == 0) {
            updateRound(trainer.optimizer(), trainer.backend());
        }
    }

    /** Records the dense model's parameter counts, the denominators of trainable % and stored %. */
    public void captureDenseCounts(Module model) {
        denseTrainable = 0;
        denseStored = 0;
        for (Parameter p : model.parameters()) {
            denseStored += p.value().size();
            if (p.requiresGrad()) {
                denseTrainable += p.value().size();
            }
        }
    }

    // ---- conversion -----------------------------------------------------------------------------

    /**
     * Converts the selected layers: reduced SVD of each weight, U and V frozen, Σ = diag(s) trainable in
     * the weight's optimizer slot with fresh state (moments and Adam's step counter restart together).
     */
    public void convert(Module model, Optimizer optimizer, Backend backend) {
        if (converted) {
            throw new IllegalStateException("OIALR has already converted this model");
        }
        if (denseTrainable < 0) {
            captureDenseCounts(model);
        }
        long t0 = System.nanoTime();
        DenseOps.warmUp(workers());
        List<Candidate> chosen = select(model, config);
        List<double[]> weights = new ArrayList<>();
        for (Candidate c : chosen) {
            weights.add(DenseOps.toDouble(backend.toHost(c.weight().value())));
        }
        // Large weights one at a time with the threads inside their SVDs (which also readies those parallel
        // paths for the large SVDs of the first update rounds), the small ones side by side.
        Svd.Result[] svds = new Svd.Result[chosen.size()];
        List<Integer> small = new ArrayList<>();
        for (int i = 0; i < chosen.size(); i++) {
            Candidate c = chosen.get(i);
            if (Math.min(c.rows(), c.cols()) >= DOMINANT_MIN_RANK) {
                svds[i] = Svd.decompose(weights.get(i), c.rows(), c.cols());
            } else {
                small.add(i);
            }
        }
        workers().forChunks(small.size(), (j, count) -> {
            int i = small.get(j);
            svds[i] = Svd.decompose(weights.get(i), chosen.get(i).rows(), chosen.get(i).cols());
        });
        for (int i = 0; i < chosen.size(); i++) {
            Candidate c = chosen.get(i);
            int m = c.rows();
            int n = c.cols();
            Svd.Result svd = svds[i];
            int k = svd.k();
            double[] sigma = new double[k * k];
            for (int j = 0; j < k; j++) {
                sigma[j * k + j] = svd.s()[j];
            }
            Tensor u = backend.fromHost(DenseOps.toFloat(svd.u()), m, k);
            Tensor s = backend.fromHost(DenseOps.toFloat(sigma), k, k);
            Tensor v = backend.fromHost(DenseOps.toFloat(svd.v()), n, k);
            LowRankLayer lr = factored(c, u, s, v);
            c.parent().replaceChild(c.childName(), (Module) lr);
            optimizer.replaceParameter(c.weight(), lr.sigma());
            optimizer.setState(lr.sigma(), null);
            c.weight().setRequiresGrad(false);
            layers.add(new Converted(c.name(), lr, k, svd.u(), svd.v()));
        }
        converted = true;
        conversionNanos += System.nanoTime() - t0;
    }

    // ---- update rounds --------------------------------------------------------------------------

    /** Number of layers taking part in round {@code round} (0-based): ceil(f·L) more each round. */
    public static int activeLayers(int round, int total, double rolloutFraction) {
        int step = RankRule.ceil(rolloutFraction * total);
        return (int) Math.min(total, (long) step * (round + 1));
    }

    /**
     * Runs one update round over the rolled-out layers (the output side first). The double-precision
     * work of the layers runs in parallel; reading and writing tensors and optimizer state happens on
     * the calling thread.
     */
    public void updateRound(Optimizer optimizer, Backend backend) {
        if (!converted) {
            throw new IllegalStateException("update round before conversion");
        }
        long t0 = System.nanoTime();
        int active = activeLayers(rounds, layers.size(), config.rolloutFraction());
        // Round 0 follows the conversion, whose bases come straight from a double SVD: nothing to check yet.
        boolean checkOrtho = rounds > 0 && rounds % ORTHO_CHECK_EVERY == 0;
        if (backend instanceof DeviceSigmaRound.Provider provider) {
            try (DeviceSigmaRound device = provider.openSigmaRound()) {
                deviceRound(device, layers.subList(layers.size() - active, layers.size()), optimizer, backend,
                        checkOrtho);
            }
            finishRound(t0);
            return;
        }
        List<LayerUpdate> updates = new ArrayList<>();
        for (int i = layers.size() - active; i < layers.size(); i++) {
            updates.add(LayerUpdate.read(layers.get(i), optimizer, backend, config, checkOrtho));
        }
        // A layer that carries most of the round's work (typically one that has just joined the roll-out
        // with its full-rank Σ) has its SVD first, alone, with the threads inside; running it beside the
        // small ones would leave it one core. Its three rotation products then share the queue with the
        // other layers' SVDs and products, one core each (alone in the round, the threads go inside them).
        int big = dominant(updates);
        List<LayerUpdate> rest = new ArrayList<>(updates);
        if (big >= 0) {
            LayerUpdate first = rest.remove(big);
            first.decompose();
            if (rest.isEmpty()) {
                first.rotate(workers());
            } else {
                sideBySide(rest, first);
            }
        } else if (rest.size() == 1) {
            rest.get(0).compute(workers()); // a single layer: the threads inside its SVD and products
        } else if (rest.size() > 1) {
            sideBySide(rest, null);
        }
        for (LayerUpdate u : updates) {
            u.apply(optimizer, backend);
            if (u.reorthonormalised > 0) {
                reorthonormalisations += u.reorthonormalised;
            }
        }
        finishRound(t0);
    }

    /** The parts of a layer's rotation that {@link #sideBySide} schedules separately (U, V, optimizer state). */
    private static final int ROTATION_PARTS = 3;

    /**
     * Several layers' updates on the threads, each layer's SVD one task and each of its three rotation
     * products another, taken in that order from one queue: all SVDs are claimed before any rotation, so a
     * rotation only ever waits for an SVD that is running, and a thread that would idle while another
     * finishes an SVD (three layers on two threads) does another layer's products instead. {@code done},
     * if not null, is a layer whose SVD has already run: only its products join the queue, first.
     */
    private static void sideBySide(List<LayerUpdate> rest, LayerUpdate done) {
        List<LayerUpdate> all = new ArrayList<>();
        if (done != null) {
            all.add(done);
        }
        all.addAll(rest);
        int first = done == null ? 0 : 1; // layers before this one are already decomposed
        int layers = all.size();
        int svds = layers - first;
        CountDownLatch[] decomposed = new CountDownLatch[layers];
        boolean[] failed = new boolean[layers];
        for (int i = 0; i < layers; i++) {
            decomposed[i] = new CountDownLatch(i < first ? 0 : 1);
        }
        workers().forChunks(svds + layers * ROTATION_PARTS, (t, count) -> {
            if (t < svds) {
                int i = first + t;
                try {
                    all.get(i).decompose();
                } catch (RuntimeException | Error e) {
                    failed[i] = true;
                    throw e;
                } finally {
                    decomposed[i].countDown();
                }
                return;
            }
            int i = (t - svds) / ROTATION_PARTS;
            try {
                decomposed[i].await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted in an update round", e);
            }
            if (!failed[i]) {
                all.get(i).rotate((t - svds) % ROTATION_PARTS, null);
            }
        });
    }

    private void finishRound(long t0) {
        rounds++;
        long spent = System.nanoTime() - t0;
        roundNanos += spent;
        roundMillis.add(spent / 1e6);
    }

    /**
     * The round on a backend that provides {@link DeviceSigmaRound}: the same steps as the host path (basis
     * check and QR repair, SVD of Σ, rank rule, rotation and truncation of the bases, state policy), but U,
     * V and Σ stay on the device in its precision, so the double masters are dropped (a checkpoint reads the
     * device bases instead). The QR repair itself runs on the host in double (rare: every
     * {@link #ORTHO_CHECK_EVERY} rounds and only past the tolerance), folding R into Σ as the host path does.
     */
    private void deviceRound(DeviceSigmaRound device, List<Converted> active, Optimizer optimizer, Backend backend,
            boolean checkOrtho) {
        List<DeviceSigmaRound.Factors> factors = new ArrayList<>();
        for (Converted c : active) {
            c.u = null;
            c.v = null;
            LowRankLayer l = c.layer;
            if (checkOrtho) {
                repairOnHost(c, device, backend);
            }
            factors.add(new DeviceSigmaRound.Factors(l.u().value(), l.sigma().value(), l.v().value()));
        }
        DeviceSigmaRound.Decomposed svd = device.decompose(factors);
        for (int i = 0; i < active.size(); i++) {
            Converted c = active.get(i);
            LowRankLayer l = c.layer;
            int newRank = config.rankRule().newRank(svd.singularValues(i), c.fullRank);
            ParamState state = optimizer.state(l.sigma());
            boolean reset = config.statePolicy() == StatePolicy.RESET;
            boolean rotate = config.statePolicy() == StatePolicy.ROTATE;
            ParamState next = switch (state) {
                case null -> null;
                case ParamState.Adam adam -> reset
                        ? new ParamState.Adam(backend.zeros(newRank, newRank), backend.zeros(newRank, newRank), 0)
                        : new ParamState.Adam(rotate ? svd.rotateMoment(i, adam.m, newRank)
                                : device.sliceMoment(adam.m, newRank), device.sliceMoment(adam.v, newRank), adam.step);
                case ParamState.Momentum mom -> new ParamState.Momentum(reset || mom.buf == null ? null
                        : rotate ? svd.rotateMoment(i, mom.buf, newRank) : device.sliceMoment(mom.buf, newRank));
            };
            DeviceSigmaRound.Factors f = svd.truncate(i, newRank);
            l.u().setValue(f.u());
            l.v().setValue(f.v());
            l.sigma().setValue(f.sigma());
            optimizer.setState(l.sigma(), next);
        }
    }

    /** Re-orthonormalises a drifted device basis by a double QR on the host, R folded into Σ. */
    private void repairOnHost(Converted c, DeviceSigmaRound device, Backend backend) {
        LowRankLayer l = c.layer;
        int m = l.outFeatures();
        int n = l.inFeatures();
        int r = l.rank();
        boolean fixU = device.orthogonalityError(l.u().value()) > config.orthoTolerance();
        boolean fixV = device.orthogonalityError(l.v().value()) > config.orthoTolerance();
        if (!fixU && !fixV) {
            return;
        }
        double[] s = DenseOps.toDouble(backend.toHost(l.sigma().value()));
        if (fixU) {
            Qr.Result qr = Qr.thin(DenseOps.toDouble(backend.toHost(l.u().value())), m, r);
            l.u().setValue(backend.fromHost(DenseOps.toFloat(qr.q()), m, r));
            s = DenseOps.multiply(qr.r(), r, r, s, r, r);
            reorthonormalisations++;
        }
        if (fixV) {
            Qr.Result qr = Qr.thin(DenseOps.toDouble(backend.toHost(l.v().value())), n, r);
            l.v().setValue(backend.fromHost(DenseOps.toFloat(qr.q()), n, r));
            s = DenseOps.multiply(s, r, r, DenseOps.transpose(qr.r(), r, r), r, r);
            reorthonormalisations++;
        }
        l.sigma().setValue(backend.fromHost(DenseOps.toFloat(s), r, r));
    }

    /** The low-rank counterpart of a candidate layer with the given factors (its bias is shared). */
    private static LowRankLayer factored(Candidate c, Tensor u, Tensor s, Tensor v) {
        return c.layer() instanceof Conv2d conv
                ? new LowRankConv2d(u, s, v, c.bias(), conv.inChannels(), conv.kernelH(), conv.kernelW(),
                        conv.options())
                : new LowRankLinear(u, s, v, c.bias());
    }

    /**
     * The index of the update that has more than half of the round's work (r³ for the SVD plus (m+n)·r²
     * for the rotations) and is large enough for threads to pay off inside it, or -1.
     */
    private static int dominant(List<LayerUpdate> updates) {
        if (workers().threads() < 2) {
            return -1;
        }
        double total = 0;
        double max = -1;
        int arg = -1;
        for (int i = 0; i < updates.size(); i++) {
            LayerUpdate u = updates.get(i);
            double work = u.work();
            total += work;
            if (work > max) {
                max = work;
                arg = i;
            }
        }
        return arg >= 0 && updates.get(arg).r >= DOMINANT_MIN_RANK && 2 * max > total ? arg : -1;
    }

    /** Below this rank a layer's SVD gains little from threads of its own. */
    private static final int DOMINANT_MIN_RANK = 384;

    /**
     * Rounds between checks of |UᵀU − I|. The bases are rotated in double by orthogonal factors from a
     * double SVD, so they drift by about 1e-15 per round; checking every round would cost as much as
     * the rotation itself (an m·r² Gram matrix).
     */
    static final int ORTHO_CHECK_EVERY = 10;

    /** The rounds run on the shared pool, where the SVDs' own loops inside a layer's task run inline. */
    private static Parallel workers() {
        return Parallel.common();
    }

    /**
     * Test hook: multiplies column {@code col} of the double master of layer {@code layer}'s U by
     * {@code factor} and compensates in Σ, so U Σ Vᵀ is unchanged but U is no longer orthonormal.
     */
    void skewBasisForTesting(int layer, int col, double factor, Backend backend) {
        Converted c = layers.get(layer);
        int m = c.layer.outFeatures();
        int r = c.layer.rank();
        for (int i = 0; i < m; i++) {
            c.u[i * r + col] *= factor;
        }
        float[] s = backend.toHost(c.layer.sigma().value());
        for (int j = 0; j < r; j++) {
            s[col * r + j] /= (float) factor;
        }
        c.layer.u().setValue(backend.fromHost(DenseOps.toFloat(c.u), m, r));
        c.layer.sigma().setValue(backend.fromHost(s, r, r));
    }

    /** Number of QR re-orthonormalisations so far. */
    public int reorthonormalisations() {
        return reorthonormalisations;
    }

    /** One layer's share of a round: host copies in, pure double math, results out. */
    private static final class LayerUpdate {
        final Converted c;
        final OialrConfig config;
        final boolean checkOrtho;
        final int m;
        final int n;
        final int r;
        final ParamState state;
        double[] sigma;
        double[] m1;
        double[] m2;
        // results
        int newRank;
        double[] p;
        double[] q;
        double[] values;
        boolean identity;
        int reorthonormalised;

        private LayerUpdate(Converted c, OialrConfig config, boolean checkOrtho, ParamState state) {
            this.c = c;
            this.config = config;
            this.checkOrtho = checkOrtho;
            this.m = c.layer.outFeatures();
            this.n = c.layer.inFeatures();
            this.r = c.layer.rank();
            this.state = state;
        }

        static LayerUpdate read(Converted c, Optimizer optimizer, Backend backend, OialrConfig config,
                boolean checkOrtho) {
            LayerUpdate u = new LayerUpdate(c, config, checkOrtho, optimizer.state(c.layer.sigma()));
            u.sigma = DenseOps.toDouble(backend.toHost(c.layer.sigma().value()));
            if (u.state instanceof ParamState.Adam adam && config.statePolicy() != StatePolicy.RESET) {
                u.m1 = DenseOps.toDouble(backend.toHost(adam.m));
                u.m2 = DenseOps.toDouble(backend.toHost(adam.v));
            } else if (u.state instanceof ParamState.Momentum mom && mom.buf != null
                    && config.statePolicy() != StatePolicy.RESET) {
                u.m1 = DenseOps.toDouble(backend.toHost(mom.buf));
            }
            return u;
        }

        /** The round's work for this layer, for scheduling: r³ for the SVD plus (m+n)·r² for the rotations. */
        double work() {
            return (double) r * r * (r + m + n);
        }

        /** pool: threads for the rotations when this layer runs alone, or null. */
        void compute(Parallel pool) {
            decompose();
            rotate(pool);
        }

        /** Orthogonality repair, the SVD of Σ (leading vectors only) and the new rank. */
        void decompose() {
            double[] s = sigma;
            // Restore orthonormal bases first, folding the triangular factors into Σ so U Σ Vᵀ is unchanged.
            if (checkOrtho && DenseOps.orthogonalityError(c.u, m, r) > config.orthoTolerance()) {
                Qr.Result qr = Qr.thin(c.u, m, r);
                c.u = qr.q();
                s = DenseOps.multiply(qr.r(), r, r, s, r, r);
                reorthonormalised++;
            }
            if (checkOrtho && DenseOps.orthogonalityError(c.v, n, r) > config.orthoTolerance()) {
                Qr.Result qr = Qr.thin(c.v, n, r);
                c.v = qr.q();
                s = DenseOps.multiply(s, r, r, DenseOps.transpose(qr.r(), r, r), r, r);
                reorthonormalised++;
            }
            values = sortedDiagonal(s, r);
            if (values != null) {
                identity = true; // Σ is already diag(σ) with σ descending (e.g. right after conversion)
                newRank = config.rankRule().newRank(values, c.fullRank);
            } else {
                // Only the singular vectors that survive the cut are formed (P and Q are r × newRank).
                Svd.Leading svd = Svd.leading(s, r, r, sigma -> config.rankRule().newRank(sigma, c.fullRank));
                values = svd.s();
                p = svd.u();
                q = svd.v();
                newRank = svd.r();
                identity = isIdentity(p, r, newRank) && isIdentity(q, r, newRank);
            }
        }

        /** U ← U P, V ← V Q and the optimizer state, all cut to the new rank; pool: threads for the products, or null. */
        private void rotate(Parallel pool) {
            for (int part = 0; part < ROTATION_PARTS; part++) {
                rotate(part, pool);
            }
        }

        /** One of the independent products of the rotation: 0 → U, 1 → V, 2 → the optimizer state. */
        void rotate(int part, Parallel pool) {
            int ld = identity ? r : newRank;
            switch (part) {
                case 0 -> c.u = identity ? sliceColumns(c.u, m, r, newRank)
                        : DenseOps.multiply(c.u, m, r, p, ld, newRank, pool);
                case 1 -> c.v = identity ? sliceColumns(c.v, n, r, newRank)
                        : DenseOps.multiply(c.v, n, r, q, ld, newRank, pool);
                default -> {
                    boolean rotate = config.statePolicy() == StatePolicy.ROTATE && !identity;
                    if (m1 != null) {
                        m1 = rotate ? DenseOps.rotateLeading(p, q, ld, m1, r, newRank, pool)
                                : DenseOps.slice(m1, r, newRank);
                    }
                    if (m2 != null) {
                        m2 = DenseOps.slice(m2, r, newRank);
                    }
                }
            }
        }

        void apply(Optimizer optimizer, Backend backend) {
            LowRankLayer layer = c.layer;
            double[] diag = new double[newRank * newRank];
            for (int i = 0; i < newRank; i++) {
                diag[i * newRank + i] = values[i];
            }
            layer.u().setValue(backend.fromHost(DenseOps.toFloat(c.u), m, newRank));
            layer.v().setValue(backend.fromHost(DenseOps.toFloat(c.v), n, newRank));
            layer.sigma().setValue(backend.fromHost(DenseOps.toFloat(diag), newRank, newRank));
            optimizer.setState(layer.sigma(), newState(backend));
        }

        /** Σ's optimizer state after Σ' = (Pᵀ Σ Q)[:r', :r'], by the configured policy. */
        private ParamState newState(Backend backend) {
            if (state == null) {
                return null;
            }
            boolean reset = config.statePolicy() == StatePolicy.RESET;
            return switch (state) {
                case ParamState.Adam adam -> reset
                        ? new ParamState.Adam(backend.zeros(newRank, newRank), backend.zeros(newRank, newRank), 0)
                        : new ParamState.Adam(host(backend, m1), host(backend, m2), adam.step);
                case ParamState.Momentum mom -> new ParamState.Momentum(m1 == null ? null : host(backend, m1));
            };
        }

        private Tensor host(Backend backend, double[] a) {
            return backend.fromHost(DenseOps.toFloat(a), newRank, newRank);
        }
    }

    /** The diagonal of Σ when Σ is exactly diagonal, non-negative and descending; else null. */
    private static double[] sortedDiagonal(double[] s, int r) {
        double[] d = new double[r];
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < r; j++) {
                if (i != j && s[i * r + j] != 0.0) {
                    return null;
                }
            }
            d[i] = s[i * r + i];
            if (d[i] < 0 || (i > 0 && d[i] > d[i - 1])) {
                return null;
            }
        }
        return d;
    }

    /** Whether the r×cols block a is the leading columns of the identity. */
    private static boolean isIdentity(double[] a, int r, int cols) {
        for (int i = 0; i < r; i++) {
            for (int j = 0; j < cols; j++) {
                if (a[i * cols + j] != (i == j ? 1.0 : 0.0)) {
                    return false;
                }
            }
        }
        return true;
    }

    private static double[] sliceColumns(double[] a, int rows, int cols, int keep) {
        if (keep == cols) {
            return a;
        }
        double[] out = new double[rows * keep];
        for (int i = 0; i < rows; i++) {
            System.arraycopy(a, i * cols, out, i * keep, keep);
        }
        return out;
    }

    // ---- reporting ------------------------------------------------------------------------------

    @Override
    public void afterEpoch(Trainer trainer, int epoch, Map<String, Object> record) {
        record.putAll(report(trainer.model()));
    }

    /** Ranks per converted layer, trainable % and stored %, rounds and their time. */
    public Map<String, Object> report(Module model) {
        Map<String, Object> r = new LinkedHashMap<>();
        Map<String, Object> ranks = new LinkedHashMap<>();
        for (Converted c : layers) {
            ranks.put(c.name, c.layer.rank());
        }
        r.put("oialr_converted", converted);
        r.put("ranks", ranks);
        r.put("trainable_pct", trainablePercent(model));
        r.put("stored_pct", storedPercent(model));
        r.put("update_rounds", rounds);
        r.put("update_round_seconds", roundNanos / 1e9);
        r.put("update_round_ms", List.copyOf(roundMillis));
        r.put("conversion_seconds", conversionNanos / 1e9);
        r.put("reorthonormalisations", reorthonormalisations);
        return r;
    }

    /** Trainable parameters now as a percentage of the dense model's (Σ counts r², U and V nothing). */
    public double trainablePercent(Module model) {
        long now = 0;
        for (Parameter p : model.parameters()) {
            if (p.requiresGrad()) {
                now += p.value().size();
            }
        }
        return denseTrainable <= 0 ? 100.0 : 100.0 * now / denseTrainable;
    }

    /** All parameters now, including U and V, as a percentage of the dense model's. */
    public double storedPercent(Module model) {
        return denseStored <= 0 ? 100.0 : 100.0 * model.parameterCount() / denseStored;
    }

    public boolean converted() {
        return converted;
    }

    public int rounds() {
        return rounds;
    }

    /** Seconds spent in update rounds so far (not counting conversion). */
    public double roundSeconds() {
        return roundNanos / 1e9;
    }

    public double conversionSeconds() {
        return conversionNanos / 1e9;
    }

    /** Current rank of each converted layer, input side first. */
    public Map<String, Integer> ranks() {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (Converted c : layers) {
            out.put(c.name, c.layer.rank());
        }
        return Collections.unmodifiableMap(out);
    }

    /** The converted Linear layers, input side first (see {@link #convertedLayers()} for all kinds). */
    public List<LowRankLinear> lowRankLayers() {
        return layers.stream().map(c -> c.layer).filter(l -> l instanceof LowRankLinear)
                .map(l -> (LowRankLinear) l).toList();
    }

    /** Every converted layer (Linear and Conv2d), input side first. */
    public List<LowRankLayer> convertedLayers() {
        return layers.stream().map(c -> c.layer).toList();
    }

    // ---- checkpoints ----------------------------------------------------------------------------

    @Override
    public String checkpointSection() {
        return "oialr";
    }

    /**
     * Writes the method's state: whether it has converted, the rounds done and the next round's step,
     * the dense parameter counts, and per converted layer its name, full rank, current rank and the
     * double-precision masters of U and V (the float tensors the layer computes with, and Σ, are model
     * parameters and saved with the model).
     */
    @Override
    public void saveState(Trainer trainer, dev.oialr4j.io.Checkpoint.Section out) {
        out.put("delay", config.delay());
        out.put("update_every", config.updateEvery());
        out.put("converted", converted);
        out.put("rounds", rounds);
        out.put("next_round_step", converted ? trainer.globalStep() + config.updateEvery()
                - (trainer.globalStep() - config.delay()) % config.updateEvery() : config.delay());
        out.put("dense_trainable", denseTrainable);
        out.put("dense_stored", denseStored);
        out.put("reorthonormalisations", reorthonormalisations);
        out.put("round_nanos", roundNanos);
        out.put("conversion_nanos", conversionNanos);
        out.put("round_ms", new ArrayList<>(roundMillis));
        List<Object> list = new ArrayList<>();
        for (Converted c : layers) {
            Map<String, Object> l = new LinkedHashMap<>();
            l.put("name", c.name);
            l.put("full_rank", c.fullRank);
            l.put("rank", c.layer.rank());
            l.put("out", c.layer.outFeatures());
            l.put("in", c.layer.inFeatures());
            list.add(l);
            // After a device round the device bases are the masters (see deviceRound).
            double[] u = c.u != null ? c.u.clone() : DenseOps.toDouble(trainer.backend().toHost(c.layer.u().value()));
            double[] v = c.v != null ? c.v.clone() : DenseOps.toDouble(trainer.backend().toHost(c.layer.v().value()));
            out.putTensor(c.name + "/u", new dev.oialr4j.io.SafeTensors.F64(
                    new int[] {c.layer.outFeatures(), c.layer.rank()}, u));
            out.putTensor(c.name + "/v", new dev.oialr4j.io.SafeTensors.F64(
                    new int[] {c.layer.inFeatures(), c.layer.rank()}, v));
        }
        out.put("layers", list);
    }

    /**
     * Restores the state into a fresh instance whose trainer holds the freshly built dense model: each
     * saved layer is converted again at its saved rank (Σ is a placeholder until the model's parameters
     * are loaded), takes its dense weight's optimizer slot, and gets its double bases back.
     */
    @Override
    public void restoreState(Trainer trainer, dev.oialr4j.io.Checkpoint.Section in) {
        if (converted || rounds > 0) {
            throw new IllegalStateException("restore OIALR state into a fresh instance");
        }
        if (in.getLong("delay") != config.delay() || in.getLong("update_every") != config.updateEvery()) {
            throw new dev.oialr4j.io.FormatException("cannot resume: the checkpoint's OIALR schedule (delay "
                    + in.getLong("delay") + ", update every " + in.getLong("update_every") + ") differs from this run's"
                    + " (delay " + config.delay() + ", update every " + config.updateEvery() + ")");
        }
        Module model = trainer.model();
        Backend backend = trainer.backend();
        Map<String, Candidate> byName = new LinkedHashMap<>();
        for (Candidate c : select(model, config)) {
            byName.put(c.name(), c);
        }
        for (Object o : (List<?>) in.get("layers")) {
            Map<?, ?> l = (Map<?, ?>) o;
            String name = (String) l.get("name");
            Candidate c = byName.get(name);
            if (c == null) {
                throw new dev.oialr4j.io.FormatException("cannot resume: the checkpoint converted layer '" + name
                        + "' but this configuration selects " + byName.keySet());
            }
            int m = c.rows();
            int n = c.cols();
            int r = ((Number) l.get("rank")).intValue();
            double[] u = in.tensor(name + "/u", m, r).toDoubles().clone();
            double[] v = in.tensor(name + "/v", n, r).toDoubles().clone();
            LowRankLayer lr = factored(c, backend.fromHost(DenseOps.toFloat(u), m, r), backend.zeros(r, r),
                    backend.fromHost(DenseOps.toFloat(v), n, r));
            c.parent().replaceChild(c.childName(), (Module) lr);
            trainer.optimizer().replaceParameter(c.weight(), lr.sigma());
            trainer.optimizer().setState(lr.sigma(), null);
            c.weight().setRequiresGrad(false);
            layers.add(new Converted(name, lr, ((Number) l.get("full_rank")).intValue(), u, v));
        }
        converted = in.getBoolean("converted");
        rounds = (int) in.getLong("rounds");
        denseTrainable = in.getLong("dense_trainable");
        denseStored = in.getLong("dense_stored");
        reorthonormalisations = (int) in.getLong("reorthonormalisations");
        roundNanos = in.getLong("round_nanos");
        conversionNanos = in.getLong("conversion_nanos");
        for (Object ms : (List<?>) in.get("round_ms")) {
            roundMillis.add(((Number) ms).doubleValue());
        }
        if (converted && layers.isEmpty()) {
            throw new dev.oialr4j.io.FormatException("cannot resume: the checkpoint says OIALR converted but lists no layer");
        }
    }
}
