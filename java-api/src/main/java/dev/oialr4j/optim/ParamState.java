package dev.oialr4j.optim;

import dev.oialr4j.tensor.Tensor;

/**
 * Per-parameter optimizer state, readable and replaceable from outside (OIALR slices and rotates it when a
 * rank changes). Each state names its tensors so generic code can re-shape them.
 */
public sealed interface ParamState permits ParamState.Adam, ParamState.Momentum {

    /**
     * AdamW: first and second moments and the step count used for bias correction. {@code step} counts
     * updates applied with these moments; restarting it to 0 together with zeroed moments is the
     * consistent way to reset (see OIALR.md §4).
     */
    final class Adam implements ParamState {
        public Tensor m;
        public Tensor v;
        public long step;

        public Adam(Tensor m, Tensor v, long step) {
            this.m = m;
            this.v = v;
            this.step = step;
        }
    }

    /** SGD momentum buffer; {@code buf} is null until the first step. */
    final class Momentum implements ParamState {
        public Tensor buf;

        public Momentum(Tensor buf) {
            this.buf = buf;
        }
    }
}
