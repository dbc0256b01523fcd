package dev.oialr4j.analysis;

import dev.oialr4j.io.FormatException;
import dev.oialr4j.io.Json;
import dev.oialr4j.oialr.StabilityMetrics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Basis stability and mixing similarity (OIALR.md §2) of every weight of a run, between its weight
 * snapshots {@code lag} epochs apart: the value at epoch e compares the snapshot of epoch e − lag with
 * that of epoch e. The numbers come from {@link StabilityMetrics} (the same definitions the trainer can
 * log live), so the heat maps and the live log agree.
 *
 * <pre>{@code
 * RunAnalysis.Result r = RunAnalysis.analyze(Path.of("runs/train-1"), 1);
 * r.layers();          // input side first
 * r.stability()[i][j]; // layer i at epoch r.epochs().get(j); NaN where the layer is missing or changed shape
 * }</pre>
 */
public final class RunAnalysis {

    private static final Pattern SNAPSHOT = Pattern.compile("epoch-(\\d+)\\.safetensors");

    private RunAnalysis() {
    }

    /**
     * The analysis of one run. {@code stability} and {@code similarity} are [layer][column]; the mean rows
     * average the layers that have a value in that column.
     */
    public record Result(int lag, List<Integer> epochs, List<String> layers, double[][] stability,
            double[][] similarity, double[] meanStability, double[] meanSimilarity) {

        /** The numbers as one JSON-ready map (NaN becomes null when written). */
        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("lag_epochs", lag);
            m.put("similarity_definition", "1 - ||R_prev - R_cur||_F / (||R_prev||_F + ||R_cur||_F)");
            m.put("epochs", epochs);
            m.put("layers", layers);
            Map<String, Object> st = new LinkedHashMap<>();
            Map<String, Object> si = new LinkedHashMap<>();
            for (int i = 0; i < layers.size(); i++) {
                st.put(layers.get(i), stability[i]);
                si.put(layers.get(i), similarity[i]);
            }
            m.put("basis_stability", st);
            m.put("mixing_similarity", si);
            m.put("basis_stability_mean", meanStability);
            m.put("mixing_similarity_mean", meanSimilarity);
            return m;
        }
    }

    /** The run's snapshot files by epoch; one sentence when the folder or the snapshots are missing. */
    public static TreeMap<Integer, Path> snapshotFiles(Path runDir) {
        if (!Files.isDirectory(runDir)) {
            throw new AnalysisException("run directory " + runDir + " does not exist");
        }
        Path dir = runDir.resolve("snapshots");
        TreeMap<Integer, Path> out = new TreeMap<>();
        if (Files.isDirectory(dir)) {
            try (Stream<Path> files = Files.list(dir)) {
                files.forEach(p -> {
                    Matcher m = SNAPSHOT.matcher(p.getFileName().toString());
                    if (m.matches()) {
                        out.put(Integer.parseInt(m.group(1)), p);
                    }
                });
            } catch (IOException e) {
                throw new UncheckedIOException("cannot list " + dir + ": " + e.getMessage(), e);
            }
        }
        if (out.isEmpty()) {
            throw new AnalysisException(runDir + " has no weight snapshots (expected snapshots/epoch-NNN.safetensors;"
                    + " train with --snapshots)");
        }
        return out;
    }

    /** Analyses the snapshots of {@code runDir} at {@code lag} epochs. */
    public static Result analyze(Path runDir, int lag) {
        if (lag < 1) {
            throw new AnalysisException("the lag must be at least 1 epoch, got " + lag);
        }
        TreeMap<Integer, Path> files = snapshotFiles(runDir);
        List<Integer> columns = new ArrayList<>();
        for (int e : files.keySet()) {
            if (files.containsKey(e - lag)) {
                columns.add(e);
            }
        }
        if (columns.isEmpty()) {
            throw new AnalysisException(runDir + " has " + files.size() + " snapshot" + (files.size() == 1 ? "" : "s")
                    + " (epochs " + files.keySet() + "), but a lag of " + lag + " needs at least " + (lag + 1)
                    + " snapshots with two of them " + lag + " epoch" + (lag == 1 ? "" : "s") + " apart");
        }
        List<String> layers = new ArrayList<>();
        Map<String, Map<Integer, Double>> stab = new LinkedHashMap<>();
        Map<String, Map<Integer, Double>> sim = new LinkedHashMap<>();
        // Keep only the snapshots a later column still needs: at most lag + 1 epochs of B and R.
        Map<Integer, Map<String, StabilityMetrics.Snapshot>> window = new HashMap<>();
        for (var f : files.entrySet()) {
            int epoch = f.getKey();
            boolean needed = files.containsKey(epoch - lag) || files.containsKey(epoch + lag);
            if (!needed) {
                continue;
            }
            Map<String, StabilityMetrics.Snapshot> now = new LinkedHashMap<>();
            for (WeightSnapshot.Layer l : WeightSnapshot.read(epoch, f.getValue()).layers()) {
                now.put(l.name(), l.metrics());
                if (!layers.contains(l.name())) {
                    layers.add(l.name());
                }
            }
            window.put(epoch, now);
            Map<String, StabilityMetrics.Snapshot> then = window.get(epoch - lag);
            if (then != null) {
                for (var e : now.entrySet()) {
                    StabilityMetrics.Snapshot prev = then.get(e.getKey());
                    StabilityMetrics.Snapshot cur = e.getValue();
                    if (prev == null || prev.m() != cur.m() || prev.n() != cur.n()) {
                        continue;
                    }
                    stab.computeIfAbsent(e.getKey(), k -> new HashMap<>()).put(epoch,
                            StabilityMetrics.stability(prev.basis(), cur.basis(), cur.m(), cur.n()));
                    sim.computeIfAbsent(e.getKey(), k -> new HashMap<>()).put(epoch,
                            StabilityMetrics.similarity(prev.r(), cur.r()));
                }
            }
            window.keySet().removeIf(k -> k <= epoch - lag);
        }
        double[][] st = table(layers, columns, stab);
        double[][] si = table(layers, columns, sim);
        return new Result(lag, List.copyOf(columns), List.copyOf(layers), st, si, mean(st, columns.size()),
                mean(si, columns.size()));
    }

    private static double[][] table(List<String> layers, List<Integer> columns, Map<String, Map<Integer, Double>> v) {
        double[][] t = new double[layers.size()][columns.size()];
        for (int i = 0; i < layers.size(); i++) {
            Map<Integer, Double> row = v.getOrDefault(layers.get(i), Map.of());
            for (int j = 0; j < columns.size(); j++) {
                t[i][j] = row.getOrDefault(columns.get(j), Double.NaN);
            }
        }
        return t;
    }

    private static double[] mean(double[][] t, int cols) {
        double[] m = new double[cols];
        for (int j = 0; j < cols; j++) {
            double s = 0;
            int n = 0;
            for (double[] row : t) {
                if (!Double.isNaN(row[j])) {
                    s += row[j];
                    n++;
                }
            }
            m[j] = n == 0 ? Double.NaN : s / n;
        }
        return m;
    }

    // ---- metrics.jsonl --------------------------------------------------------------------------

    /** One epoch's line of metrics.jsonl, the fields the charts use. */
    public record EpochRecord(int epoch, double testAccuracy, double trainablePercent, Map<String, Integer> ranks) {
    }

    /**
     * The epoch lines of {@code runDir/metrics.jsonl}, in file order. A dense run has no trainable % field;
     * it counts as 100 %. Ranks are empty until OIALR converts.
     */
    public static List<EpochRecord> epochRecords(Path runDir) {
        Path file = runDir.resolve("metrics.jsonl");
        if (!Files.isRegularFile(file)) {
            throw new AnalysisException(runDir + " has no metrics.jsonl");
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        List<EpochRecord> out = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).isBlank()) {
                continue;
            }
            Map<String, Object> rec;
            try {
                rec = Json.parseObject(lines.get(i));
            } catch (IllegalArgumentException e) {
                throw new FormatException(file + " line " + (i + 1) + " is not valid JSON: " + e.getMessage(), e);
            }
            if (!"epoch".equals(rec.get("type"))) {
                continue;
            }
            Map<String, Integer> ranks = new LinkedHashMap<>();
            if (rec.get("ranks") instanceof Map<?, ?> m) {
                m.forEach((k, v) -> ranks.put((String) k, ((Number) v).intValue()));
            }
            out.add(new EpochRecord(((Number) rec.get("epoch")).intValue(), number(rec.get("test_accuracy")),
                    rec.get("trainable_pct") instanceof Number n ? n.doubleValue() : 100.0, ranks));
        }
        return out;
    }

    private static double number(Object o) {
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }
}
