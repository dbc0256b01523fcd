package dev.oialr4j.analysis;

/** A run directory cannot be analysed (missing, no snapshots, too few for the lag); one sentence. */
public final class AnalysisException extends RuntimeException {

    public AnalysisException(String message) {
        super(message);
    }
}
