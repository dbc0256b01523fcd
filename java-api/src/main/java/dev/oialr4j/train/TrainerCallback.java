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
}
