package dev.oialr4j.optim;

import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.backend.Backend;
import java.util.Collection;

/** Global gradient-norm clipping over the parameters that hold a fresh gradient. */
public final class GradClip {

    private GradClip() {
    }

    /** Scales all gradients so their joint L2 norm is at most {@code maxNorm}; returns the norm before. */
    public static double clipGlobalNorm(Backend backend, Collection<Parameter> params, double maxNorm) {
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException("max norm must be > 0, got " + maxNorm);
        }
        double sq = 0;
        for (Parameter p : params) {
            if (p.requiresGrad() && p.hasGrad()) {
                sq += backend.sumSquares(p.grad());
            }
        }
        double norm = Math.sqrt(sq);
        if (norm > maxNorm) {
            float s = (float) (maxNorm / (norm + 1e-6));
            for (Parameter p : params) {
                if (p.requiresGrad() && p.hasGrad()) {
                    backend.scale(p.grad(), s, p.grad());
                }
            }
        }
        return norm;
    }
}
