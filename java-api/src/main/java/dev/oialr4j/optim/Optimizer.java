package dev.oialr4j.optim;

import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.backend.Backend;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Base of the optimizers: parameter groups, a base learning rate that schedules set, and per-parameter
 * state keyed by Parameter identity. Only parameters that require a gradient and received one since
 * the last {@link #zeroGrad()} are updated; frozen parameters are never touched.
 */
public abstract class Optimizer {

    protected final Backend backend;
    private final List<ParamGroup> groups;
    private final Map<Parameter, ParamState> state = new IdentityHashMap<>();
    private double lr;

    protected Optimizer(Backend backend, List<ParamGroup> groups, double lr) {
        if (!(lr >= 0)) {
            throw new IllegalArgumentException("learning rate must be >= 0, got " + lr);
        }
        this.backend = backend;
        this.groups = List.copyOf(groups);
        this.lr = lr;
        Map<Parameter, Boolean> seen = new IdentityHashMap<>();
        for (ParamGroup g : groups) {
            for (Parameter p : g.parameters()) {
                if (seen.put(p, Boolean.TRUE) != null) {
                    throw new IllegalArgumentException("parameter " + p.name() + " appears in two groups");
                }
            }
        }
    }

    /** Applies one update to every parameter with a fresh gradient. */
    public final void step() {
        for (ParamGroup g : groups) {
            float groupLr = (float) (lr * g.lrScale());
            for (Parameter p : g.parameters()) {
                if (p.requiresGrad() && p.hasGrad()) {
                    update(p, g, groupLr);
                }
            }
        }
    }

    protected abstract void update(Parameter p, ParamGroup group, float lr);

    /** Marks every gradient stale (buffers are kept and overwritten by the next backward). */
    public void zeroGrad() {
        for (ParamGroup g : groups) {
            for (Parameter p : g.parameters()) {
                p.zeroGrad();
            }
        }
    }

    /** Every optimised parameter, group by group. */
    public List<Parameter> parameters() {
        List<Parameter> all = new java.util.ArrayList<>();
        for (ParamGroup g : groups) {
            all.addAll(g.parameters());
        }
        return all;
    }

    public double lr() {
        return lr;
    }

    public void setLr(double lr) {
        this.lr = lr;
    }

    public List<ParamGroup> groups() {
        return groups;
    }

    /** The state of {@code p}, or null before its first update. */
    public ParamState state(Parameter p) {
        return state.get(p);
    }

    public void setState(Parameter p, ParamState s) {
        if (s == null) {
            state.remove(p);
        } else {
            state.put(p, s);
        }
    }

    protected Map<Parameter, ParamState> stateMap() {
        return state;
    }

    public Map<Parameter, ParamState> allState() {
        return Collections.unmodifiableMap(state);
    }

    /** The group holding {@code p}, or null. */
    public ParamGroup groupOf(Parameter p) {
        for (ParamGroup g : groups) {
            for (Parameter q : g.parameters()) {
                if (q == p) {
                    return g;
                }
            }
        }
        return null;
    }

    /**
     * Puts {@code replacement} in {@code old}'s slot (same group, same position) and drops old's state.
     * Returns the group.
     */
    public ParamGroup replaceParameter(Parameter old, Parameter replacement) {
        for (ParamGroup g : groups) {
            List<Parameter> ps = g.parameters();
            for (int i = 0; i < ps.size(); i++) {
                if (ps.get(i) == old) {
                    ps.set(i, replacement);
                    state.remove(old);
                    return g;
                }
            }
        }
        throw new IllegalArgumentException("parameter " + old.name() + " is not optimised by this optimizer");
    }
}
