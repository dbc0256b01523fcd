package dev.oialr4j.cli;

import dev.oialr4j.oialr.OialrConfig;
import dev.oialr4j.train.TrainResult;
import dev.oialr4j.io.RunDirectory;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code oialr4j compare}: trains the same model dense and with OIALR, same seed, same data order, and
 * prints one side-by-side table.
 */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = "Train dense and OIALR with the same seed and data order and compare them.")
public final class CompareCommand implements Callable<Integer> {

    @Mixin
    RunOptions options;

    @Mixin
    OialrOptions oialrOptions;

    @picocli.CommandLine.Option(names = "--snapshots",
            description = "Keep per-epoch weight snapshots of both runs (RUN/dense/snapshots, RUN/oialr/snapshots)"
                    + " for 'oialr4j analyze'.")
    boolean snapshots;

    @Override
    public Integer call() {
        options.validate();
        OialrConfig config = oialrOptions.toConfig();
        TrainingRun.Data data = TrainingRun.Data.load(options);
        Path dir = options.out != null ? options.out : TrainingRun.defaultDir("compare");
        TrainingRun.checkSelection(TrainingRun.buildModel(options, data), config);
        CheckpointOptions keep = CheckpointOptions.none();
        keep.snapshots = snapshots;
        TrainingRun.Outcome dense = TrainingRun.run("dense", options, null, data, dir.resolve("dense"), System.out, keep);
        TrainingRun.Outcome low = TrainingRun.run("oialr", options, config, data, dir.resolve("oialr"), System.out, keep);
        Comparison c = Comparison.of(dense, low, config.delay());
        System.out.println();
        System.out.print(c.table());
        RunDirectory.writeJson(dir.resolve("comparison.json"), c.toMap());
        System.out.println("results in " + dir);
        return 0;
    }

    /** The numbers of the side-by-side table. */
    record Comparison(double denseFinal, double denseBest, double oialrFinal, double oialrBest, double trainablePct,
            double storedPct, double denseRunMedianMs, double densePhaseMedianMs, double lowRankPhaseMedianMs,
            double roundSeconds, double conversionSeconds, double oialrSeconds, double denseSeconds, int rounds,
            String ranks) {

        static Comparison of(TrainingRun.Outcome dense, TrainingRun.Outcome low, long delay) {
            TrainResult d = dense.result();
            TrainResult l = low.result();
            int n = l.stepNanos().size();
            int split = (int) Math.min(delay, n);
            return new Comparison(d.last().testAccuracy(), d.bestAccuracy(), l.last().testAccuracy(),
                    l.bestAccuracy(), low.oialr().trainablePercent(low.model()), low.oialr().storedPercent(low.model()),
                    d.medianStepMillis(0, d.stepNanos().size()), l.medianStepMillis(0, split),
                    l.medianStepMillis(split, n), low.oialr().roundSeconds(), low.oialr().conversionSeconds(),
                    l.seconds(), d.seconds(), low.oialr().rounds(), low.oialr().ranks().toString());
        }

        String table() {
            StringBuilder sb = new StringBuilder();
            sb.append(String.format("%-38s %12s %12s%n", "", "dense", "OIALR"));
            sb.append(String.format("%-38s %11.2f%% %11.2f%%%n", "final test accuracy", 100 * denseFinal, 100 * oialrFinal));
            sb.append(String.format("%-38s %11.2f%% %11.2f%%%n", "best test accuracy", 100 * denseBest, 100 * oialrBest));
            sb.append(String.format("%-38s %11.2f%% %11.2f%%%n", "trainable parameters", 100.0, trainablePct));
            sb.append(String.format("%-38s %11.2f%% %11.2f%%%n", "stored parameters", 100.0, storedPct));
            sb.append(String.format("%-38s %10.2fms %10.2fms%n", "median step, dense phase", denseRunMedianMs,
                    densePhaseMedianMs));
            sb.append(String.format("%-38s %12s %12s%n", "median step, low-rank phase", "-",
                    orNa(lowRankPhaseMedianMs, "%.2fms")));
            sb.append(String.format("%-38s %12s %12s%n", "low-rank / dense phase (same run)", "-",
                    orNa(lowRankPhaseMedianMs / densePhaseMedianMs, "%.3f")));
            sb.append(String.format("%-38s %12s %12s%n", "low-rank phase / dense run", "-",
                    orNa(lowRankPhaseMedianMs / denseRunMedianMs, "%.3f")));
            sb.append(String.format("%-38s %12s %9.2f s (%d)%n", "update rounds (count)", "-", roundSeconds, rounds));
            sb.append(String.format("%-38s %12s %11.2f%%%n", "update rounds / total training time", "-",
                    100 * roundSeconds / oialrSeconds));
            sb.append(String.format("%-38s %12s %10.2f s%n", "conversion", "-", conversionSeconds));
            sb.append(String.format("%-38s %10.1f s %10.1f s%n", "total time", denseSeconds, oialrSeconds));
            sb.append(String.format("final ranks: %s%n", ranks));
            sb.append(String.format("machine: %d CPU threads, Java %s, %s %s%n", Runtime.getRuntime().availableProcessors(),
                    Runtime.version(), System.getProperty("os.name"), System.getProperty("os.arch")));
            return sb.toString();
        }

        /** "n/a" when the run never reached the low-rank phase (e.g. --delay beyond the last step). */
        private static String orNa(double v, String format) {
            return Double.isFinite(v) ? String.format(format, v) : "n/a";
        }

        Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("dense_final_accuracy", denseFinal);
            m.put("dense_best_accuracy", denseBest);
            m.put("oialr_final_accuracy", oialrFinal);
            m.put("oialr_best_accuracy", oialrBest);
            m.put("trainable_pct", trainablePct);
            m.put("stored_pct", storedPct);
            m.put("dense_run_median_step_ms", denseRunMedianMs);
            m.put("dense_phase_median_step_ms", densePhaseMedianMs);
            m.put("low_rank_phase_median_step_ms", lowRankPhaseMedianMs);
            m.put("low_rank_over_dense_phase", lowRankPhaseMedianMs / densePhaseMedianMs);
            m.put("update_round_seconds", roundSeconds);
            m.put("update_round_share", roundSeconds / oialrSeconds);
            m.put("conversion_seconds", conversionSeconds);
            m.put("rounds", rounds);
            m.put("oialr_seconds", oialrSeconds);
            m.put("dense_seconds", denseSeconds);
            m.put("final_ranks", ranks);
            return m;
        }
    }
}
