package dev.oialr4j.cli;

import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * Options for what a run keeps on disk besides its logs: per-epoch weight snapshots (for
 * {@code oialr4j analyze}) and a checkpoint after each epoch (for {@code train --resume}).
 */
public final class CheckpointOptions {

    @Option(names = "--snapshots",
            description = "Keep every parameter after each epoch (and before the first) in RUN/snapshots/"
                    + "epoch-NNN.safetensors, for 'oialr4j analyze'.")
    boolean snapshots;

    @Option(names = "--checkpoint-every-epoch",
            description = "Save a checkpoint to RUN/checkpoint after each epoch, so 'train --resume RUN' can continue"
                    + " the run exactly.")
    boolean checkpointEveryEpoch;

    /** The command line that started the run, stored in config.json so a resume can rebuild the same run. */
    List<String> originalArgs = List.of();

    /** Set when continuing a run from its checkpoint. */
    Path resumeCheckpoint;

    static CheckpointOptions none() {
        return new CheckpointOptions();
    }
}
