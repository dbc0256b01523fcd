package dev.oialr4j.train;

import java.util.Map;

/**
 * Hooks into the training loop. OIALR is one: it converts layers and runs update rounds from
 * {@link #afterOptimizerStep}, i.e. after the optimizer has applied the step's update.
 */
public interface TrainerCallback {

    /** Before the forward pass of global step {@code step} (1-based). */
    default void beforeStep(Trainer trainer, long step) {
    }

    /** After the optimizer update of global step {@code step} (1-based). */
    default void afterOptimizerStep(Trainer trainer, long step) {
    }

    /**
     * After an epoch's evaluation; {@code record} is the epoch's metrics line, to which callbacks may add
     * their own fields before it is written.
     */
    default void afterEpoch(Trainer trainer, int epoch, Map<String, Object> record) {
    }

    /**
     * The name of this callback's section in checkpoints, or null (the default) when it keeps no state
     * that a resumed run needs.
     */
    default String checkpointSection() {
        return null;
    }

    /** Writes this callback's state (only called when {@link #checkpointSection()} is not null). */
    default void saveState(Trainer trainer, dev.oialr4j.io.Checkpoint.Section out) {
    }

    /**
     * Restores this callback's state into a freshly built trainer, before the model's parameters and the
     * optimizer state are loaded: a callback that changes the model's structure (OIALR's conversion) must
     * rebuild it here so that every saved parameter finds its place.
     */
    default void restoreState(Trainer trainer, dev.oialr4j.io.Checkpoint.Section in) {
    }
}
