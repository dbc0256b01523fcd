package dev.oialr4j.autograd;

import dev.oialr4j.backend.Backend;
import dev.oialr4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * Records differentiable ops as they run and replays their backward functions in reverse order. The
 * recording order is already a topological order (an op can only consume values made before it), so
 * backward is a single reverse sweep; nothing clever happens here.
 */
public final class Tape {

    /** Backward of one op: receives the gradient of its output and accumulates into its inputs. */
    @FunctionalInterface
    public interface Backward {
        void apply(Tensor gradOutput);
    }

    /** A no-grad scope; closing it twice is harmless. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    private record Node(Variable output, Backward backward) {
    }

    private final Backend backend;
    private final List<Node> nodes = new ArrayList<>();
    private int noGradDepth;

    public Tape(Backend backend) {
        this.backend = backend;
    }

    public Backend backend() {
        return backend;
    }

    /** True when ops are being recorded (outside every no-grad scope). */
    public boolean recording() {
        return noGradDepth == 0;
    }

    /** A scope in which ops run but record nothing: {@code try (var s = tape.noGrad()) { ... }}. */
    public Scope noGrad() {
        noGradDepth++;
        return new Scope() {
            private boolean closed;

            @Override
            public void close() {
                if (!closed) {
                    closed = true;
                    noGradDepth--;
                }
            }
        };
    }

    /** Whether an op over these inputs must be recorded. */
    public boolean needsGrad(Variable... inputs) {
        if (noGradDepth > 0) {
            return false;
        }
        for (Variable v : inputs) {
            if (v != null && v.requiresGrad()) {
                return true;
            }
        }
        return false;
    }

    /** Wraps an op's output, recording its backward when any input needs a gradient. */
    public Variable record(Tensor output, Backward backward, Variable... inputs) {
        boolean grad = needsGrad(inputs);
        Variable out = new Variable(output, grad);
        if (grad) {
            nodes.add(new Node(out, backward));
        }
        return out;
    }

    /** Number of recorded ops not yet consumed by a backward pass. */
    public int size() {
        return nodes.size();
    }

    /**
     * Back-propagates from a scalar: seeds its gradient with 1, runs every recorded backward in reverse
     * and clears the tape. Parameters accumulate into their gradient buffers.
     */
    public void backward(Variable loss) {
        if (loss.value().size() != 1) {
            throw new IllegalArgumentException("backward needs a scalar loss, got shape " + loss.value().shape());
        }
        if (!loss.requiresGrad()) {
            nodes.clear();
            throw new IllegalStateException("the loss does not depend on any variable that requires a gradient");
        }
        Tensor seed = backend.zeros(loss.dims());
        backend.fill(seed, 1f);
        loss.setGrad(seed);
        try {
            for (int i = nodes.size() - 1; i >= 0; i--) {
                Node n = nodes.get(i);
                Tensor g = n.output().grad();
                if (g != null) {
                    n.backward().apply(g);
                    n.output().setGrad(null); // intermediate gradients are not needed once consumed
                }
            }
        } finally {
            nodes.clear();
        }
    }

    /** Drops recorded ops without running them (e.g. after an evaluation forward pass). */
    public void clear() {
        nodes.clear();
    }

    /**
     * Returns the gradient buffer of {@code v} to accumulate into, and whether it holds earlier
     * contributions ({@code beta = 1}) or must be overwritten ({@code beta = 0}).
     */
    GradTarget gradTarget(Variable v) {
        Tensor g = v.grad();
        if (v instanceof Parameter p) {
            if (g == null || !g.shape().equals(v.value().shape())) {
                g = backend.zeros(v.dims());
                p.setGrad(g);
                p.markGrad();
                return new GradTarget(g, false);
            }
            boolean accumulate = p.hasGrad();
            p.markGrad();
            return new GradTarget(g, accumulate);
        }
        if (g == null) {
            g = backend.zeros(v.dims());
            v.setGrad(g);
            return new GradTarget(g, false);
        }
        return new GradTarget(g, true);
    }

    /** A gradient buffer and whether to add to it. */
    record GradTarget(Tensor grad, boolean accumulate) {
        float beta() {
            return accumulate ? 1f : 0f;
        }
    }

    /** Adds {@code contribution} into the gradient of {@code v} (no-op when v needs no gradient). */
    void accumulate(Variable v, Tensor contribution) {
        if (!v.requiresGrad()) {
            return;
        }
        GradTarget t = gradTarget(v);
        if (t.accumulate()) {
            backend.add(t.grad(), contribution.reshape(t.grad().dims()), t.grad());
        } else {
            backend.copy(contribution, t.grad());
        }
    }
}
