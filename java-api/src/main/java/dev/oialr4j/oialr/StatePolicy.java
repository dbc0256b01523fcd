package dev.oialr4j.oialr;

/**
 * What happens to Σ's optimizer state when an update round rotates Σ into Σ' = Pᵀ Σ Q and cuts its rank.
 */
public enum StatePolicy {
    /** Keep the moments in the old coordinates and slice them to the new rank (what the reference does). */
    SLICE,
    /**
     * Rotate the first moment (Adam's m, SGD's momentum buffer) like Σ, m' = Pᵀ m Q, then slice; the
     * second moment is a per-coordinate magnitude that does not rotate linearly, so it is sliced.
     */
    ROTATE,
    /** Zero the moments and restart Adam's step counter with them. */
    RESET
}
