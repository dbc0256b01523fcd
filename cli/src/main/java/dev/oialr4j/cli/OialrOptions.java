package dev.oialr4j.cli;

import dev.oialr4j.oialr.OialrConfig;
import dev.oialr4j.oialr.StatePolicy;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Option;

/** OIALR's settings on the command line, with the reference defaults. */
public final class OialrOptions {

    @Option(names = "--delay", defaultValue = "1000",
            description = "Optimizer steps of dense training before conversion (default ${DEFAULT-VALUE}).")
    long delay;

    @Option(names = "--update-every", defaultValue = "100",
            description = "Steps between update rounds (default ${DEFAULT-VALUE}).")
    long updateEvery;

    @Option(names = "--cutoff", defaultValue = "0.1",
            description = "Keep singular values >= cutoff * largest (default ${DEFAULT-VALUE}).")
    double cutoff;

    @Option(names = "--max-cut", defaultValue = "0.5",
            description = "Largest share of a layer's rank cut in one round (default ${DEFAULT-VALUE}).")
    double maxCut;

    @Option(names = "--min-rank", defaultValue = "0.01",
            description = "Rank floor as a share of min(m, n), at least 1 (default ${DEFAULT-VALUE}).")
    double minRank;

    @Option(names = "--rollout", defaultValue = "0.1",
            description = "Share of low-rank layers added to each round, output side first (default ${DEFAULT-VALUE}).")
    double rollout;

    @Option(names = "--state-policy", defaultValue = "rotate",
            description = "Σ's optimizer state in a round: slice, rotate or reset (default ${DEFAULT-VALUE}).")
    String statePolicy;

    @Option(names = "--keep-first", description = "Keep the first layer dense.")
    boolean keepFirst;

    @Option(names = "--include", split = ",", description = "Layer names to convert even if the default rule would not.")
    List<String> include = List.of();

    @Option(names = "--exclude", split = ",", description = "Layer names never to convert.")
    List<String> exclude = List.of();

    OialrConfig toConfig() {
        StatePolicy policy;
        try {
            policy = StatePolicy.valueOf(statePolicy.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException("unknown --state-policy '" + statePolicy + "' (expected slice, rotate or reset)");
        }
        try {
            return OialrConfig.builder().delay(delay).updateEvery(updateEvery).cutoffFraction(cutoff)
                    .maxCutFraction(maxCut).minRankFraction(minRank).rolloutFraction(rollout).statePolicy(policy)
                    .keepFirstDense(keepFirst).include(include.toArray(String[]::new))
                    .exclude(exclude.toArray(String[]::new)).build();
        } catch (IllegalArgumentException e) {
            throw new Main.UsageException("invalid OIALR setting: " + e.getMessage());
        }
    }
}
