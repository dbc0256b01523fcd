package dev.oialr4j.optim;

import dev.oialr4j.autograd.Parameter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Parameters that share optimizer settings. The list is mutable so that OIALR can hand a converted layer's
 * Σ the slot its dense weight had (same group, same learning rate and weight decay).
 */
public final class ParamGroup {

    private final String name;
    private final List<Parameter> parameters;
    private double weightDecay;
    private double lrScale;

    public ParamGroup(String name, Collection<Parameter> parameters, double weightDecay, double lrScale) {
        if (weightDecay < 0 || lrScale < 0) {
            throw new IllegalArgumentException("weight decay and lr scale must be >= 0");
        }
        this.name = name;
        this.parameters = new ArrayList<>(parameters);
        this.weightDecay = weightDecay;
        this.lrScale = lrScale;
    }

    /**
     * The usual split: weight decay on matrices and kernels (rank ≥ 2), none on biases and norm gains.
     */
    public static List<ParamGroup> decayMatricesOnly(Collection<Parameter> params, double weightDecay) {
        List<Parameter> decay = new ArrayList<>();
        List<Parameter> noDecay = new ArrayList<>();
        for (Parameter p : params) {
            (p.value().rank() >= 2 ? decay : noDecay).add(p);
        }
        return List.of(new ParamGroup("decay", decay, weightDecay, 1.0),
                new ParamGroup("no_decay", noDecay, 0.0, 1.0));
    }

    public String name() {
        return name;
    }

    public List<Parameter> parameters() {
        return parameters;
    }

    public double weightDecay() {
        return weightDecay;
    }

    public void setWeightDecay(double weightDecay) {
        this.weightDecay = weightDecay;
    }

    public double lrScale() {
        return lrScale;
    }

    public void setLrScale(double lrScale) {
        this.lrScale = lrScale;
    }
}
