package dev.oialr4j.optim;

import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.backend.Backend;
import java.util.List;

/** Adam with decoupled weight decay (Loshchilov and Hutter). */
public final class AdamW extends Optimizer {

    private final float beta1;
    private final float beta2;
    private final float eps;

    public AdamW(Backend backend, List<ParamGroup> groups, double lr, double beta1, double beta2, double eps) {
        super(backend, groups, lr);
        if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0)) {
            throw new IllegalArgumentException("AdamW needs 0 <= beta < 1 and eps > 0");
        }
        this.beta1 = (float) beta1;
        this.beta2 = (float) beta2;
        this.eps = (float) eps;
    }

    /** beta1 = 0.9, beta2 = 0.999, eps = 1e-8. */
    public AdamW(Backend backend, List<ParamGroup> groups, double lr) {
        this(backend, groups, lr, 0.9, 0.999, 1e-8);
    }

    @Override
    protected void update(Parameter p, ParamGroup group, float lr) {
        ParamState.Adam s = (ParamState.Adam) state(p);
        if (s == null || !s.m.shape().equals(p.value().shape())) {
            if (s != null) {
                throw new IllegalStateException("AdamW state of " + p.name() + " has shape " + s.m.shape()
                        + " but the parameter has " + p.value().shape());
            }
            s = new ParamState.Adam(backend.zeros(p.dims()), backend.zeros(p.dims()), 0);
            setState(p, s);
        }
        s.step++;
        backend.adamwStep(p.value(), p.grad(), s.m, s.v, lr, beta1, beta2, eps, (float) group.weightDecay(), s.step);
    }

    public float beta1() {
        return beta1;
    }

    public float beta2() {
        return beta2;
    }
}
