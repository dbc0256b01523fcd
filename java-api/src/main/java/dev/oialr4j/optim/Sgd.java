package dev.oialr4j.optim;

import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.backend.Backend;
import java.util.List;

/** Stochastic gradient descent with optional (Nesterov) momentum and L2 weight decay. */
public final class Sgd extends Optimizer {

    private final float momentum;
    private final boolean nesterov;

    public Sgd(Backend backend, List<ParamGroup> groups, double lr, double momentum, boolean nesterov) {
        super(backend, groups, lr);
        if (!(momentum >= 0 && momentum < 1)) {
            throw new IllegalArgumentException("momentum must be in [0, 1), got " + momentum);
        }
        if (nesterov && momentum == 0) {
            throw new IllegalArgumentException("Nesterov momentum needs momentum > 0");
        }
        this.momentum = (float) momentum;
        this.nesterov = nesterov;
    }

    @Override
    protected void update(Parameter p, ParamGroup group, float lr) {
        if (momentum == 0f) {
            backend.sgdStep(p.value(), p.grad(), null, lr, 0f, false, (float) group.weightDecay(), true);
            return;
        }
        ParamState.Momentum s = (ParamState.Momentum) state(p);
        boolean first = s == null || s.buf == null;
        if (s == null) {
            s = new ParamState.Momentum(null);
            setState(p, s);
        }
        if (s.buf == null) {
            s.buf = backend.zeros(p.dims());
        } else if (!s.buf.shape().equals(p.value().shape())) {
            throw new IllegalStateException("momentum buffer of " + p.name() + " has shape " + s.buf.shape()
                    + " but the parameter has " + p.value().shape());
        }
        backend.sgdStep(p.value(), p.grad(), s.buf, lr, momentum, nesterov, (float) group.weightDecay(), first);
    }

    public float momentum() {
        return momentum;
    }
}
