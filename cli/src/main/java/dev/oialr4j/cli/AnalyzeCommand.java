package dev.oialr4j.cli;

import dev.oialr4j.analysis.AnalysisException;
import dev.oialr4j.analysis.RunAnalysis;
import dev.oialr4j.io.RunDirectory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code oialr4j analyze RUN_DIR}: basis stability and mixing similarity of every layer between weight
 * snapshots {@code --lag} epochs apart, drawn as the paper's Figure 1 heat maps, plus the run's accuracy,
 * trainable-% and rank curves; the numbers also go to analysis.json.
 */
@Command(name = "analyze", mixinStandardHelpOptions = true,
        description = "Draw basis-stability and mixing-similarity heat maps and the accuracy, trainable-%% and rank"
                + " curves of a run trained with --snapshots.")
public final class AnalyzeCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "RUN_DIR", description = "A run directory written by train or compare.")
    Path runDir;

    @Option(names = "--lag", defaultValue = "1",
            description = "Compare snapshots this many epochs apart (default ${DEFAULT-VALUE}).")
    int lag;

    @Option(names = "--out", paramLabel = "DIR", description = "Where the pictures go (default RUN_DIR/analysis).")
    Path out;

    @Override
    public Integer call() {
        // Charts are drawn off screen; a machine without a display must not need one.
        System.setProperty("java.awt.headless", "true");
        if (lag < 1) {
            throw new Main.UsageException("--lag must be at least 1, got " + lag);
        }
        RunAnalysis.Result r;
        try {
            r = RunAnalysis.analyze(runDir, lag);
        } catch (AnalysisException e) {
            throw new Main.UsageException(e.getMessage());
        }
        Path dir = out != null ? out : runDir.resolve("analysis");
        AnalysisCharts.savePng(AnalysisCharts.heatMap("Basis stability (lag " + lag + ")", r, r.stability(),
                r.meanStability()), dir.resolve("stability.png"));
        AnalysisCharts.savePng(AnalysisCharts.heatMap("Mixing similarity (lag " + lag + ")", r, r.similarity(),
                r.meanSimilarity()), dir.resolve("mixing_similarity.png"));
        List<String> written = new java.util.ArrayList<>(List.of("stability.png", "mixing_similarity.png"));
        if (Files.isRegularFile(runDir.resolve("metrics.jsonl"))) {
            List<RunAnalysis.EpochRecord> records = RunAnalysis.epochRecords(runDir);
            if (!records.isEmpty()) {
                for (var e : AnalysisCharts.runCurves(records).entrySet()) {
                    AnalysisCharts.savePng(e.getValue(), dir.resolve(e.getKey() + ".png"));
                    written.add(e.getKey() + ".png");
                }
            }
        }
        RunDirectory.writeJson(dir.resolve("analysis.json"), r.toMap());
        written.add("analysis.json");

        System.out.printf("%d layers, epochs %s, lag %d%n", r.layers().size(), r.epochs(), lag);
        System.out.printf("%-6s %10s %10s%n", "epoch", "stability", "similarity");
        for (int j = 0; j < r.epochs().size(); j++) {
            System.out.printf("%-6d %10s %10s%n", r.epochs().get(j), AnalysisCharts.format(r.meanStability()[j]),
                    AnalysisCharts.format(r.meanSimilarity()[j]));
        }
        System.out.println("(means over layers; similarity = 1 - ||R_prev - R_cur||_F / (||R_prev||_F + ||R_cur||_F))");
        System.out.println("wrote " + String.join(", ", written) + " to " + dir);
        return 0;
    }
}
