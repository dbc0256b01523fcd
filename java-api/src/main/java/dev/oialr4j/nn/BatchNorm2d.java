package dev.oialr4j.nn;

import dev.oialr4j.autograd.Ops;
import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.autograd.Variable;
import dev.oialr4j.tensor.Tensor;
import java.util.Arrays;

/**
 * Batch normalisation over (N, H, W) per channel with a learned scale γ ({@code weight}, starts at 1) and
 * shift β ({@code bias}, starts at 0). In training mode it normalises with the batch statistics and moves
 * the running mean and variance by {@code momentum} (0.1: new = 0.9 · old + 0.1 · batch); in evaluation
 * mode it uses the running statistics. The running statistics are buffers, not parameters: no optimizer
 * sees them and they do not count as parameters.
 */
public final class BatchNorm2d extends Module {

    private final int channels;
    private final float momentum;
    private final float eps;
    private final Parameter weight;
    private final Parameter bias;
    private Tensor runningMean;
    private Tensor runningVar;

    public BatchNorm2d(int channels) {
        this(channels, 0.1f, 1e-5f);
    }

    public BatchNorm2d(int channels, float momentum, float eps) {
        if (channels < 1 || !(momentum >= 0f && momentum <= 1f) || !(eps > 0f)) {
            throw new IllegalArgumentException("BatchNorm2d needs channels >= 1, momentum in [0, 1] and eps > 0, got "
                    + channels + ", " + momentum + ", " + eps);
        }
        this.channels = channels;
        this.momentum = momentum;
        this.eps = eps;
        float[] ones = new float[channels];
        Arrays.fill(ones, 1f);
        this.weight = registerParameter("weight", Tensor.of(ones.clone(), channels));
        this.bias = registerParameter("bias", Tensor.zeros(channels));
        this.runningMean = Tensor.zeros(channels);
        this.runningVar = Tensor.of(ones, channels);
    }

    @Override
    public Variable forward(Ops ops, Variable x) {
        if (x.value().rank() != 4 || x.dims()[1] != channels) {
            throw new IllegalArgumentException("BatchNorm2d(" + channels + "): input " + x.value().shape()
                    + " is not [N, " + channels + ", H, W]");
        }
        // The running statistics are buffers, not parameters, so Module.to leaves them on the host; they
        // follow the parameters to the backend the first time the layer runs there.
        var backend = ops.backend();
        if (!runningMean.device().equals(backend.device()) && runningMean.isHost()) {
            runningMean = backend.fromHost(runningMean.data(), channels);
            runningVar = backend.fromHost(runningVar.data(), channels);
        }
        return ops.conv().batchNorm2d(x, weight, bias, runningMean, runningVar, isTraining(), momentum, eps);
    }

    public Parameter weight() {
        return weight;
    }

    public Parameter bias() {
        return bias;
    }

    /** The running mean (a live buffer, updated in place in training mode). */
    public Tensor runningMean() {
        return runningMean;
    }

    /** The running variance (a live buffer, updated in place in training mode). */
    public Tensor runningVar() {
        return runningVar;
    }

    /**
     * Replaces the running statistics (restoring a checkpoint). Both are [channels]; they may live on the
     * host or on the backend's device (host ones move on the next forward).
     */
    public void setRunningStats(Tensor mean, Tensor var) {
        mean.requireShape("running mean of " + this, channels);
        var.requireShape("running variance of " + this, channels);
        this.runningMean = mean;
        this.runningVar = var;
    }

    public int channels() {
        return channels;
    }

    @Override
    public String toString() {
        return "BatchNorm2d(" + channels + ")";
    }
}
