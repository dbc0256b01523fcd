package dev.oialr4j.nn.models;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.nn.Dropout;
import dev.oialr4j.nn.GELU;
import dev.oialr4j.nn.Linear;
import dev.oialr4j.nn.Module;
import dev.oialr4j.nn.ReLU;
import dev.oialr4j.nn.Sequential;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A multi-layer perceptron: Linear → activation → dropout per hidden layer, then a Linear classifier.
 * Layers are named {@code layers.0}, {@code layers.1}, ... inside one {@link Sequential}.
 */
public final class Mlp extends Module {

    private final Sequential layers;
    private final int inputs;
    private final int[] hidden;
    private final int outputs;

    private Mlp(Builder b) {
        this.inputs = b.inputs;
        this.hidden = b.hidden.clone();
        this.outputs = b.outputs;
        SplittableRandom rng = new SplittableRandom(b.seed);
        List<Module> list = new ArrayList<>();
        int prev = b.inputs;
        for (int h : b.hidden) {
            list.add(new Linear(prev, h, true, rng));
            list.add(b.activation.equals("gelu") ? new GELU() : new ReLU());
            if (b.dropout > 0f) {
                list.add(new Dropout(b.dropout, rng.nextLong()));
            }
            prev = h;
        }
        list.add(new Linear(prev, b.outputs, true, rng));
        this.layers = registerModule("layers", new Sequential(list));
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        return layers.forward(ops, x);
    }

    public Sequential layers() {
        return layers;
    }

    @Override
    public String toString() {
        return "Mlp(" + inputs + " -> " + Arrays.toString(hidden) + " -> " + outputs + ")";
    }

    /** Options with defaults matching the CLI: 784 → 3 × 1024 → 10, ReLU, dropout 0.2. */
    public static final class Builder {
        private int inputs = 784;
        private int[] hidden = {1024, 1024, 1024};
        private int outputs = 10;
        private String activation = "relu";
        private float dropout = 0.2f;
        private long seed = 0;

        public Builder inputs(int n) {
            this.inputs = n;
            return this;
        }

        public Builder hidden(int... sizes) {
            this.hidden = sizes.clone();
            return this;
        }

        public Builder outputs(int n) {
            this.outputs = n;
            return this;
        }

        /** {@code relu} or {@code gelu}. */
        public Builder activation(String name) {
            if (!name.equals("relu") && !name.equals("gelu")) {
                throw new IllegalArgumentException("activation must be relu or gelu, got '" + name + "'");
            }
            this.activation = name;
            return this;
        }

        public Builder dropout(float p) {
            this.dropout = p;
            return this;
        }

        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        public Mlp build() {
            if (inputs < 1 || outputs < 1) {
                throw new IllegalArgumentException("MLP needs positive input and output sizes");
            }
            for (int h : hidden) {
                if (h < 1) {
                    throw new IllegalArgumentException("hidden sizes must be positive, got " + Arrays.toString(hidden));
                }
            }
            return new Mlp(this);
        }
    }
}
