package dev.oialr4j.oialr;

import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * OIALR's hyperparameters with the reference defaults (OIALR.md §3). Build with {@link #builder()}.
 *
 * @param delay            optimizer steps of full-rank training before conversion
 * @param updateEvery      steps between update rounds after conversion
 * @param rankRule         cutoff β, max cut per round, rank floor
 * @param rolloutFraction  share of low-rank layers added to each round, from the output side
 * @param statePolicy      what happens to Σ's optimizer state in a round
 * @param keepFirstDense   keep the first eligible layer dense
 * @param maxAspectRatio   layers with max(m,n)/min(m,n) at or above this stay dense
 * @param include          layer names converted even if the default rule would not (must still save)
 * @param exclude          layer names never converted
 * @param orthoTolerance   max |UᵀU − I| entry before U (or V) is re-orthonormalised by QR
 */
public record OialrConfig(long delay, long updateEvery, RankRule rankRule, double rolloutFraction,
        StatePolicy statePolicy, boolean keepFirstDense, double maxAspectRatio, Set<String> include,
        Set<String> exclude, double orthoTolerance) {

    public OialrConfig {
        if (delay < 1) {
            throw new IllegalArgumentException("delay must be >= 1 step, got " + delay);
        }
        if (updateEvery < 1) {
            throw new IllegalArgumentException("updateEvery must be >= 1 step, got " + updateEvery);
        }
        if (!(rolloutFraction > 0 && rolloutFraction <= 1)) {
            throw new IllegalArgumentException("rollout fraction must be in (0, 1], got " + rolloutFraction);
        }
        if (!(maxAspectRatio > 1)) {
            throw new IllegalArgumentException("max aspect ratio must be > 1, got " + maxAspectRatio);
        }
        if (!(orthoTolerance > 0)) {
            throw new IllegalArgumentException("orthogonality tolerance must be > 0");
        }
        include = Set.copyOf(include);
        exclude = Set.copyOf(exclude);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Builder with the reference defaults: delay 1000, every 100, β 0.1, max cut 0.5, floor 0.01, roll-out 0.1. */
    public static final class Builder {
        private long delay = 1000;
        private long updateEvery = 100;
        private double cutoffFraction = 0.1;
        private double maxCutFraction = 0.5;
        private double minRankFraction = 0.01;
        private double rolloutFraction = 0.1;
        private StatePolicy statePolicy = StatePolicy.ROTATE;
        private boolean keepFirstDense;
        private double maxAspectRatio = 10;
        private final Set<String> include = new LinkedHashSet<>();
        private final Set<String> exclude = new LinkedHashSet<>();
        private double orthoTolerance = 1e-5;

        public Builder delay(long steps) {
            this.delay = steps;
            return this;
        }

        public Builder updateEvery(long steps) {
            this.updateEvery = steps;
            return this;
        }

        public Builder cutoffFraction(double beta) {
            this.cutoffFraction = beta;
            return this;
        }

        public Builder maxCutFraction(double f) {
            this.maxCutFraction = f;
            return this;
        }

        public Builder minRankFraction(double f) {
            this.minRankFraction = f;
            return this;
        }

        public Builder rolloutFraction(double f) {
            this.rolloutFraction = f;
            return this;
        }

        public Builder statePolicy(StatePolicy p) {
            this.statePolicy = p;
            return this;
        }

        public Builder keepFirstDense(boolean keep) {
            this.keepFirstDense = keep;
            return this;
        }

        public Builder maxAspectRatio(double r) {
            this.maxAspectRatio = r;
            return this;
        }

        public Builder include(String... names) {
            include.addAll(List.of(names));
            return this;
        }

        public Builder exclude(String... names) {
            exclude.addAll(List.of(names));
            return this;
        }

        public Builder orthoTolerance(double tol) {
            this.orthoTolerance = tol;
            return this;
        }

        public OialrConfig build() {
            return new OialrConfig(delay, updateEvery, new RankRule(cutoffFraction, maxCutFraction, minRankFraction),
                    rolloutFraction, statePolicy, keepFirstDense, maxAspectRatio, include, exclude, orthoTolerance);
        }
    }
}
