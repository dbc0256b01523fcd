package dev.oialr4j.autograd;

import dev.oialr4j.tensor.Tensor;

/**
 * A named, trainable leaf. Its gradient buffer is kept between steps and zeroed, so steady-state
 * training does not allocate gradients. Identity matters: optimizers key their state on the Parameter
 * object, and OIALR keeps a layer's bias the same object across conversion.
 */
public final class Parameter extends Variable {

    private final String name;
    private boolean gradValid;

    public Parameter(String name, Tensor value) {
        super(value, true);
        this.name = name;
    }

    public String name() {
        return name;
    }

    /** True when backward has written a gradient since the last {@link #zeroGrad()}. */
    public boolean hasGrad() {
        return gradValid && grad() != null;
    }

    void markGrad() {
        gradValid = true;
    }

    @Override
    public void zeroGrad() {
        gradValid = false;
    }

    @Override
    public void setValue(Tensor value) {
        super.setValue(value);
        gradValid = false;
    }

    @Override
    public void setRequiresGrad(boolean requiresGrad) {
        super.setRequiresGrad(requiresGrad);
        if (!requiresGrad) {
            gradValid = false;
        }
    }

    @Override
    public String toString() {
        return "Parameter " + name + value().shape() + (requiresGrad() ? "" : " (frozen)");
    }
}
