package dev.oialr4j.oialr;

import dev.oialr4j.tensor.Tensor;
import java.util.List;

/**
 * The linear algebra of an OIALR update round done where the layers' tensors live, for backends whose
 * memory is not the host's (a GPU). A {@link dev.oialr4j.backend.Backend} that also implements
 * {@link Provider} gets its rounds run through this interface by {@link Oialr#updateRound}; every other
 * backend keeps the host path (double-precision masters, double SVD), unchanged.
 *
 * <p>Per round: {@link #orthogonalityError} of the bases every few rounds (a host QR repairs a basis that
 * drifted), then one {@link #decompose} of the Σ of all rolled-out layers, which brings back their singular
 * values for the rank rule, then per layer {@link Decomposed#truncate} and the optimizer-state policy
 * ({@link Decomposed#rotateMoment}, {@link Decomposed#sliceMoment}). The result is the same algebra as the
 * host path, Σ = P diag(σ) Qᵀ, U ← U P[:, :r'], V ← V Q[:, :r'], Σ ← diag(σ[:r']), M ← (Pᵀ M Q)[:r', :r'],
 * in the precision of the device (see the implementation's documentation).
 */
public interface DeviceSigmaRound extends AutoCloseable {

    /** Implemented by a backend that runs update rounds on its own memory. */
    interface Provider {
        /** A round engine bound to this backend; closed by the caller after the round. */
        DeviceSigmaRound openSigmaRound();
    }

    /** One layer's factors as tensors of the backend: U (m × r), Σ (r × r), V (n × r). */
    record Factors(Tensor u, Tensor sigma, Tensor v) {
    }

    /** The decomposed Σ of every layer passed to {@link #decompose}, by position. */
    interface Decomposed {
        /** σ of layer i, descending. */
        double[] singularValues(int layer);

        /** New tensors U P[:, :r'], diag(σ[:r']), V Q[:, :r'] (the inputs are left unchanged). */
        Factors truncate(int layer, int newRank);

        /** {@code (Pᵀ M Q)[:r', :r']} of an r × r moment of layer i's Σ, as a new tensor. */
        Tensor rotateMoment(int layer, Tensor moment, int newRank);
    }

    /** Decomposes the Σ of every layer; throws if an SVD fails. */
    Decomposed decompose(List<Factors> layers);

    /** {@code M[:r', :r']} of an r × r tensor, as a new tensor. */
    Tensor sliceMoment(Tensor moment, int newRank);

    /** max |AᵀA − I| of an m × r basis, computed on the device; only r × r values come to the host. */
    double orthogonalityError(Tensor basis);

    @Override
    void close();
}
