package dev.oialr4j.lowrank;

import dev.oialr4j.autograd.Parameter;
import dev.oialr4j.backend.Backend;
import dev.oialr4j.nn.Module;

/**
 * A layer whose weight, viewed as a matrix W (outFeatures × inFeatures), is held as U Σ Vᵀ: U
 * (outFeatures × r) and V (inFeatures × r) frozen with orthonormal columns, Σ (r × r) trainable. For a
 * Linear the view is the weight itself; for a convolution it is (out, in · kh · kw). OIALR's update rounds
 * only use this view, so they treat every kind of layer the same.
 */
public interface LowRankLayer {

    /** U, outFeatures × r, frozen. */
    Parameter u();

    /** Σ, r × r, trainable. */
    Parameter sigma();

    /** V, inFeatures × r, frozen. */
    Parameter v();

    /** The layer's bias (the dense layer's own object), or null. */
    Parameter bias();

    int rank();

    /** Rows of the weight's matrix view. */
    int outFeatures();

    /** Columns of the weight's matrix view. */
    int inFeatures();

    /** The dense layer with W = U Σ Vᵀ, sharing the bias object. */
    Module toDense(Backend backend);

    /** W = U Σ Vᵀ (outFeatures × inFeatures, row-major), computed in double from the current factors. */
    static float[] product(Backend backend, LowRankLayer layer) {
        float[] uh = backend.toHost(layer.u().value());
        float[] sh = backend.toHost(layer.sigma().value());
        float[] vh = backend.toHost(layer.v().value());
        int r = layer.rank();
        int m = layer.outFeatures();
        int n = layer.inFeatures();
        double[] us = new double[m * r];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < r; j++) {
                double s = 0;
                for (int p = 0; p < r; p++) {
                    s += (double) uh[i * r + p] * sh[p * r + j];
                }
                us[i * r + j] = s;
            }
        }
        float[] w = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < r; p++) {
                    s += us[i * r + p] * vh[j * r + p];
                }
                w[i * n + j] = (float) s;
            }
        }
        return w;
    }
}
